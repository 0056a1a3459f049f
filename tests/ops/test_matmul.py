"""Batched matrix products through oneDNN (``goldyolo.ops.matmul``): the attention blocks' q.k and attn.v."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo.models import build_model
from goldyolo.models.transformer import Attention
from goldyolo.ops import matmul as mm
from goldyolo.ops.conv import cpu_has_bf16, use_backend, use_precision
from goldyolo.runtime import jt


def _operands(seed=0, shape=((2, 4, 100, 8), (2, 4, 8, 100))):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shape]


def test_float32_products_equal_jittors_and_so_do_their_gradients():
    a, b = _operands()
    assert mm._onednn(jt.array(a), jt.array(b))
    got, expected = mm.matmul(jt.array(a), jt.array(b)).numpy(), jt.matmul(jt.array(a), jt.array(b)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, np.matmul(a, b), rtol=1e-5, atol=1e-4)
    weight = np.random.default_rng(1).standard_normal(got.shape).astype(np.float32)
    grads = {}
    for name, fn in (("onednn", mm.matmul), ("jittor", jt.matmul)):
        x, y = jt.array(a), jt.array(b)
        grads[name] = [g.numpy() for g in jt.grad((fn(x, y) * jt.array(weight)).sum(), [x, y])]
    for ours, theirs in zip(grads["onednn"], grads["jittor"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_what_stays_with_jittor():
    a, b = _operands()
    assert not mm._onednn(jt.array(a), jt.array(b[:1]))  # broadcasting leading dimensions
    assert not mm._onednn(jt.array(a).float16(), jt.array(b).float16())
    assert not mm._onednn(a, b)  # not Vars: an ONNX trace's values
    with use_backend("jittor"):
        assert not mm._onednn(jt.array(a), jt.array(b))


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 instructions (AVX-512 BF16 or AMX)")
def test_bf16_products_round_the_inputs_and_sum_in_float32():
    a, b = _operands(2)
    with use_precision("bf16"):
        got = mm.matmul(jt.array(a), jt.array(b)).numpy()
    exact = np.matmul(a.astype(np.float64), b.astype(np.float64))
    error = np.abs(got - exact).max() / np.abs(exact).max()
    assert 1e-5 < error < 1e-2  # bf16 inputs (8 bits of mantissa), not float32's 1e-7


def test_the_attention_blocks_take_it():
    calls = []
    real = mm.OneDNNMatmul.apply

    def counting(*args):
        calls.append(tuple(args[0].shape))
        return real(*args)
    mm.OneDNNMatmul.apply = counting
    try:
        model = build_model("gold_yolo-n").eval()
        with jt.no_grad():
            model(jt.rand(1, 3, 128, 128)).sync()
    finally:
        mm.OneDNNMatmul.apply = real
    attentions = sum(isinstance(m, Attention) for m in model.modules())
    assert attentions > 0 and len(calls) == 2 * attentions  # q.k and attn.v in each
