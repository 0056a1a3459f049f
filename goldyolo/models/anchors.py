"""Anchor points of the anchor-free head (``generate_anchors`` of YOLOv6, Q11), in numpy."""
from __future__ import annotations

from typing import List, Sequence, Tuple

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



def anchors_train(sizes: Sequence[Tuple[int, int]], strides: Sequence[int], cell_size: float = 5.0,
                  offset: float = 0.5, per_point: int = 1) -> Tuple[np.ndarray, np.ndarray, List[int], np.ndarray]:
    """Pixel anchors for the loss and the assigners; ``per_point`` 3 is the official mode ``'ab'`` (each
    level's list of points repeated three times, one copy per anchor size, as the fuse-ab head orders them).

    Returns:
        anchor_boxes: (A, 4) xyxy boxes of side ``cell_size * stride`` around each point (ATSS).
        points: (A, 2) pixel anchor points ``(i + offset) * stride``.
        num_per_level: anchors per level.
        stride_per_anchor: (A, 1).
    """
    boxes, points, counts, stride_list = [], [], [], []
    for (h, w), stride in zip(sizes, strides):
        half = cell_size * stride * 0.5
        ys, xs = np.meshgrid((np.arange(h, dtype=np.float32) + offset) * stride,
                             (np.arange(w, dtype=np.float32) + offset) * stride, indexing="ij")
        point = np.tile(np.stack([xs, ys], axis=-1).reshape(-1, 2), (per_point, 1))
        boxes.append(np.concatenate([point - half, point + half], axis=-1))
        points.append(point)
        counts.append(per_point * h * w)
        stride_list.append(np.full((per_point * h * w, 1), stride, dtype=np.float32))
    return (np.concatenate(boxes).astype(np.float32), np.concatenate(points), counts,
            np.concatenate(stride_list))
