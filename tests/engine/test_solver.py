"""Optimizer groups, schedule, warm-up, accumulation and EMA as the official solver defines them."""
from __future__ import annotations

import math

import numpy as np
import pytest

from goldyolo import build_model
from goldyolo.engine.solver import (
    ModelEMA,
    accumulation,
    apply_warmup,
    build_optimizer,
    cosine_factor,
    parameter_groups,
    warmup_steps,
)


def test_parameter_groups_follow_build_optimizer():
    model = build_model("gold_yolo-m")
    bn_w, weights, biases = (g["params"] for g in parameter_groups(model))
    named = {id(v): k for k, v in model.state_dict().items()}
    assert all(named[id(p)].endswith(".bn.weight") or "rbr_identity" in named[id(p)] for p in bn_w)
    assert all(named[id(p)].endswith("weight") for p in weights)
    assert all(named[id(p)].endswith("bias") for p in biases)
    in_groups = {named[id(p)] for p in bn_w + weights + biases}
    assert not any(k.endswith("alpha") or k.startswith("detect.proj") for k in in_groups)
    trainable = {k for k, v in model.state_dict().items() if not v.is_stop_grad()
                 and not k.endswith(("running_mean", "running_var", "alpha"))}
    assert in_groups == trainable


def test_schedule_and_warmup():
    assert cosine_factor(0, 30, 0.01) == 1.0 and cosine_factor(30, 30, 0.01) == pytest.approx(0.01)
    assert cosine_factor(15, 30, 0.01) == pytest.approx(0.505)
    assert warmup_steps(3.0, 50) == 1000 and warmup_steps(3.0, 500) == 1500
    assert [accumulation(s, 1000, 16) for s in (0, 500, 1000, 1001)] == [1, 2, 4, 4]
    hyp = {"lr0": 0.01, "momentum": 0.937, "warmup_bias_lr": 0.1, "warmup_momentum": 0.8, "weight_decay": 5e-4}
    optimizer = build_optimizer(build_model("gold_yolo-n"), hyp, 5e-4)
    apply_warmup(optimizer, 0, 1000, 1.0, hyp)
    assert [g["lr"] for g in optimizer.param_groups] == [0.0, 0.0, 0.1]
    apply_warmup(optimizer, 500, 1000, 1.0, hyp)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.005, 0.005, 0.055])
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.8685)
    assert [g.get("weight_decay", 0.0) for g in optimizer.param_groups] == [0.0, 5e-4, 0.0]


def test_ema_follows_the_official_decay():
    model, copy = build_model("gold_yolo-n"), build_model("gold_yolo-n")
    ema = ModelEMA(model, copy)
    key = "detect.cls_preds.0.bias"
    before = ema.ema.state_dict()[key].numpy().copy()
    model.state_dict()[key].update(model.state_dict()[key] + 1.0)
    ema.update(model)
    d = 0.9999 * (1 - math.exp(-1 / 2000))
    np.testing.assert_allclose(ema.ema.state_dict()[key].numpy(), before * d + (before + 1.0) * (1 - d), rtol=1e-6)
