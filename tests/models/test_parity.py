"""Numerical parity with the official PyTorch model (``parity_{n,s}.npz``), README tolerances."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo import fuse, set_drop_path
from goldyolo.runtime import jt

from conftest import model_with_reference_weights

BOX_TOL, SCORE_TOL = 1e-2, 2e-5
TRAIN_CLS_TOL, TRAIN_REG_TOL = 1e-4, 2e-3


def assert_eval_close(out: np.ndarray, ref: np.ndarray) -> None:
    assert out.shape == ref.shape
    assert np.abs(out[..., :4] - ref[..., :4]).max() <= BOX_TOL
    assert np.abs(out[..., 4:] - ref[..., 4:]).max() <= SCORE_TOL


@pytest.fixture(params=["n", "s"])
def case(request, reference_weights, parity):
    """A fresh model per test: a training forward updates BN running statistics."""
    size = request.param
    return size, parity(size), model_with_reference_weights(reference_weights, size)


def test_eval_output_layout_and_values(case):
    size, ref, model = case
    model.eval()
    out = model(jt.array(ref["input"])).numpy()
    assert out.shape == (2, 2100, 85)
    assert np.all(out[..., 4] == 1.0)
    assert_eval_close(out, ref["eval_out"])


def test_train_outputs_and_bn_updates(case):
    size, ref, model = case
    model.train()
    set_drop_path(model, False)
    feats, cls, reg = model(jt.array(ref["input"]))
    assert cls.shape == ref["train_cls"].shape and reg.shape == ref["train_reg"].shape
    assert np.abs(cls.numpy() - ref["train_cls"]).max() <= TRAIN_CLS_TOL
    assert np.abs(reg.numpy() - ref["train_reg"]).max() <= TRAIN_REG_TOL
    for i, feat in enumerate(feats):
        expected = ref[f"feat{i}"]
        assert feat.shape == expected.shape
        assert np.abs(feat.numpy() - expected).max() <= 1e-3 * np.abs(expected).max()
    state = model.state_dict()
    bn_keys = [k for k in ref if k.startswith("post_train_bn__") and not k.endswith("num_batches_tracked")]
    assert bn_keys  # the reference holds BN statistics after the training forward
    for key in bn_keys:
        name = key[len("post_train_bn__"):]
        np.testing.assert_allclose(state[name].numpy(), ref[key], rtol=1e-5, atol=1e-6, err_msg=name)


def test_deploy_output(case):
    size, ref, model = case
    fused = fuse(model)
    assert any(".rbr_reparam." in k for k in fused.state_dict())
    assert_eval_close(fused(jt.array(ref["input"])).numpy(), ref["deploy_out"])


def test_n_intermediates(reference_weights, parity):
    ref = parity("n")
    model = model_with_reference_weights(reference_weights, "n").eval()
    backbone = model.backbone(jt.array(ref["input"]))
    for i, out in enumerate(backbone):
        expected = ref[f"eval_backbone{i}"]
        assert np.abs(out.numpy() - expected).max() <= 1e-5 * np.abs(expected).max() + 1e-5
    neck = model.neck(backbone)
    for i, out in enumerate(neck):
        expected = ref[f"eval_neck{i}"]
        assert np.abs(out.numpy() - expected).max() <= 1e-5 * np.abs(expected).max() + 1e-5
    # The training branch of the head with BN in eval mode equals the eval head before decoding.
    model.detect.is_train = True  # the Detect module only; its BNs stay in eval mode
    _, cls, reg = model.detect(list(neck))
    assert np.abs(cls.numpy() - ref["trainbneval_cls"]).max() <= SCORE_TOL
    assert np.abs(reg.numpy() - ref["trainbneval_reg"]).max() <= 1e-4
