"""Post-processing: the official ``non_max_suppression`` and the mapping back to image coordinates."""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

MAX_WH = 4096     # class offset for batched per-class NMS
MAX_NMS = 30000   # candidates kept before NMS
MAX_DET = 300     # detections kept per image (the official evaluator's cap)


def offset_nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float, max_keep: Optional[int] = None,
               offset: float = MAX_WH) -> np.ndarray:
    """:func:`nms` of boxes shifted by ``class x offset`` (the official batched NMS), run class by class.

    Boxes of different classes never overlap after the shift, so the greedy result is the union of the
    per-class results in score order: the same indices, at a fraction of the cost for many classes. Falls
    back to :func:`nms` when a box is too large for its class to be read back from its position.
    """
    group = np.floor((boxes[:, 0] + offset / 2) / offset)
    if not (np.isfinite(boxes).all() and (np.floor((boxes[:, 2] + offset / 2) / offset) == group).all()
            and (np.abs(boxes[:, [0, 2]] - group[:, None] * offset) < offset / 2).all()):
        return nms(boxes, scores, iou_thres, max_keep)
    kept = []
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        kept.append(members[nms(boxes[members], scores[members], iou_thres, max_keep)])
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    kept = kept[np.lexsort((kept, -scores[kept]))]  # by score, ties in index order, as the stable global sort
    return kept[:max_keep] if max_keep is not None else kept


def xywh2xyxy(boxes: np.ndarray) -> np.ndarray:
    out = np.empty_like(boxes)
    out[:, :2] = boxes[:, :2] - boxes[:, 2:] / 2
    out[:, 2:] = boxes[:, :2] + boxes[:, 2:] / 2
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float, max_keep: Optional[int] = None) -> np.ndarray:
    """Greedy NMS (``torchvision.ops.nms``): indices kept, by decreasing score.

    With ``max_keep`` it stops after that many: the greedy order makes the result the first
    ``max_keep`` of the full one, without the rest of the loop (one pass per kept box).
    """
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for zero-area boxes: NaN, never suppresses
            iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > iou_thres)]  # torchvision suppresses only when IoU > threshold
    return np.array(keep, dtype=np.int64)


def non_max_suppression(prediction: np.ndarray, conf_thres: float = 0.25, iou_thres: float = 0.45,
                        multi_label: bool = False, max_det: int = MAX_DET, agnostic: bool = False) -> List[np.ndarray]:
    """Official NMS on (B, A, 5 + C) model output; returns per image (n, 6) [x1, y1, x2, y2, conf, cls].

    Candidates need objectness and best class score above ``conf_thres``; scores are obj * cls;
    ``multi_label`` keeps every class above the threshold; per-class NMS via a class offset.
    """
    out = []
    for x in prediction:
        x = x[(x[:, 4] > conf_thres) & (x[:, 5:].max(1) > conf_thres)]
        if not len(x):
            out.append(np.zeros((0, 6), np.float32))
            continue
        scores = x[:, 5:] * x[:, 4:5]
        box = xywh2xyxy(x[:, :4])
        if multi_label:
            i, j = np.nonzero(scores > conf_thres)
            det = np.concatenate([box[i], scores[i, j, None], j[:, None].astype(np.float32)], 1)
        else:
            j = scores.argmax(1)
            conf = scores[np.arange(len(j)), j]
            det = np.concatenate([box, conf[:, None], j[:, None].astype(np.float32)], 1)[conf > conf_thres]
        if not len(det):
            out.append(np.zeros((0, 6), np.float32))
            continue
        if len(det) > MAX_NMS:
            det = det[np.argsort(-det[:, 4], kind="stable")[:MAX_NMS]]
        offset = det[:, 5:6] * (0 if agnostic else MAX_WH)
        keep = nms(det[:, :4] + offset, det[:, 4], iou_thres, max_keep=max_det)
        out.append(det[keep].astype(np.float32))
    return out


def scale_to_original(boxes: np.ndarray, ratio: Sequence[float], pad: Sequence[float],
                      shape: Sequence[int], exact: bool = False) -> np.ndarray:
    """xyxy boxes on the letterboxed input -> original image pixels (official ``scale_coords``).

    ``ratio`` is (gain y, gain x); the official default divides x by the y gain too, ``exact``
    (its ``scale_exact``) by the x gain."""
    boxes = boxes.copy()
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad[0]) / ratio[1 if exact else 0]
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad[1]) / ratio[0]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, shape[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, shape[0])
    return boxes
