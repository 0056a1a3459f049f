"""A stand-in for the two mmcv 1.x pieces the official Gold-YOLO code imports, for
``bench --torch-reference`` when mmcv is not installed (mmcv 1.5 does not build for current
PyTorch). Only the official benchmark child process installs it, and only when ``import mmcv``
fails.

* ``mmcv.cnn.build_norm_layer(cfg, num_features)`` returns ``('bn', layer)``: ``BN``/``BN2d`` give
  ``nn.BatchNorm2d``, ``SyncBN`` gives ``nn.SyncBatchNorm``, eps from ``cfg`` (default 1e-5),
  ``requires_grad`` applied to the affine parameters.
* ``mmcv.cnn.ConvModule``: conv, then norm (named ``bn``), then activation (named ``activate``);
  the conv has a bias only without a norm; kaiming-normal (fan_out, relu) conv init and a
  norm with weight 1, bias 0, as mmcv initialises it. The official code builds it only with
  ``act_cfg=None`` or a ReLU.

These reproduce mmcv's module structure and state_dict names, so the model and its cost are the
official ones.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

NORMS = {"BN": nn.BatchNorm2d, "BN2d": nn.BatchNorm2d, "SyncBN": nn.SyncBatchNorm}
ACTIVATIONS = {"ReLU": nn.ReLU}
# ConvModule's act_cfg when not given: mmcv's dict(type="ReLU"), made per call (None means no activation)
_DEFAULT_ACT = object()
# where goldyolo 0.x kept this module; official checkpoints it wrote there still name it
FORMER_NAMES = ("goldyolo.bench.mmcv_shim",)


def build_norm_layer(cfg: Dict, num_features: int, postfix: str = "") -> Tuple[str, nn.Module]:
    """mmcv's ``build_norm_layer`` for the 2-D batch norms: ``(name, layer)``."""
    options = dict(cfg)
    kind = options.pop("type")
    if kind not in NORMS:
        raise NotImplementedError(f"mmcv stand-in: norm type {kind!r} is not reproduced")
    requires_grad = options.pop("requires_grad", True)
    options.setdefault("eps", 1e-5)
    layer = NORMS[kind](num_features, **options)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return f"bn{postfix}", layer


class ConvModule(nn.Module):
    """mmcv's conv + norm + activation block (order conv, norm, act)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias="auto", conv_cfg: Optional[Dict] = None, norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = _DEFAULT_ACT, inplace: bool = True):
        super().__init__()
        if act_cfg is _DEFAULT_ACT:
            act_cfg = dict(type="ReLU")
        if conv_cfg is not None:
            raise NotImplementedError("mmcv stand-in: only the default Conv2d is reproduced")
        with_bias = norm_cfg is None if bias == "auto" else bias
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, with_bias)
        self.norm_name = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        if act_cfg is not None:
            if act_cfg["type"] not in ACTIVATIONS:
                raise NotImplementedError(f"mmcv stand-in: activation {act_cfg['type']!r} is not reproduced")
            self.activate = ACTIVATIONS[act_cfg["type"]](inplace=inplace)
        self.with_activation = act_cfg is not None
        nn.init.kaiming_normal_(self.conv.weight, a=0, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.constant_(self.conv.bias, 0)
        if self.norm_name:
            nn.init.constant_(getattr(self, self.norm_name).weight, 1)
            nn.init.constant_(getattr(self, self.norm_name).bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_name:
            x = getattr(self, self.norm_name)(x)
        return self.activate(x) if self.with_activation else x


def install_if_missing() -> List[str]:
    """Put ``mmcv`` and ``mmcv.cnn`` stand-ins into ``sys.modules`` unless mmcv imports; returns the
    names installed (empty when the real mmcv is used)."""
    try:
        importlib.import_module("mmcv.cnn")
        return []
    except ImportError:
        pass
    mmcv = types.ModuleType("mmcv")
    cnn = types.ModuleType("mmcv.cnn")
    cnn.ConvModule = ConvModule
    cnn.build_norm_layer = build_norm_layer
    mmcv.cnn = cnn
    # checkpoints pickle whole models: naming the class by the path it stands in for keeps them
    # loadable with the real mmcv and independent of where this module sits in the package
    ConvModule.__module__ = "mmcv.cnn"
    sys.modules.update({"mmcv": mmcv, "mmcv.cnn": cnn})
    for old in FORMER_NAMES:
        sys.modules.setdefault(old, sys.modules[__name__])
    return ["mmcv.cnn.ConvModule", "mmcv.cnn.build_norm_layer"]
