"""PyTorch-exact resizing: ``F.adaptive_avg_pool2d`` and bilinear ``F.interpolate`` (Q5).

Both are separable linear maps, so each is applied as two small matrix products,
``out = A_h @ x @ A_w^T``, with the matrices built once per size in float64 and cast to float32
(to the input's type for float16 inputs).

* Adaptive average pooling uses PyTorch's variable windows ``[floor(i*In/Out), ceil((i+1)*In/Out))``.
* Bilinear with ``align_corners=False`` samples at ``(o + 0.5) * In/Out - 0.5``, clamped at 0,
  the upper neighbour clamped to ``In - 1``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..ops.pool import window_mean
from ..runtime import jt


@lru_cache(maxsize=None)
def adaptive_pool_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) averaging matrix of 1-D adaptive average pooling."""
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = math.ceil((i + 1) * in_size / out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix.astype(np.float32)


@lru_cache(maxsize=None)
def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) interpolation matrix of 1-D linear resizing, ``align_corners=False``."""
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    scale = in_size / out_size
    for o in range(out_size):
        src = max((o + 0.5) * scale - 0.5, 0.0)
        low = min(int(math.floor(src)), in_size - 1)
        high = min(low + 1, in_size - 1)
        frac = src - low
        matrix[o, low] += 1.0 - frac
        matrix[o, high] += frac
    return matrix.astype(np.float32)


def _separable(x: jt.Var, rows: np.ndarray, cols: np.ndarray) -> jt.Var:
    """``rows @ x @ cols^T`` over the last two axes of NCHW ``x``, as two 2-D matrix products.

    Jittor runs a product with a 2-D right-hand matrix as one oneDNN matmul over the flattened rows; a 2-D
    left-hand matrix would become a broadcast multiply-and-sum on one thread, so the row map is applied
    to the transposed maps instead."""
    dtype = str(x.dtype)  # a float16 input (half inference, mixed precision) stays float16
    if cols.shape[0] != x.shape[3] or not np.array_equal(cols, np.eye(x.shape[3], dtype=np.float32)):
        x = jt.matmul(x, jt.array(cols.T.astype(dtype)).stop_grad())
    if rows.shape[0] != x.shape[2] or not np.array_equal(rows, np.eye(x.shape[2], dtype=np.float32)):
        x = jt.matmul(x.transpose((0, 1, 3, 2)), jt.array(rows.T.astype(dtype)).stop_grad()).transpose((0, 1, 3, 2))
    return x


def adaptive_avg_pool2d(x: jt.Var, size: Sequence[int]) -> jt.Var:
    """``F.adaptive_avg_pool2d(x, size)`` for NCHW ``x``."""
    out_h, out_w = int(size[0]), int(size[1])
    _, _, h, w = x.shape
    if (h, w) == (out_h, out_w):
        return x
    if h % out_h == 0 and w % out_w == 0:
        return window_mean(x, h // out_h, w // out_w)
    return _separable(x, adaptive_pool_matrix(h, out_h), adaptive_pool_matrix(w, out_w))


def resize_bilinear(x: jt.Var, size: Sequence[int]) -> jt.Var:
    """``F.interpolate(x, size, mode='bilinear', align_corners=False)`` for NCHW ``x``."""
    out_h, out_w = int(size[0]), int(size[1])
    _, _, h, w = x.shape
    if (h, w) == (out_h, out_w):
        return x
    return _separable(x, bilinear_matrix(h, out_h), bilinear_matrix(w, out_w))
