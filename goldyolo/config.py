"""The four official Gold-YOLO configurations (``configs/gold_yolo-{n,s,m,l}.py``) as small objects."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from .errors import InputError

BACKBONE_REPEATS = [1, 6, 12, 18, 6]
BACKBONE_CHANNELS = [64, 128, 256, 512, 1024]
NECK_REPEATS = [12, 12, 12, 12]
NECK_CHANNELS = [256, 128, 128, 256, 256, 512]


class UnknownModelError(InputError, KeyError):
    """A model name that is not one of the four configurations; a KeyError too, as for a dict lookup."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class NeckExtra:
    """The ``neck.extra_cfg`` block: the gather-and-distribute (GD) mechanism's settings."""
    depths: int
    fusion_in: int
    embed_dim_p: int
    embed_dim_n: int
    trans_channels: Tuple[int, int, int, int]
    num_heads: int
    key_dim: int = 8
    mlp_ratio: float = 1.0
    attn_ratio: float = 2.0
    c2t_stride: int = 2
    drop_path_rate: float = 0.1
    fuse_block_num: int = 3
    pool_mode: str = "torch"


def augment_hyp(scale: float = 0.5, mixup: float = 0.0) -> Dict[str, float]:
    """The configs' ``data_aug`` block (N/S: scale 0.5, no mixup; M/L: scale 0.9, mixup 0.1)."""
    return dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0, translate=0.1, scale=scale, shear=0.0,
                flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=mixup)


def solver_hyp(lr0: float = 0.01) -> Dict[str, float]:
    """The configs' ``solver`` block: SGD (nesterov), cosine schedule, 3 warm-up epochs."""
    return dict(lr0=lr0, lrf=0.01, momentum=0.937, weight_decay=0.0005, warmup_epochs=3.0,
                warmup_momentum=0.8, warmup_bias_lr=0.1)


@dataclass(frozen=True)
class ModelConfig:
    """One Gold-YOLO size: multipliers, module types and head settings of the official config."""
    name: str
    depth_multiple: float
    width_multiple: float
    backbone: str
    neck: str
    neck_extra: NeckExtra
    training_mode: str = "repvgg"
    csp_e: float = 0.5
    cspsppf: bool = False
    use_dfl: bool = True
    reg_max: int = 16
    iou_type: str = "giou"
    atss_warmup_epoch: int = 0
    strides: Tuple[int, int, int] = (8, 16, 32)
    distill_weight: Tuple[float, float] = (1.0, 1.0)  # self-distillation: (class, dfl)
    paper: Dict[str, float] = field(default_factory=dict)
    solver: Dict[str, float] = field(default_factory=solver_hyp)
    augment: Dict[str, float] = field(default_factory=augment_hyp)

    @property
    def num_repeats(self) -> List[int]:
        """Block repeats after depth scaling, as ``build_network`` computes them."""
        return [(max(round(n * self.depth_multiple), 1) if n > 1 else n)
                for n in BACKBONE_REPEATS + NECK_REPEATS]

    @property
    def channels(self) -> List[int]:
        """Backbone then neck channels after width scaling (rounded up to a multiple of 8)."""
        return [math.ceil(c * self.width_multiple / 8) * 8 for c in BACKBONE_CHANNELS + NECK_CHANNELS]


CONFIGS: Dict[str, ModelConfig] = {
    "gold_yolo-n": ModelConfig(
        name="gold_yolo-n", depth_multiple=0.33, width_multiple=0.25,
        backbone="EfficientRep", neck="RepGDNeck", cspsppf=True,
        neck_extra=NeckExtra(depths=2, fusion_in=480, embed_dim_p=96, embed_dim_n=352,
                             trans_channels=(64, 32, 64, 128), num_heads=4),
        use_dfl=False, reg_max=0, iou_type="siou", solver=solver_hyp(lr0=0.02),
        paper={"params_M": 5.6, "gflops": 12.1, "ap": 39.9}),
    "gold_yolo-s": ModelConfig(
        name="gold_yolo-s", depth_multiple=0.33, width_multiple=0.50,
        backbone="EfficientRep", neck="RepGDNeck", cspsppf=True,
        neck_extra=NeckExtra(depths=2, fusion_in=960, embed_dim_p=128, embed_dim_n=704,
                             trans_channels=(128, 64, 128, 256), num_heads=4),
        use_dfl=True, reg_max=16, iou_type="giou",
        paper={"params_M": 21.5, "gflops": 46.0, "ap": 46.4}),
    "gold_yolo-m": ModelConfig(
        name="gold_yolo-m", depth_multiple=0.60, width_multiple=0.75,
        backbone="CSPBepBackbone", neck="GDNeck", csp_e=2 / 3,
        neck_extra=NeckExtra(depths=2, fusion_in=1440, embed_dim_p=192, embed_dim_n=1056,
                             trans_channels=(192, 96, 192, 384), num_heads=4),
        use_dfl=True, reg_max=16, iou_type="giou", distill_weight=(0.8, 1.0),
        augment=augment_hyp(scale=0.9, mixup=0.1),
        paper={"params_M": 41.3, "gflops": 87.5, "ap": 51.1}),
    "gold_yolo-l": ModelConfig(
        name="gold_yolo-l", depth_multiple=1.0, width_multiple=1.0,
        backbone="CSPBepBackbone", neck="GDNeck2", csp_e=1 / 2, training_mode="conv_silu",
        neck_extra=NeckExtra(depths=3, fusion_in=1920, embed_dim_p=192, embed_dim_n=1408,
                             trans_channels=(256, 128, 256, 512), num_heads=8),
        use_dfl=True, reg_max=16, iou_type="giou", distill_weight=(2.0, 1.0),
        augment=augment_hyp(scale=0.9, mixup=0.1),
        paper={"params_M": 75.1, "gflops": 151.7, "ap": 53.3}),
}


def get_config(name: str) -> ModelConfig:
    """The configuration of ``name`` (e.g. ``"gold_yolo-s"``); UnknownModelError (a KeyError) lists valid names."""
    key = name.lower().replace("_", "-").replace("gold-yolo", "gold_yolo")
    if key not in CONFIGS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[key]
