"""The one training step (``goldyolo.engine.step``) and the criterion interface (``goldyolo.engine.criterion``)."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo.bench.measure import train_step_fn
from goldyolo.engine.criterion import Criterion, Outputs
from goldyolo.engine.loss import ComputeLoss, ComputeLossAB, fuse_ab_loss
from goldyolo.engine.loss_items import DISTILL_ITEMS, LOSS_ITEMS
from goldyolo.engine.step import TrainStep
from goldyolo.engine.trainer import Trainer
from goldyolo.models import build_model
from goldyolo.models.checkpoint import load_state_dict_strict, state_dict_numpy
from goldyolo.runtime import jt

from conftest import tiny_train_config


def test_the_benchmark_times_the_trainers_step(tmp_path):
    # the bench's defaults: lr0 scaled by batch / 32, the config's warm-up over one step per epoch
    trainer = Trainer(tiny_train_config(tmp_path, bs_per_gpu=32, solver={}))
    assert isinstance(trainer.step, TrainStep) and trainer.warmup_total == 3
    bench_model = build_model("gold_yolo-n")
    load_state_dict_strict(bench_model, state_dict_numpy(trainer.model))
    trainer.begin_epoch(0)
    images, targets, _ = next(iter(trainer.dataset))
    bench_step = train_step_fn(bench_model, jt.array(images), targets=targets)
    for step in range(2):  # warm-up lr, SGD step and EMA update at each
        jt.set_seed(step)
        expected = trainer.train_step(images, targets, 0, step)
        jt.set_seed(step)
        np.testing.assert_array_equal(bench_step().numpy(), expected)
    assert trainer.last_opt_step == 1
    for key, value in state_dict_numpy(trainer.model).items():
        np.testing.assert_array_equal(state_dict_numpy(bench_model)[key], value, err_msg=key)


def _outputs_and_targets(fuse_ab: bool = False):
    jt.set_seed(0)
    model = build_model("gold_yolo-n", 80, fuse_ab=fuse_ab)
    model.train()
    outputs = model(jt.rand(2, 3, 64, 64))
    targets = np.array([[0, 0, 0.5, 0.5, 0.4, 0.4], [1, 3, 0.3, 0.6, 0.2, 0.5]], dtype=np.float32)
    return model, outputs, targets


def test_one_call_for_plain_and_anchor_aided_training_with_named_items():
    model, outputs, targets = _outputs_and_targets()
    plain = Criterion.for_training(model.config, 80, 64)
    assert plain.item_names == LOSS_ITEMS == ("iou_loss", "dfl_loss", "cls_loss") and not plain.needs_features
    loss, items = plain(Outputs(outputs), targets, 0, 0)
    reference, reference_items = ComputeLoss.for_model(model.config, 80, 64)(outputs, targets, 0, 0)
    assert float(loss) == float(reference) and np.array_equal(items.numpy(), reference_items.numpy())
    named = plain.named(items.numpy())
    assert list(named) == ["iou_loss", "dfl_loss", "cls_loss", "loss"]
    assert named["loss"] == pytest.approx(float(items.numpy().sum()))
    with pytest.raises(ValueError, match="2 values"):
        plain.named([1.0, 2.0])

    model, outputs, targets = _outputs_and_targets(fuse_ab=True)
    anchor_aided = Criterion.for_training(model.config, 80, 64, fuse_ab=True)
    loss, items = anchor_aided(Outputs(outputs), targets, 0, 0)
    reference, _ = fuse_ab_loss(ComputeLoss.for_model(model.config, 80, 64),
                                ComputeLossAB.for_model(model.config, 80, 64), outputs, targets, 0, 0)
    assert anchor_aided.item_names == LOSS_ITEMS and float(loss) == float(reference)


def test_distillation_names_its_fourth_item_and_needs_the_teacher():
    model, outputs, targets = _outputs_and_targets()
    distill = Criterion.for_training(model.config, 80, 64, distill=True, epochs=10)
    assert distill.item_names == DISTILL_ITEMS and distill.item_names[-1] == "cwd_loss" and distill.needs_features
    with pytest.raises(ValueError, match="teacher"):
        distill(Outputs(outputs), targets, 0, 0)
    with pytest.raises(ValueError, match="unknown criterion"):
        Criterion("focal", ComputeLoss.for_model(model.config, 80, 64))
