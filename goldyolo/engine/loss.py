"""The official YOLOv6 / Gold-YOLO training loss (``ComputeLoss``): VFL + IoU (GIoU/SIoU) + DFL.

Assignment (ATSS during ``warmup_epoch`` epochs, Task-Aligned after) runs in numpy
(:mod:`goldyolo.engine.assigners`); the loss terms run in Jittor so that gradients reach the head.
Every quirk of the official code is kept (docs/quirks.md, Q11-Q14): anchors in pixels for the
assigners and in grid units for the losses, the VFL weight not detached, BCE log terms clamped
at -100, DFL targets clipped to ``reg_max - 0.01``, and the normalisation by the sum of the soft
targets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from jittor import nn

from ..distributed import total_over_processes
from ..models.anchors import anchors_train
from ..runtime import jt
from .assigners import ATSSAssigner, TaskAlignedAssigner

DEFAULT_LOSS_WEIGHT = {"class": 1.0, "iou": 2.5, "dfl": 0.5}


@dataclass
class Assignment:
    """What the assigner decided for one batch; arrays are numpy, A = number of anchors.

    target_labels (B, A) int64 with ``num_classes`` for background; target_bboxes (B, A, 4) xyxy in
    grid units (divided by the stride); target_scores (B, A, C) soft targets; fg_mask (B, A) bool.
    """
    target_labels: np.ndarray
    target_bboxes: np.ndarray
    target_scores: np.ndarray
    fg_mask: np.ndarray

    @property
    def target_scores_sum(self) -> float:
        return float(self.target_scores.sum())

    @property
    def num_fg(self) -> int:
        return int(self.fg_mask.sum())


def targets_to_numpy(targets) -> np.ndarray:
    """(n, 6) [img_idx, cls, cx, cy, w, h] as float64 numpy, from a Var, array or list."""
    if isinstance(targets, jt.Var):
        targets = targets.numpy()
    return np.asarray(targets, dtype=np.float64).reshape(-1, 6) if len(targets) else np.zeros((0, 6))


def pad_targets(targets: np.ndarray, batch_size: int, img_size: float) -> np.ndarray:
    """``ComputeLoss.preprocess``: per-image padded (B, n_max, 5) [cls, x1, y1, x2, y2] in pixels.

    Padding rows are [-1, 0, 0, 0, 0]. Boxes are scaled by ``img_size`` and converted with the
    official in-place arithmetic (x1 = cx - w/2, then x2 = x1 + w).
    """
    per_image = [[] for _ in range(batch_size)]
    for row in targets:
        per_image[int(row[0])].append(list(row[1:]))
    n_max = max((len(rows) for rows in per_image), default=0)
    padded = np.array([rows + [[-1.0, 0.0, 0.0, 0.0, 0.0]] * (n_max - len(rows)) for rows in per_image],
                      dtype=np.float64).reshape(batch_size, n_max, 5)
    boxes = padded[..., 1:5] * img_size
    boxes[..., 0] = boxes[..., 0] - boxes[..., 2] * 0.5
    boxes[..., 1] = boxes[..., 1] - boxes[..., 3] * 0.5
    boxes[..., 2] = boxes[..., 0] + boxes[..., 2]
    boxes[..., 3] = boxes[..., 1] + boxes[..., 3]
    padded[..., 1:5] = boxes
    return padded


def iou_loss(pred: jt.Var, target: jt.Var, iou_type: str = "giou", eps: float = 1e-10) -> jt.Var:
    """``IOUloss(box_format='xyxy')``: 1 - GIoU or 1 - SIoU per row of (N, 4) boxes; returns (N, 1)."""
    b1x1, b1y1, b1x2, b1y2 = [pred[:, i:i + 1] for i in range(4)]
    b2x1, b2y1, b2x2, b2y2 = [target[:, i:i + 1] for i in range(4)]
    inter = (jt.minimum(b1x2, b2x2) - jt.maximum(b1x1, b2x1)).maximum(0.0) * \
            (jt.minimum(b1y2, b2y2) - jt.maximum(b1y1, b2y1)).maximum(0.0)
    w1, h1 = b1x2 - b1x1, b1y2 - b1y1 + eps
    w2, h2 = b2x2 - b2x1, b2y2 - b2y1 + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = jt.maximum(b1x2, b2x2) - jt.minimum(b1x1, b2x1)
    ch = jt.maximum(b1y2, b2y2) - jt.minimum(b1y1, b2y1)
    if iou_type == "giou":
        c_area = cw * ch + eps
        iou = iou - (c_area - union) / c_area
    elif iou_type == "siou":
        s_cw = (b2x1 + b2x2 - b1x1 - b1x2) * 0.5 + eps
        s_ch = (b2y1 + b2y2 - b1y1 - b1y2) * 0.5 + eps
        sigma = jt.sqrt(s_cw * s_cw + s_ch * s_ch)
        sin_1, sin_2 = jt.abs(s_cw) / sigma, jt.abs(s_ch) / sigma
        sin_alpha = jt.ternary(sin_1 > math.sqrt(2) / 2, sin_2, sin_1)
        angle_cost = jt.cos(jt.arcsin(sin_alpha) * 2 - math.pi / 2)
        gamma = angle_cost - 2
        distance_cost = 2 - jt.exp(gamma * (s_cw / cw) ** 2) - jt.exp(gamma * (s_ch / ch) ** 2)
        omega_w = jt.abs(w1 - w2) / jt.maximum(w1, w2)
        omega_h = jt.abs(h1 - h2) / jt.maximum(h1, h2)
        shape_cost = (1 - jt.exp(-omega_w)) ** 4 + (1 - jt.exp(-omega_h)) ** 4
        iou = iou - 0.5 * (distance_cost + shape_cost)
    else:
        raise ValueError(f"unsupported iou_type {iou_type!r}; the configs use 'giou' or 'siou'")
    return 1.0 - iou


def varifocal_loss(pred_score: jt.Var, gt_score: jt.Var, label: jt.Var, alpha: float = 0.75,
                   gamma: float = 2.0) -> jt.Var:
    """Sum of BCE(p, q) * (alpha * p^gamma * (1 - label) + q * label); the weight is not detached."""
    weight = alpha * pred_score.pow(gamma) * (1 - label) + gt_score * label
    log_p = jt.maximum(jt.log(pred_score), -100.0)
    log_not_p = jt.maximum(jt.log(1 - pred_score), -100.0)
    bce = -(gt_score * log_p + (1 - gt_score) * log_not_p)
    # B*A*C terms: a float32 running sum would drift by ~1e-3 relative; accumulate in float64.
    return (bce * weight).float64().sum().float32()


def distribution_focal_loss(pred_dist: jt.Var, target: np.ndarray, reg_max: int) -> jt.Var:
    """DFL of (N, 4, reg_max + 1) logits against (N, 4) distances in [0, reg_max - 0.01]; returns (N, 1)."""
    left = np.floor(target).astype(np.int64)
    weight_left = (left + 1).astype(np.float64) - target
    bins = np.arange(reg_max + 1)
    one_left = (bins == left[..., None]).astype(np.float32)
    one_right = (bins == (left + 1)[..., None]).astype(np.float32)
    log_p = nn.log_softmax(pred_dist, dim=-1)
    ce_left = -(log_p * jt.array(one_left)).sum(-1)
    ce_right = -(log_p * jt.array(one_right)).sum(-1)
    loss = (ce_left * jt.array(weight_left.astype(np.float32))
            + ce_right * jt.array((1 - weight_left).astype(np.float32)))
    return loss.mean(-1, keepdims=True)


class ComputeLoss:
    """Official ``ComputeLoss``: returns ``(loss, items)`` with items = [2.5*iou, 0.5*dfl, 1.0*cls]."""

    def __init__(self, fpn_strides: Sequence[int] = (8, 16, 32), grid_cell_size: float = 5.0,
                 grid_cell_offset: float = 0.5, num_classes: int = 80, ori_img_size: int = 640,
                 warmup_epoch: int = 4, use_dfl: bool = True, reg_max: int = 16, iou_type: str = "giou",
                 loss_weight: Optional[Dict[str, float]] = None):
        self.fpn_strides = list(fpn_strides)
        self.grid_cell_size = grid_cell_size
        self.grid_cell_offset = grid_cell_offset
        self.num_classes = num_classes
        self.ori_img_size = ori_img_size
        self.warmup_epoch = warmup_epoch
        self.warmup_assigner = ATSSAssigner(9, num_classes=num_classes)
        self.formal_assigner = TaskAlignedAssigner(topk=13, num_classes=num_classes, alpha=1.0, beta=6.0)
        self.use_dfl = use_dfl
        self.reg_max = reg_max
        self.proj = np.linspace(0, reg_max, reg_max + 1).astype(np.float32)
        self.iou_type = iou_type
        self.loss_weight = dict(loss_weight or DEFAULT_LOSS_WEIGHT)

    @classmethod
    def for_model(cls, config, num_classes: int, img_size: int) -> "ComputeLoss":
        """The loss ``config`` (a :class:`goldyolo.config.ModelConfig`) trains with at ``img_size``: its strides,
        ATSS warm-up epochs, DFL setting and IoU type."""
        return cls(fpn_strides=config.strides, num_classes=num_classes, ori_img_size=img_size,
                   warmup_epoch=config.atss_warmup_epoch, use_dfl=config.use_dfl, reg_max=config.reg_max,
                   iou_type=config.iou_type)

    def bbox_decode(self, anchor_points: jt.Var, pred_dist: jt.Var) -> jt.Var:
        """(B, A, 4 or 4*(reg_max+1)) -> xyxy boxes in grid units (DFL expectation when used)."""
        if self.use_dfl:
            b, a, _ = pred_dist.shape
            probs = nn.softmax(pred_dist.reshape((b, a, 4, self.reg_max + 1)), dim=-1)
            pred_dist = (probs * jt.array(self.proj)).sum(-1)
        return jt.concat([anchor_points - pred_dist[..., :2], anchor_points + pred_dist[..., 2:]], dim=-1)

    def _anchors(self, feats: Sequence[jt.Var]):
        sizes = [tuple(f.shape[2:]) for f in feats]
        return anchors_train(sizes, self.fpn_strides, self.grid_cell_size, self.grid_cell_offset)

    def assign(self, outputs, targets, epoch_num: int) -> Tuple[Assignment, jt.Var, np.ndarray]:
        """Run the assigner; returns the assignment, the decoded boxes (grid units) and anchor points / stride."""
        feats, pred_scores, pred_distri = outputs
        anchor_boxes, anchor_points, n_per_level, stride = self._anchors(feats)
        batch = pred_scores.shape[0]
        padded = pad_targets(targets_to_numpy(targets), batch, float(self.ori_img_size))
        gt_labels, gt_bboxes = padded[..., :1], padded[..., 1:]
        mask_gt = (gt_bboxes.sum(-1, keepdims=True) > 0).astype(np.float64)
        points_grid = anchor_points / stride
        pred_bboxes = self.bbox_decode(jt.array(points_grid), pred_distri)
        pred_pixels = pred_bboxes.detach().numpy() * stride
        if epoch_num < self.warmup_epoch:
            labels, boxes, scores, fg = self.warmup_assigner(anchor_boxes, n_per_level, gt_labels, gt_bboxes,
                                                             mask_gt, pred_pixels)
        else:
            labels, boxes, scores, fg = self.formal_assigner(pred_scores.detach().numpy(), pred_pixels,
                                                             anchor_points, gt_labels, gt_bboxes, mask_gt)
        labels = np.where(fg, labels, self.num_classes)
        return Assignment(labels, boxes / stride, scores, fg), pred_bboxes, points_grid

    def __call__(self, outputs, targets, epoch_num: int, step_num: int = 0) -> Tuple[jt.Var, jt.Var]:
        """Args:
            outputs: the model's training output ``(feats, cls_probs (B, A, C), reg (B, A, 4*(reg_max+1)))``.
            targets: (n, 6) [img_idx, cls, cx, cy, w, h], normalised by the image size.
        Returns:
            loss: scalar Var; items: (3,) Var [iou, dfl, cls], each already weighted.
        """
        _, pred_scores, pred_distri = outputs
        assignment, pred_bboxes, points_grid = self.assign(outputs, targets, epoch_num)
        loss_cls, scores_sum = self.class_loss(pred_scores, assignment)
        loss_iou, loss_dfl = self.bbox_loss(pred_distri, pred_bboxes, points_grid, assignment, scores_sum)
        w = self.loss_weight
        loss = w["class"] * loss_cls + w["iou"] * loss_iou + w["dfl"] * loss_dfl
        items = jt.concat([(w["iou"] * loss_iou).reshape((1,)), (w["dfl"] * loss_dfl).reshape((1,)),
                           (w["class"] * loss_cls).reshape((1,))]).detach()
        return loss, items

    def class_loss(self, pred_scores: jt.Var, assignment: Assignment) -> Tuple[jt.Var, float]:
        """(VFL divided by the soft-target sum, that sum). Under MPI the sum is the global batch's, so that
        the processes' losses add up to the 1-process loss (the official DDP divides by each rank's own
        sum; see Trainer.train_step, Q17)."""
        one_hot = np.eye(self.num_classes + 1, dtype=np.float32)[assignment.target_labels][..., :-1]
        scores_sum = total_over_processes(assignment.target_scores_sum)
        loss_cls = varifocal_loss(pred_scores, jt.array(assignment.target_scores.astype(np.float32)),
                                  jt.array(one_hot))
        return (loss_cls / scores_sum if scores_sum > 0 else loss_cls), scores_sum

    def bbox_loss(self, pred_dist: jt.Var, pred_bboxes: jt.Var, points_grid: np.ndarray,
                  assignment: Assignment, scores_sum: Optional[float] = None) -> Tuple[jt.Var, jt.Var]:
        """IoU loss and DFL over the foreground anchors, weighted by each anchor's soft-target sum
        and divided by ``scores_sum`` (default: the assignment's sum of soft targets)."""
        fg = assignment.fg_mask
        if not fg.any():
            zero = pred_dist.sum() * 0.0
            return zero, zero
        if scores_sum is None:
            scores_sum = assignment.target_scores_sum
        index = jt.array(np.flatnonzero(fg.reshape(-1)).astype(np.int32))
        weight = jt.array(assignment.target_scores.sum(-1)[fg][:, None].astype(np.float32))
        target_pos = assignment.target_bboxes[fg]
        pred_pos = pred_bboxes.reshape((-1, 4))[index]
        loss_iou = (iou_loss(pred_pos, jt.array(target_pos.astype(np.float32)), self.iou_type) * weight).sum()
        if scores_sum != 0:
            loss_iou = loss_iou / scores_sum
        if not self.use_dfl:
            return loss_iou, pred_dist.sum() * 0.0
        points = np.broadcast_to(points_grid, fg.shape + (2,))[fg]
        target_ltrb = np.clip(np.concatenate([points - target_pos[:, :2], target_pos[:, 2:] - points], -1),
                              0, self.reg_max - 0.01)
        dist_pos = pred_dist.reshape((-1, 4 * (self.reg_max + 1)))[index].reshape((-1, 4, self.reg_max + 1))
        loss_dfl = (distribution_focal_loss(dist_pos, target_ltrb, self.reg_max) * weight).sum()
        if scores_sum != 0:
            loss_dfl = loss_dfl / scores_sum
        return loss_iou, loss_dfl


class ComputeLossAB(ComputeLoss):
    """Official ``loss_fuseab.ComputeLoss``, the anchor-based branch's loss of anchor-aided training:
    Task-Aligned assignment with top-26 (no ATSS warm-up), no DFL, boxes decoded from the head's
    [dx, dy, w, h] (offsets from the cell centre, grid units) with the official in-place
    ``xywh2xyxy`` arithmetic (x1 = cx - w/2, x2 = x1 + w). Takes ``(feats, cls_ab, reg_ab)``."""

    def __init__(self, fpn_strides: Sequence[int] = (8, 16, 32), num_classes: int = 80, ori_img_size: int = 640,
                 iou_type: str = "giou", **kwargs):
        super().__init__(fpn_strides=fpn_strides, num_classes=num_classes, ori_img_size=ori_img_size,
                         warmup_epoch=0, use_dfl=False, reg_max=0, iou_type=iou_type, **kwargs)
        self.formal_assigner = TaskAlignedAssigner(topk=26, num_classes=num_classes, alpha=1.0, beta=6.0)

    @classmethod
    def for_model(cls, config, num_classes: int, img_size: int) -> "ComputeLossAB":
        return cls(fpn_strides=config.strides, num_classes=num_classes, ori_img_size=img_size,
                   iou_type=config.iou_type)

    def _anchors(self, feats: Sequence[jt.Var]):
        sizes = [tuple(f.shape[2:]) for f in feats]
        return anchors_train(sizes, self.fpn_strides, self.grid_cell_size, self.grid_cell_offset, per_point=3)

    def bbox_decode(self, anchor_points: jt.Var, pred_dist: jt.Var) -> jt.Var:
        """(B, 3A, 4) [dx, dy, w, h] -> xyxy boxes in grid units."""
        centre = pred_dist[..., :2] + anchor_points
        x1y1 = centre - pred_dist[..., 2:] * 0.5
        return jt.concat([x1y1, x1y1 + pred_dist[..., 2:]], dim=-1)


def fuse_ab_loss(loss_af: ComputeLoss, loss_ab: ComputeLossAB, outputs, targets, epoch_num: int,
                 step_num: int = 0) -> Tuple[jt.Var, jt.Var]:
    """The official engine's anchor-aided step: the anchor-free loss on ``(feats, cls_af, reg_af)`` plus the
    anchor-based one on ``(feats, cls_ab, reg_ab)``, weight 1 each; the items added element-wise."""
    feats, cls_ab, reg_ab, cls_af, reg_af = outputs
    loss, items = loss_af((feats, cls_af, reg_af), targets, epoch_num, step_num)
    loss_b, items_b = loss_ab((feats, cls_ab, reg_ab), targets, epoch_num, step_num)
    return loss + loss_b, items + items_b
