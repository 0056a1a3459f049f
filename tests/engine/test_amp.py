"""Mixed precision (Q17): loss scaling with PyTorch's GradScaler rules, autocast dtypes, and the trainer's use
of both."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo.engine.amp import GradScaler, autocast, autocast_input, float32_grads, grads_are_finite, to_float32
from goldyolo.models.common import Conv
from goldyolo.runtime import jt


def _sgd_problem(lr: float = 0.1):
    """A parameter, its optimizer and a loss whose gradient is x (no weight decay, no momentum)."""
    weight = jt.array(np.array([1.0, -2.0, 3.0], np.float32))
    x = jt.array(np.array([0.5, 0.25, -1.0], np.float32))
    return weight, jt.optim.SGD([weight], lr), lambda: (weight * x).sum()


def test_scaled_step_equals_the_plain_step():
    plain_w, plain_opt, plain_loss = _sgd_problem()
    plain_opt.step(plain_loss())
    weight, optimizer, loss = _sgd_problem()
    scaler = GradScaler(init_scale=1024.0)
    optimizer.backward(scaler.scale(loss()))
    np.testing.assert_allclose(optimizer.param_groups[0]["grads"][0].numpy(), 1024 * np.array([0.5, 0.25, -1.0]))
    assert scaler.step(optimizer)
    scaler.update()
    np.testing.assert_allclose(weight.numpy(), plain_w.numpy(), rtol=0, atol=1e-7)
    assert scaler.scale_value == 1024.0 and scaler.growth_tracker == 1


def test_disabled_scaler_is_a_pass_through():
    weight, optimizer, loss = _sgd_problem()
    scaler = GradScaler(enabled=False)
    value = loss()
    assert scaler.scale(value) is value
    optimizer.backward(value)
    assert scaler.step(optimizer)
    scaler.update()
    np.testing.assert_allclose(weight.numpy(), [0.95, -2.025, 3.1], atol=1e-7)
    assert scaler.scale_value == 2.0 ** 16 and scaler.growth_tracker == 0


def test_overflow_skips_the_step_backs_off_and_drops_the_bad_gradient():
    weight, optimizer, loss = _sgd_problem()
    scaler = GradScaler(init_scale=1e38)  # the scaled gradient 1e38 * 1e3 * x overflows float32
    optimizer.backward(scaler.scale(loss() * 1e3))
    assert not scaler.step(optimizer)
    scaler.update()
    np.testing.assert_array_equal(weight.numpy(), [1.0, -2.0, 3.0])
    assert scaler.scale_value == 5e37 and scaler.skipped_steps == 1 and scaler.growth_tracker == 0
    scaler.scale_value = 1.0
    optimizer.backward(scaler.scale(loss()))  # must not add to the skipped (inf) gradient
    assert scaler.step(optimizer)
    np.testing.assert_allclose(weight.numpy(), [0.95, -2.025, 3.1], atol=1e-7)


def test_scale_grows_after_the_growth_interval_and_state_round_trips():
    weight, optimizer, loss = _sgd_problem(lr=0.0)
    scaler = GradScaler(init_scale=8.0, growth_interval=3)
    scales = []
    for _ in range(7):
        optimizer.backward(scaler.scale(loss()))
        scaler.step(optimizer)
        scaler.update()
        scales.append(scaler.scale_value)
    assert scales == [8.0, 8.0, 16.0, 16.0, 16.0, 32.0, 32.0]
    restored = GradScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == {"scale": 32.0, "growth_tracker": 1, "skipped_steps": 0}
    with pytest.raises(ValueError):
        GradScaler(backoff_factor=1.5)


def test_finite_check_sees_nan_and_inf():
    assert grads_are_finite([jt.ones(3), jt.zeros((2, 2))])
    assert not grads_are_finite([jt.ones(3), jt.array(np.array([1.0, np.nan], np.float32))])
    assert not grads_are_finite([jt.array(np.array([np.inf], np.float32))])


def test_autocast_runs_the_layers_in_float16_and_keeps_float32_parameters():
    jt.set_global_seed(0)
    block = Conv(3, 8, 3, 1)
    block.train()
    x = jt.array(np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32))
    reference = block(x)
    reference_grad = jt.grad(reference.sqr().sum(), block.conv.weight).numpy()
    with autocast(True):
        half = block(autocast_input(x, True))
    assert half.dtype == "float16" and block.conv.weight.dtype == "float32"
    assert block.bn.running_mean.dtype == "float32"
    out = to_float32((half, [half]))
    assert out[0].dtype == "float32" and out[1][0].dtype == "float32"
    np.testing.assert_allclose(out[0].numpy(), reference.numpy(), atol=2e-2)
    optimizer = jt.optim.SGD(block.parameters(), 0.0)
    optimizer.backward(out[0].sqr().sum())
    grad = float32_grads(optimizer)[0]  # the conv weight's, computed in float16 by Jittor
    assert grad.dtype == "float32"
    assert np.abs(grad.numpy() - reference_grad).max() <= 2e-2 * np.abs(reference_grad).max()
    optimizer.backward(out[0].sqr().sum())  # accumulates in float32
    assert float32_grads(optimizer)[0].dtype == "float32"
    with autocast(False):
        assert block(autocast_input(x, False)).dtype == "float32"


def test_half_precision_inference_follows_float32():
    from goldyolo import build_model, fuse
    from goldyolo.bench.measure import measure
    jt.set_global_seed(0)
    model = fuse(build_model("gold_yolo-n")).eval()
    x = jt.array(np.random.default_rng(1).random((1, 3, 64, 96), dtype=np.float32))
    with jt.no_grad():
        full = model(x).numpy()
        model.float16()
        half = model(x.float16()).numpy()
    assert half.shape == full.shape and np.isfinite(half).all()
    assert np.abs(half[..., 4:] - full[..., 4:]).max() <= 5e-3  # scores
    assert np.abs(half[..., :4] - full[..., :4]).max() <= 0.5  # boxes, px
    result = measure("gold_yolo-n", 64, 1, "deploy", warmup=1, runs=2, fp16=True)
    assert result["precision"] == "float16" and result["kernels_loaded_timed"] == 0
    assert result["stats_ms"]["median"] > 0
