"""The Efficient decoupled head (YOLOv6 ``effidehead.Detect``), anchor-free, with optional DFL, and its
anchor-aided training form (``effidehead_fuseab.Detect``, ``--fuse_ab``)."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from jittor import nn

from ..ops.conv import Conv2d
from ..runtime import jt
from .anchors import anchor_points_eval
from .common import Conv, run_chained

DETECT_REG_MAX = 16  # Q10: Detect is built without reg_max, so proj always has 17 bins.
# the configs' anchors_init: three (w, h) pixel sizes per level, the anchor-based branch's priors
ANCHORS_INIT = ((10, 13, 19, 19, 33, 23), (30, 61, 59, 59, 59, 119), (116, 90, 185, 185, 373, 326))


class Detect(nn.Module):
    """Per level: stem (1x1) -> cls branch (3x3 conv, 1x1 pred) and reg branch (3x3 conv, 1x1 pred).

    Training returns ``(feats, cls_probs (B, A, nc), reg (B, A, 4 * (reg_max + 1)))``;
    eval returns ``(B, A, 5 + nc)``: cx, cy, w, h in input pixels, a constant 1, class probabilities.
    """

    def __init__(self, num_classes: int, channels: Sequence[int], reg_max: int, use_dfl: bool,
                 strides: Sequence[int] = (8, 16, 32)):
        self.nc = num_classes
        self.nl = len(channels)
        self.strides = list(strides)
        self.use_dfl = use_dfl
        self.reg_max = DETECT_REG_MAX
        self.grid_cell_offset = 0.5
        self.grid_cell_size = 5.0
        bins = np.arange(self.reg_max + 1, dtype=np.float32)
        self.proj = jt.array(bins).stop_grad()
        self.proj_conv = Conv2d(self.reg_max + 1, 1, 1, bias=False)
        self.proj_conv.weight = jt.array(bins.reshape(1, -1, 1, 1)).stop_grad()
        self.stems = nn.ModuleList([Conv(c, c, 1, 1) for c in channels])
        self.cls_convs = nn.ModuleList([Conv(c, c, 3, 1) for c in channels])
        self.reg_convs = nn.ModuleList([Conv(c, c, 3, 1) for c in channels])
        self._build_predictions(channels, num_classes, reg_max)
        self._anchor_cache = {}

    def _build_predictions(self, channels: Sequence[int], num_classes: int, reg_max: int) -> None:
        """The 1x1 prediction convs (a head variant builds its own)."""
        self.cls_preds = nn.ModuleList([Conv2d(c, num_classes, 1) for c in channels])
        self.reg_preds = nn.ModuleList([Conv2d(c, 4 * (reg_max + 1), 1) for c in channels])

    def prediction_convs(self) -> Tuple[list, list]:
        """(class convs, box convs) whose weights are zeroed and biases set at initialisation."""
        return list(self.cls_preds), list(self.reg_preds)

    @property
    def dfl_at_inference(self) -> bool:
        """Whether inference reads the boxes through the DFL bins (the student head of distillation does not)."""
        return self.use_dfl

    def _branches(self, i: int, x: jt.Var) -> Tuple[jt.Var, jt.Var, jt.Var]:
        feat = self.stems[i](x)
        cls_out = run_chained([self.cls_convs[i], self.cls_preds[i]], feat)
        reg_out = run_chained([self.reg_convs[i], self.reg_preds[i]], feat)
        return feat, cls_out, reg_out

    def execute(self, xs: Sequence[jt.Var]):
        if self.is_training():
            feats, cls_list, reg_list = [], [], []
            for i in range(self.nl):
                feat, cls_out, reg_out = self._branches(i, xs[i])
                feats.append(feat)
                cls_list.append(jt.sigmoid(cls_out).flatten(2).permute(0, 2, 1))
                reg_list.append(reg_out.flatten(2).permute(0, 2, 1))
            return feats, jt.concat(cls_list, dim=1), jt.concat(reg_list, dim=1)
        return self.decode_eval(xs)

    def decode_eval(self, xs: Sequence[jt.Var]) -> jt.Var:
        """Eval branch: DFL expectation (when used), ltrb -> cxcywh in pixels, ones column, sigmoid scores."""
        cls_list, reg_list = [], []
        sizes = []
        for i in range(self.nl):
            b, _, h, w = xs[i].shape
            sizes.append((h, w))
            _, cls_out, reg_out = self._branches(i, xs[i])
            if self.dfl_at_inference:
                reg_out = reg_out.reshape((-1, 4, self.reg_max + 1, h * w)).permute(0, 2, 1, 3)
                reg_out = self.proj_conv(nn.softmax(reg_out, dim=1))
            cls_list.append(jt.sigmoid(cls_out).reshape((b, self.nc, h * w)))
            reg_list.append(reg_out.reshape((b, 4, h * w)))
        cls_scores = jt.concat(cls_list, dim=-1).permute(0, 2, 1)
        distances = jt.concat(reg_list, dim=-1).permute(0, 2, 1)
        points, strides = self._anchors(tuple(sizes))
        x1y1 = points - distances[:, :, :2]
        x2y2 = points + distances[:, :, 2:]
        boxes = jt.concat([(x1y1 + x2y2) / 2, x2y2 - x1y1], dim=-1) * strides
        ones = jt.ones((boxes.shape[0], boxes.shape[1], 1), dtype=boxes.dtype)
        return jt.concat([boxes, ones, cls_scores], dim=-1)

    def _anchors(self, sizes: Tuple[Tuple[int, int], ...]) -> Tuple[jt.Var, jt.Var]:
        if sizes not in self._anchor_cache:
            points, strides = anchor_points_eval(sizes, self.strides, self.grid_cell_offset)
            self._anchor_cache[sizes] = (points, strides)
        points, strides = self._anchor_cache[sizes]
        return jt.array(points).stop_grad(), jt.array(strides).stop_grad()


def initialize_head_biases(head: Detect, prior_prob: float = 1e-2) -> None:
    """Official ``initialize_biases`` (Q16): zero pred weights, cls bias -log((1-p)/p), reg bias 1."""
    cls_bias = -float(np.log((1 - prior_prob) / prior_prob))
    cls_convs, reg_convs = head.prediction_convs()
    for conv in cls_convs:
        conv.weight.update(jt.zeros(conv.weight.shape))
        conv.bias.update(jt.full(conv.bias.shape, cls_bias))
    for conv in reg_convs:
        conv.weight.update(jt.zeros(conv.weight.shape))
        conv.bias.update(jt.full(conv.bias.shape, 1.0))


class FuseABDetect(Detect):
    """The head of anchor-aided training: the anchor-free branch (``cls_preds_af``, ``reg_preds_af``, which
    inference uses alone) and an anchor-based one (``cls_preds_ab``: 3 x nc, ``reg_preds_ab``: 3 x 4 per
    cell) trained beside it, three anchors per cell with the sizes of :data:`ANCHORS_INIT`.

    Training returns ``(feats, cls_ab (B, 3A, nc), reg_ab (B, 3A, 4), cls_af (B, A, nc), reg_af (B, A, R))``:
    ab rows anchor-major within a level (row = anchor * h * w + cell), ``reg_ab`` = [dx, dy, w, h] with the
    offsets raw and the size (2 sigmoid)^2 x the anchor, in grid units. Eval is the plain head's.
    """

    def __init__(self, num_classes: int, channels: Sequence[int], reg_max: int, use_dfl: bool,
                 strides: Sequence[int] = (8, 16, 32)):
        self.na = 3
        super().__init__(num_classes, channels, reg_max, use_dfl, strides)
        self._anchor_sizes = (np.array(ANCHORS_INIT, np.float32).reshape(3, 3, 2)
                              / np.array(self.strides, np.float32)[:, None, None])

    def _build_predictions(self, channels: Sequence[int], num_classes: int, reg_max: int) -> None:
        self.cls_preds_af = nn.ModuleList([Conv2d(c, num_classes, 1) for c in channels])
        self.reg_preds_af = nn.ModuleList([Conv2d(c, 4 * (reg_max + 1), 1) for c in channels])
        self.cls_preds_ab = nn.ModuleList([Conv2d(c, self.na * num_classes, 1) for c in channels])
        self.reg_preds_ab = nn.ModuleList([Conv2d(c, self.na * 4, 1) for c in channels])

    def prediction_convs(self) -> Tuple[list, list]:
        return list(self.cls_preds_af) + list(self.cls_preds_ab), list(self.reg_preds_af) + list(self.reg_preds_ab)

    def _branches(self, i: int, x: jt.Var) -> Tuple[jt.Var, jt.Var, jt.Var]:
        feat = self.stems[i](x)
        return feat, self.cls_preds_af[i](self.cls_convs[i](feat)), self.reg_preds_af[i](self.reg_convs[i](feat))

    def execute(self, xs: Sequence[jt.Var]):
        if not self.is_training():
            return self.decode_eval(xs)
        feats, cls_ab, reg_ab, cls_af, reg_af = [], [], [], [], []
        for i in range(self.nl):
            b, _, h, w = xs[i].shape
            feat = self.stems[i](xs[i])
            cls_feat, reg_feat = self.cls_convs[i](feat), self.reg_convs[i](feat)
            scores = jt.sigmoid(self.cls_preds_ab[i](cls_feat)).reshape((b, self.na, self.nc, h, w))
            cls_ab.append(scores.permute(0, 1, 3, 4, 2).reshape((b, self.na * h * w, self.nc)))
            boxes = self.reg_preds_ab[i](reg_feat).reshape((b, self.na, 4, h, w)).permute(0, 1, 3, 4, 2)
            size = (jt.sigmoid(boxes[..., 2:4]) * 2) ** 2 * jt.array(self._anchor_sizes[i].reshape(1, 3, 1, 1, 2))
            reg_ab.append(jt.concat([boxes[..., :2], size], dim=-1).reshape((b, self.na * h * w, 4)))
            feats.append(feat)
            cls_af.append(jt.sigmoid(self.cls_preds_af[i](cls_feat)).flatten(2).permute(0, 2, 1))
            reg_af.append(self.reg_preds_af[i](reg_feat).flatten(2).permute(0, 2, 1))
        return (feats, jt.concat(cls_ab, dim=1), jt.concat(reg_ab, dim=1), jt.concat(cls_af, dim=1),
                jt.concat(reg_af, dim=1))


class DistillNSDetect(Detect):
    """The N and S student head of self-distillation (``effidehead_distill_ns.Detect``): the plain head and
    ``reg_preds_lrtb``, four plain distances per cell from the same box features. Training returns
    ``(feats, cls (B, A, nc), reg (B, A, 4 (reg_max + 1)), lrtb (B, A, 4))``; inference uses the class and
    ``lrtb`` outputs only, so a distilled N or S deploys without DFL."""

    def __init__(self, num_classes: int, channels: Sequence[int], reg_max: int, use_dfl: bool,
                 strides: Sequence[int] = (8, 16, 32)):
        super().__init__(num_classes, channels, reg_max, use_dfl, strides)
        self.reg_preds_lrtb = nn.ModuleList([Conv2d(c, 4, 1) for c in channels])

    def prediction_convs(self) -> Tuple[list, list]:
        return list(self.cls_preds), list(self.reg_preds) + list(self.reg_preds_lrtb)

    @property
    def dfl_at_inference(self) -> bool:
        return False  # inference reads the plain distances of reg_preds_lrtb

    def _branches(self, i: int, x: jt.Var) -> Tuple[jt.Var, jt.Var, jt.Var]:
        feat = self.stems[i](x)
        return feat, self.cls_preds[i](self.cls_convs[i](feat)), self.reg_preds_lrtb[i](self.reg_convs[i](feat))

    def execute(self, xs: Sequence[jt.Var]):
        if not self.is_training():
            return self.decode_eval(xs)
        feats, cls, reg, lrtb = [], [], [], []
        for i in range(self.nl):
            feat = self.stems[i](xs[i])
            reg_feat = self.reg_convs[i](feat)
            feats.append(feat)
            cls.append(jt.sigmoid(self.cls_preds[i](self.cls_convs[i](feat))).flatten(2).permute(0, 2, 1))
            reg.append(self.reg_preds[i](reg_feat).flatten(2).permute(0, 2, 1))
            lrtb.append(self.reg_preds_lrtb[i](reg_feat).flatten(2).permute(0, 2, 1))
        return feats, jt.concat(cls, dim=1), jt.concat(reg, dim=1), jt.concat(lrtb, dim=1)


def plain_head_state(state: dict) -> dict:
    """A fuse-ab model's state dict as the plain model's: the anchor-free convs under the plain names,
    the anchor-based ones dropped (what inference and export use)."""
    out = {}
    for key, value in state.items():
        if "_ab." in key:
            continue
        out[key.replace("cls_preds_af.", "cls_preds.").replace("reg_preds_af.", "reg_preds.")] = value
    return out
