"""Self-distillation losses of the official recipe's second step (``loss_distill_ns`` for N and S,
``loss_distill`` for M and L).

Besides the usual terms (VFL, IoU, DFL), with T the temperature (20) and w(e) = 1 - 0.495 (1 - cos(pi e / E))
the per-epoch decay from 1 towards 0.01:

* class distillation: T^2 x KL(softmax(teacher / T) || softmax(student / T)) over the classes, **summed** over
  every anchor of the batch; the inputs are the heads' sigmoid probabilities, as in the official code;
* DFL distillation: T^2 x the same KL over the 17 bins of each side, averaged over the foreground sides,
  times the foreground's soft-target sum over the batch's (so about T^2 x the mean KL);
* channel-wise feature distillation (``distill_feat``): for each neck output, KL over the spatial positions
  of each channel (temperature 1), summed and divided by batch x channels, weight 10.

The three are multiplied by w(e); class and DFL distillation by the config's ``distill_weight``. For N and S
the student head has a second box branch (``reg_preds_lrtb``, plain distances) whose IoU loss is added to
the DFL branch's; the assignment uses the DFL branch. Items: [2.5 iou, 0.5 (dfl + distilled dfl),
cls + distilled cls, 10 cwd].
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
from jittor import nn

from ..runtime import jt
from .loss import ComputeLoss, iou_loss

DISTILL_LOSS_WEIGHT = {"class": 1.0, "iou": 2.5, "dfl": 0.5, "cwd": 10.0}
DFL_BINS = 17  # the official distillation hard-codes 17 bins (reg_max 16)


def distill_decay(epoch: int, max_epoch: int) -> float:
    """w(e): 1 at the first epoch, falling on a cosine towards 0.01 at ``max_epoch``."""
    return ((1 - math.cos(epoch * math.pi / max_epoch)) / 2) * (0.01 - 1) + 1


def kl_rows(student: jt.Var, teacher: jt.Var, temperature: float) -> jt.Var:
    """Per row, KL(softmax(teacher / T) || softmax(student / T)) over the last axis."""
    log_p = jt.log(nn.softmax(student / temperature, dim=-1))
    q = nn.softmax(teacher / temperature, dim=-1)
    return (q * (jt.log(q) - log_p)).sum(-1)


def class_distillation(student: jt.Var, teacher: jt.Var, num_classes: int, temperature: float) -> jt.Var:
    """(B, A, C) probabilities -> T^2 x the KL summed over every anchor."""
    rows = kl_rows(student.reshape((-1, num_classes)), teacher.reshape((-1, num_classes)), temperature)
    return rows.float64().sum().float32() * temperature ** 2  # B*A rows: a float32 running sum drifts


def dfl_distillation(student: jt.Var, teacher: jt.Var, temperature: float) -> jt.Var:
    """(n, 4, 17) bin logits of the foreground sides -> T^2 x the mean KL."""
    rows = kl_rows(student.reshape((-1, DFL_BINS)), teacher.reshape((-1, DFL_BINS)), temperature)
    return rows.float64().mean().float32() * temperature ** 2


def channel_distillation(student: Sequence[jt.Var], teacher: Sequence[jt.Var], temperature: float = 1.0) -> jt.Var:
    """Channel-wise distillation of the neck outputs: per channel, KL of the spatial softmaxes, / (N x C)."""
    total = None
    for s, t in zip(student, teacher):
        n, c, h, w = s.shape
        log_s = nn.log_softmax(s.reshape((n, c, h * w)) / temperature, dim=2)
        log_t = nn.log_softmax(t.detach().reshape((n, c, h * w)) / temperature, dim=2)
        kl = (jt.exp(log_t) * (log_t - log_s)).float64().sum().float32()  # N*C*H*W terms, summed in float64
        term = kl * (temperature * temperature) / (n * c)
        total = term if total is None else total + term
    return total


class ComputeLossDistill(ComputeLoss):
    """The distillation loss; ``lrtb`` selects the N/S form (the student's plain-distance branch).

    Called with the student's outputs ``(feats, cls, reg[, lrtb])``, the teacher's (its anchor-free
    ``cls_af``, ``reg_af`` are the last two), both necks' outputs, targets, the epoch and the epochs of the run.
    """

    def __init__(self, distill_weight: Tuple[float, float] = (1.0, 1.0), temperature: float = 20.0,
                 distill_feat: bool = False, lrtb: bool = True, **kwargs):
        kwargs.setdefault("loss_weight", DISTILL_LOSS_WEIGHT)
        if lrtb:
            kwargs["warmup_epoch"] = 0  # loss_distill_ns has no ATSS warm-up
        super().__init__(**kwargs)
        self.distill_weight = {"class": distill_weight[0], "dfl": distill_weight[1]}
        self.temperature = temperature
        self.distill_feat = distill_feat
        self.lrtb = lrtb

    @classmethod
    def for_model(cls, config, num_classes: int, img_size: int, temperature: float = 20.0,
                  distill_feat: bool = False) -> "ComputeLossDistill":
        return cls(distill_weight=config.distill_weight, temperature=temperature, distill_feat=distill_feat,
                   lrtb=config.name in ("gold_yolo-n", "gold_yolo-s"), fpn_strides=config.strides,
                   num_classes=num_classes, ori_img_size=img_size, warmup_epoch=config.atss_warmup_epoch,
                   use_dfl=config.use_dfl, reg_max=config.reg_max, iou_type=config.iou_type)

    def __call__(self, outputs, teacher_outputs, student_feats, teacher_feats, targets, epoch_num: int,
                 max_epoch: int, step_num: int = 0) -> Tuple[jt.Var, jt.Var]:
        feats, pred_scores, pred_distri = outputs[:3]
        teacher_scores, teacher_distri = teacher_outputs[-2], teacher_outputs[-1]
        assignment, pred_bboxes, points_grid = self.assign((feats, pred_scores, pred_distri), targets, epoch_num)
        loss_cls, scores_sum = self.class_loss(pred_scores, assignment)
        loss_iou, loss_dfl = self.bbox_loss(pred_distri, pred_bboxes, points_grid, assignment, scores_sum)
        fg = assignment.fg_mask
        zero = pred_distri.sum() * 0.0
        loss_dfl_distill = zero
        if fg.any():
            index = jt.array(np.flatnonzero(fg.reshape(-1)).astype(np.int32))
            weight_sum = float(assignment.target_scores.sum(-1)[fg].sum())
            if self.lrtb:
                lrtb = outputs[3]
                lrtb_boxes = jt.concat([jt.array(points_grid) - lrtb[..., :2], jt.array(points_grid) + lrtb[..., 2:]],
                                       dim=-1)
                weight = jt.array(assignment.target_scores.sum(-1)[fg][:, None].astype(np.float32))
                target = jt.array(assignment.target_bboxes[fg].astype(np.float32))
                loss_lrtb = (iou_loss(lrtb_boxes.reshape((-1, 4))[index], target, self.iou_type) * weight).sum()
                loss_iou = loss_iou + (loss_lrtb / scores_sum if scores_sum != 0 else loss_lrtb)
            if self.use_dfl:
                bins = 4 * (self.reg_max + 1)
                student = pred_distri.reshape((-1, bins))[index]
                teacher = teacher_distri.reshape((-1, bins))[index]
                loss_dfl_distill = dfl_distillation(student, teacher, self.temperature) * weight_sum
                if scores_sum != 0:
                    loss_dfl_distill = loss_dfl_distill / scores_sum
        loss_cls_distill = class_distillation(pred_scores, teacher_scores, self.num_classes, self.temperature)
        loss_cw = channel_distillation(student_feats, teacher_feats) if self.distill_feat else zero
        decay = distill_decay(epoch_num, max_epoch)
        loss_cls_all = loss_cls + loss_cls_distill * decay * self.distill_weight["class"]
        loss_dfl_all = loss_dfl + loss_dfl_distill * decay * self.distill_weight["dfl"]
        loss_cw = loss_cw * decay
        w = self.loss_weight
        loss = w["class"] * loss_cls_all + w["iou"] * loss_iou + w["dfl"] * loss_dfl_all + w["cwd"] * loss_cw
        items = jt.concat([(w["iou"] * loss_iou).reshape((1,)), (w["dfl"] * loss_dfl_all).reshape((1,)),
                           (w["class"] * loss_cls_all).reshape((1,)), (w["cwd"] * loss_cw).reshape((1,))]).detach()
        return loss, items
