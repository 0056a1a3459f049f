"""PyTorch-exact adaptive average pooling and bilinear resizing (Q5)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from goldyolo.models.resample import adaptive_avg_pool2d, resize_bilinear
from goldyolo.runtime import jt


def pool_reference(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Direct loop over PyTorch's variable windows."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, out_h, out_w), dtype=np.float64)
    for i in range(out_h):
        y0, y1 = (i * h) // out_h, math.ceil((i + 1) * h / out_h)
        for j in range(out_w):
            x0, x1 = (j * w) // out_w, math.ceil((j + 1) * w / out_w)
            out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
    return out


def bilinear_reference(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Direct loop of PyTorch's align_corners=False rule (source clamped at 0)."""
    n, c, h, w = x.shape

    def taps(o, size_in, size_out):
        src = max((o + 0.5) * size_in / size_out - 0.5, 0.0)
        lo = min(int(src), size_in - 1)
        return lo, min(lo + 1, size_in - 1), src - lo

    out = np.zeros((n, c, out_h, out_w), dtype=np.float64)
    for i in range(out_h):
        y0, y1, fy = taps(i, h, out_h)
        for j in range(out_w):
            x0, x1, fx = taps(j, w, out_w)
            out[:, :, i, j] = ((1 - fy) * ((1 - fx) * x[:, :, y0, x0] + fx * x[:, :, y0, x1])
                               + fy * ((1 - fx) * x[:, :, y1, x0] + fx * x[:, :, y1, x1]))
    return out


@pytest.mark.parametrize("size_in,size_out", [((13, 13), (7, 7)), ((20, 12), (10, 6)), ((9, 5), (4, 3)),
                                               ((6, 8), (6, 8)), ((5, 7), (1, 1))])
def test_adaptive_pool_matches_variable_windows(size_in, size_out):
    x = np.random.default_rng(0).normal(size=(2, 3) + size_in).astype(np.float32)
    got = adaptive_avg_pool2d(jt.array(x), size_out).numpy()
    np.testing.assert_allclose(got, pool_reference(x, *size_out), rtol=1e-5, atol=1e-6)


def test_adaptive_pool_differs_from_fixed_kernel_pooling():
    # 13 -> 7: PyTorch windows overlap ([0,2), [1,4), ...); a fixed kernel 1 / stride 1 would not.
    x = np.arange(13, dtype=np.float32).reshape(1, 1, 1, 13)
    got = adaptive_avg_pool2d(jt.array(x), (1, 7)).numpy().ravel()
    np.testing.assert_allclose(got, [0.5, 2.0, 4.0, 6.0, 8.0, 10.0, 11.5])


@pytest.mark.parametrize("size_in,size_out", [((5, 5), (10, 10)), ((3, 7), (8, 13)), ((10, 7), (20, 14)),
                                               ((4, 4), (4, 9))])
def test_bilinear_matches_align_corners_false(size_in, size_out):
    x = np.random.default_rng(1).normal(size=(2, 3) + size_in).astype(np.float32)
    got = resize_bilinear(jt.array(x), size_out).numpy()
    np.testing.assert_allclose(got, bilinear_reference(x, *size_out), rtol=1e-5, atol=1e-6)


@pytest.mark.needs_torch
def test_against_torch_when_available():
    import torch
    x = np.random.default_rng(2).normal(size=(1, 4, 13, 11)).astype(np.float32)
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), (7, 6)).numpy()
    np.testing.assert_allclose(adaptive_avg_pool2d(jt.array(x), (7, 6)).numpy(), pooled, rtol=1e-5, atol=1e-6)
    up = torch.nn.functional.interpolate(torch.from_numpy(x), size=(26, 17), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resize_bilinear(jt.array(x), (26, 17)).numpy(), up.numpy(), rtol=1e-5, atol=1e-6)
