"""The parallel training-mode BN kernels against float64 formulas and against the composed Jittor path."""
from __future__ import annotations

import numpy as np

from goldyolo.models import bn_kernels
from goldyolo.models.common import BatchNorm2d
from goldyolo.runtime import jt

EPS = 1e-3


def _inputs(shape=(3, 5, 7, 6)):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, shape).astype(np.float32)
    weight = rng.normal(1.0, 0.3, shape[1]).astype(np.float32)
    bias = rng.normal(0.0, 0.3, shape[1]).astype(np.float32)
    upstream = rng.normal(0.0, 1.0, shape).astype(np.float32)
    return x, weight, bias, upstream


def _float64_reference(x, weight, bias, upstream):
    """y, mean, var, dx, dweight, dbias of training-mode BN in float64 (autograd-free formulas)."""
    x = x.astype(np.float64)
    axes, count = (0, 2, 3), x.shape[0] * x.shape[2] * x.shape[3]
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + EPS)
    w = weight.astype(np.float64)[None, :, None, None]
    y = xhat * w + bias.astype(np.float64)[None, :, None, None]
    dbias = upstream.sum(axes)
    dweight = (upstream * xhat).sum(axes)
    dx = w / np.sqrt(var + EPS) * (upstream - dbias[None, :, None, None] / count
                                   - xhat * dweight[None, :, None, None] / count)
    return y, mean.ravel(), var.ravel(), dx, dweight, dbias


def test_kernels_match_float64_formulas():
    x, weight, bias, upstream = _inputs()
    xv, wv, bv = jt.array(x), jt.array(weight), jt.array(bias)
    y, mean, var = bn_kernels.batch_norm_train(xv, wv, bv, EPS)
    dx, dw, db = jt.grad((y * jt.array(upstream)).sum(), [xv, wv, bv])
    expected = _float64_reference(x, weight, bias, upstream)
    for name, got, want in zip(("y", "mean", "var", "dx", "dweight", "dbias"), (y, mean, var, dx, dw, db), expected):
        scale = np.abs(want).max()
        assert np.abs(got.numpy() - want).max() <= 1e-6 * scale, name


def test_module_uses_the_kernels_on_cpu_and_equals_the_composed_path(monkeypatch):
    x, weight, bias, upstream = _inputs((2, 4, 9, 8))
    results = {}
    for path in ("kernels", "composed"):
        if path == "composed":
            monkeypatch.setattr("goldyolo.models.common.parallel_kernels_apply", lambda _: False)
        bn = BatchNorm2d(4, eps=EPS, momentum=0.03)
        bn.weight.update(jt.array(weight))
        bn.bias.update(jt.array(bias))
        bn.train()
        xv = jt.array(x)
        y = bn(xv)
        grads = jt.grad((y * jt.array(upstream)).sum(), [xv, bn.weight, bn.bias])
        results[path] = [y.numpy(), *(g.numpy() for g in grads), bn.running_mean.numpy(), bn.running_var.numpy()]
    assert bn_kernels.parallel_kernels_apply(jt.array(x))
    assert not bn_kernels.parallel_kernels_apply(jt.array(x).float16())
    count = 2 * 9 * 8
    _, mean, var, *_ = _float64_reference(x, weight, bias, upstream)
    np.testing.assert_allclose(results["kernels"][4], 0.03 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results["kernels"][5], 0.97 + 0.03 * var * count / (count - 1), rtol=1e-5)
    for got, want in zip(results["kernels"], results["composed"]):
        assert np.abs(got - want).max() <= 1e-5 * max(np.abs(want).max(), 1.0)
