"""Label assignment: Task-Aligned (TAL, top-13, alpha 1, beta 6) and ATSS (top-9), in numpy.

Assignment takes no gradient, so it runs in numpy in float64, which is what the official code
ends up computing in (its padded targets are float64, Q14). Network outputs come in as float32.
Shapes follow the official ``assigners`` package:

* ``gt_labels`` (B, n, 1), ``gt_bboxes`` (B, n, 4) xyxy pixels, ``mask_gt`` (B, n, 1), padded
  rows have label -1, a zero box and mask 0;
* results: ``target_labels`` (B, A), ``target_bboxes`` (B, A, 4), ``target_scores`` (B, A, C),
  ``fg_mask`` (B, A) bool.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

Assignment = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def iou_matrix(gt: np.ndarray, boxes: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """IoU of every gt with every box (``iou_calculator``): (B, n, 4) x (B, A, 4) -> (B, n, A)."""
    g, b = gt[:, :, None, :], boxes[:, None, :, :]
    overlap = np.clip(np.minimum(g[..., 2:], b[..., 2:]) - np.maximum(g[..., :2], b[..., :2]), 0, None).prod(-1)
    area_g = np.clip(g[..., 2:] - g[..., :2], 0, None).prod(-1)
    area_b = np.clip(b[..., 2:] - b[..., :2], 0, None).prod(-1)
    return overlap / (area_g + area_b - overlap + eps)


def anchor_iou_matrix(gt: np.ndarray, anchors: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """IoU of gts (m, 4) with anchor boxes (A, 4) as mmdet's ``bbox_overlaps`` computes it."""
    area_g = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    lt = np.maximum(gt[:, None, :2], anchors[None, :, :2])
    rb = np.minimum(gt[:, None, 2:], anchors[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    overlap = wh[..., 0] * wh[..., 1]
    union = np.maximum(area_g[:, None] + area_a[None, :] - overlap, eps)
    return overlap / union


def centers_inside(points: np.ndarray, gt: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """(B, n, A) 1.0 where the anchor point lies strictly inside the gt box (min delta > eps)."""
    lt = points[None, None, :, :] - gt[:, :, None, :2]
    rb = gt[:, :, None, 2:] - points[None, None, :, :]
    return (np.concatenate([lt, rb], axis=-1).min(-1) > eps).astype(np.float64)


def topk_mask(values: np.ndarray, k: int, valid: np.ndarray, largest: bool = True) -> np.ndarray:
    """(.., n, A) 1.0 at each row's top-k entries (ties: lower index first); rows with ``valid`` False are 0."""
    order = np.argsort(-values if largest else values, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(values.shape, dtype=np.float64)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    return mask * valid


def resolve_multiple_gts(mask_pos: np.ndarray, overlaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An anchor claimed by several gts keeps the one of highest overlap (first on ties).

    Returns ``target_gt_idx`` (B, A), ``fg_mask`` (B, A) and the updated ``mask_pos`` (B, n, A).
    """
    fg = mask_pos.sum(-2)
    if fg.max(initial=0) > 1:
        n = mask_pos.shape[1]
        best = np.eye(n)[overlaps.argmax(1)].transpose(0, 2, 1)
        mask_pos = np.where((fg > 1)[:, None, :], best, mask_pos)
        fg = mask_pos.sum(-2)
    return mask_pos.argmax(-2), fg, mask_pos


def _gather_targets(gt_labels, gt_bboxes, gt_idx):
    b = np.arange(gt_labels.shape[0])[:, None]
    return gt_labels[b, gt_idx, 0], gt_bboxes[b, gt_idx]


def _background(batch: int, anchors: int, num_classes: int) -> Assignment:
    return (np.full((batch, anchors), num_classes, dtype=np.int64), np.zeros((batch, anchors, 4)),
            np.zeros((batch, anchors, num_classes)), np.zeros((batch, anchors), dtype=bool))


class TaskAlignedAssigner:
    """TAL: metric = score^alpha * IoU^beta; top-k anchors per gt whose centre lies inside it."""

    def __init__(self, topk: int = 13, num_classes: int = 80, alpha: float = 1.0, beta: float = 6.0,
                 eps: float = 1e-9):
        self.topk, self.num_classes, self.alpha, self.beta, self.eps = topk, num_classes, alpha, beta, eps

    def __call__(self, pd_scores: np.ndarray, pd_bboxes: np.ndarray, anchor_points: np.ndarray,
                 gt_labels: np.ndarray, gt_bboxes: np.ndarray, mask_gt: np.ndarray) -> Assignment:
        """Args: pd_scores (B, A, C) probabilities; pd_bboxes (B, A, 4) xyxy pixels; anchor_points (A, 2)."""
        batch, n_anchors, _ = pd_scores.shape
        if gt_bboxes.shape[1] == 0:
            return _background(batch, n_anchors, self.num_classes)
        labels = gt_labels[..., 0].astype(np.int64)
        scores = np.take_along_axis(pd_scores.transpose(0, 2, 1), labels[:, :, None], axis=1)  # -1 wraps, as in torch
        overlaps = iou_matrix(gt_bboxes, pd_bboxes.astype(np.float64))
        align = scores.astype(np.float64) ** self.alpha * overlaps ** self.beta
        inside = centers_inside(anchor_points.astype(np.float64), gt_bboxes)
        mask_pos = topk_mask(align * inside, self.topk, mask_gt > 0) * inside * mask_gt
        gt_idx, fg, mask_pos = resolve_multiple_gts(mask_pos, overlaps)
        target_labels, target_bboxes = _gather_targets(gt_labels, gt_bboxes, gt_idx)
        target_labels = np.where(target_labels < 0, 0, target_labels).astype(np.int64)
        target_scores = np.eye(self.num_classes)[target_labels] * (fg > 0)[..., None]
        align = align * mask_pos
        best_align = align.max(-1, keepdims=True)
        best_iou = (overlaps * mask_pos).max(-1, keepdims=True)
        norm = (align * best_iou / (best_align + self.eps)).max(-2)
        return target_labels, target_bboxes, target_scores * norm[..., None], fg > 0


class ATSSAssigner:
    """ATSS: per level the k anchors nearest each gt centre; positives have IoU > mean + std."""

    def __init__(self, topk: int = 9, num_classes: int = 80):
        self.topk, self.num_classes = topk, num_classes

    def __call__(self, anchor_boxes: np.ndarray, n_per_level: List[int], gt_labels: np.ndarray,
                 gt_bboxes: np.ndarray, mask_gt: np.ndarray, pd_bboxes: np.ndarray | None) -> Assignment:
        """Args: anchor_boxes (A, 4) xyxy pixels; pd_bboxes (B, A, 4) xyxy pixels for the soft targets."""
        batch, n_max = gt_bboxes.shape[:2]
        n_anchors = anchor_boxes.shape[0]
        if n_max == 0:
            return _background(batch, n_anchors, self.num_classes)
        anchors = anchor_boxes.astype(np.float64)
        flat_gt = gt_bboxes.reshape(-1, 4)
        overlaps = anchor_iou_matrix(flat_gt, anchors).reshape(batch, n_max, n_anchors)
        gt_centres = (flat_gt[:, :2] + flat_gt[:, 2:]) / 2.0
        points = (anchors[:, :2] + anchors[:, 2:]) / 2.0
        distances = np.sqrt(((gt_centres[:, None, :] - points[None, :, :]) ** 2).sum(-1)).reshape(batch, n_max, -1)

        candidates, candidate_idx, start = [], [], 0
        for count in n_per_level:
            level = distances[..., start:start + count]
            k = min(self.topk, count)
            candidate_idx.append(np.argsort(level, axis=-1, kind="stable")[..., :k] + start)
            candidates.append(topk_mask(level, k, mask_gt > 0, largest=False))
            start += count
        is_candidate = np.concatenate(candidates, axis=-1)
        candidate_idx = np.concatenate(candidate_idx, axis=-1)
        candidate_iou = np.where(is_candidate > 0, overlaps, 0.0)
        picked = np.take_along_axis(candidate_iou, candidate_idx, axis=-1)
        threshold = picked.mean(-1, keepdims=True) + picked.std(-1, ddof=1, keepdims=True)
        is_pos = np.where(candidate_iou > threshold, is_candidate, 0.0)
        mask_pos = is_pos * centers_inside(points, gt_bboxes) * mask_gt
        gt_idx, fg, mask_pos = resolve_multiple_gts(mask_pos, overlaps)
        target_labels, target_bboxes = _gather_targets(gt_labels, gt_bboxes, gt_idx)
        target_labels = np.where(fg > 0, target_labels, self.num_classes).astype(np.int64)
        target_scores = np.eye(self.num_classes + 1)[target_labels][..., :self.num_classes]
        if pd_bboxes is not None:
            ious = (iou_matrix(gt_bboxes, pd_bboxes.astype(np.float64)) * mask_pos).max(-2)
            target_scores = target_scores * ious[..., None]
        return target_labels, target_bboxes, target_scores, fg > 0
