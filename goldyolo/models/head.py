"""The Efficient decoupled head (YOLOv6 ``effidehead.Detect``), anchor-free, with optional DFL."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from jittor import nn

from ..runtime import jt
from .anchors import anchor_points_eval
from .common import Conv

DETECT_REG_MAX = 16  # Q10: Detect is built without reg_max, so proj always has 17 bins.


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
        self.proj_conv = nn.Conv2d(self.reg_max + 1, 1, 1, bias=False)
        self.proj_conv.weight = jt.array(bins.reshape(1, -1, 1, 1)).stop_grad()
        self.stems = nn.ModuleList([Conv(c, c, 1, 1) for c in channels])
        self.cls_convs = nn.ModuleList([Conv(c, c, 3, 1) for c in channels])
        self.reg_convs = nn.ModuleList([Conv(c, c, 3, 1) for c in channels])
        self.cls_preds = nn.ModuleList([nn.Conv2d(c, num_classes, 1) for c in channels])
        self.reg_preds = nn.ModuleList([nn.Conv2d(c, 4 * (reg_max + 1), 1) for c in channels])
        self._anchor_cache = {}

    def _branches(self, i: int, x: jt.Var) -> Tuple[jt.Var, jt.Var, jt.Var]:
        feat = self.stems[i](x)
        cls_out = self.cls_preds[i](self.cls_convs[i](feat))
        reg_out = self.reg_preds[i](self.reg_convs[i](feat))
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
            if self.use_dfl:
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
    for conv in head.cls_preds:
        conv.weight.update(jt.zeros(conv.weight.shape))
        conv.bias.update(jt.full(conv.bias.shape, cls_bias))
    for conv in head.reg_preds:
        conv.weight.update(jt.zeros(conv.weight.shape))
        conv.bias.update(jt.full(conv.bias.shape, 1.0))
