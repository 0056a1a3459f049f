"""Anchor points of the anchor-free head (``generate_anchors`` of YOLOv6, Q11), in numpy."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def anchor_points_eval(sizes: Sequence[Tuple[int, int]], strides: Sequence[int],
                       offset: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Grid-unit anchor points for inference.

    Args:
        sizes: (h, w) of each level's feature map.
        strides: stride of each level.
    Returns:
        points: (A, 2) float32 (x + offset, y + offset), level by level, rows then columns.
        stride_per_anchor: (A, 1) float32.
    """
    points, stride_list = [], []
    for (h, w), stride in zip(sizes, strides):
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32) + offset,
                             np.arange(w, dtype=np.float32) + offset, indexing="ij")
        points.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        stride_list.append(np.full((h * w, 1), stride, dtype=np.float32))
    return np.concatenate(points), np.concatenate(stride_list)

