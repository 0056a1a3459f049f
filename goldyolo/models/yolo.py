"""The whole detector: backbone -> neck -> head, built from a :class:`~goldyolo.config.ModelConfig`."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from jittor import init, nn

from ..config import ModelConfig, get_config
from ..runtime import jt
from .backbone import EfficientRep
from .checkpoint import load_state_dict_strict, load_weights
from .common import get_block
from .head import Detect, DistillNSDetect, FuseABDetect, initialize_head_biases
from .neck import GDNeck
from .transformer import Conv2d_BN, ConvModule, DropPath


class GoldYOLO(nn.Module):
    """Gold-YOLO. Training mode returns the head's ``(feats, cls_probs, reg)`` (with ``fuse_ab`` its 5-tuple,
    :class:`~goldyolo.models.head.FuseABDetect`); eval returns (B, A, 5 + nc)."""

    def __init__(self, config: ModelConfig, num_classes: int = 80, fuse_ab: bool = False, distill_ns: bool = False):
        if fuse_ab and distill_ns:
            raise ValueError("a model has either the anchor-aided head or the distillation head, not both")
        self.config = config
        self.num_classes = num_classes
        self.fuse_ab = fuse_ab
        self.distill_ns = distill_ns
        channels, repeats = config.channels, config.num_repeats
        block = get_block(config.training_mode)
        csp_e = config.csp_e if config.backbone == "CSPBepBackbone" else None
        self.backbone = EfficientRep(channels, repeats, block, cspsppf=config.cspsppf, csp_e=csp_e)
        neck_csp = config.csp_e if config.neck in ("GDNeck", "GDNeck2") else None
        self.neck = GDNeck(channels, repeats, block, config.neck_extra, csp_e=neck_csp,
                           n5_from_p4=config.neck == "GDNeck2")
        head = FuseABDetect if fuse_ab else DistillNSDetect if distill_ns else Detect
        self.detect = head(num_classes, [channels[6], channels[8], channels[10]],
                           reg_max=config.reg_max, use_dfl=config.use_dfl, strides=config.strides)

    def execute(self, x: jt.Var):
        return self.detect(self.neck(self.backbone(x)))

    def execute_with_features(self, x: jt.Var):
        """(head output, the neck's three outputs): the official ``Model.forward``'s pair, which
        distillation's feature term uses."""
        feats = self.neck(self.backbone(x))
        return self.detect(feats), list(feats)

    def load_state_dict(self, state) -> None:
        """Strict name-for-name load: a missing, unexpected or mis-shaped key raises StateDictError."""
        load_state_dict_strict(self, state)

    def load_parameters(self, params) -> None:
        """Jittor's loader entry point, made strict as well (``Module.load`` goes through it)."""
        self.load_state_dict(params)

    def load(self, path: str) -> None:
        """Load a weights file safely (no code from the file runs) and strictly."""
        load_weights(self, path)


def initialize_weights(model: GoldYOLO) -> None:
    """Official from-scratch init (Q16): head priors, mmcv ConvModule kaiming init, Conv2d_BN BN init."""
    initialize_head_biases(model.detect)
    for module in model.modules():
        if isinstance(module, ConvModule):
            init.kaiming_normal_(module.conv.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(module, (ConvModule, Conv2d_BN)):
            weight_init = getattr(module, "bn_weight_init", 1.0)
            module.bn.weight.update(jt.full(module.bn.weight.shape, weight_init))
            module.bn.bias.update(jt.zeros(module.bn.bias.shape))
    jt.sync(list(model.state_dict().values()))


def build_model(name: str | ModelConfig, num_classes: int = 80, fuse_ab: bool = False, distill_ns: bool = False,
                use_dfl: Optional[bool] = None, reg_max: Optional[int] = None) -> GoldYOLO:
    """Build ``"gold_yolo-n" | "gold_yolo-s" | "gold_yolo-m" | "gold_yolo-l"`` in training form; ``fuse_ab``:
    with the anchor-aided head (:class:`~goldyolo.models.head.FuseABDetect`), ``distill_ns``: with the N/S
    distillation head (:class:`~goldyolo.models.head.DistillNSDetect`); ``use_dfl`` and ``reg_max`` override
    the config's (the official recipe trains N with DFL, 16 bins, for distillation)."""
    config = name if isinstance(name, ModelConfig) else get_config(name)
    overrides = {k: v for k, v in (("use_dfl", use_dfl), ("reg_max", reg_max)) if v is not None}
    config = replace(config, **overrides) if overrides else config
    model = GoldYOLO(config, num_classes=num_classes, fuse_ab=fuse_ab, distill_ns=distill_ns)
    initialize_weights(model)
    return model


def set_drop_path(model: nn.Module, enabled: bool) -> None:
    """Switch every DropPath on or off (off makes training-mode forwards deterministic)."""
    for module in model.modules():
        if isinstance(module, DropPath):
            module.is_train = enabled
