"""The official deploy conversion: ``fuse_model`` then ``switch_to_deploy`` (Q15)."""
from __future__ import annotations

from .common import Conv, RepVGGBlock
from .yolo import GoldYOLO


def fuse(model: GoldYOLO) -> GoldYOLO:
    """Convert ``model`` in place to deploy form and return it in eval mode.

    1. ``fuse_model``: fold BN into every yolov6 ``Conv`` / ``SimConv`` / ``Conv_C3`` (exact type
       ``Conv`` here; gold_yolo's own Conv, the transformer's Conv2d_BN and the Inject ConvModules
       keep their BN, as in the official code).
    2. ``switch_to_deploy``: re-parameterise every RepVGG block into one 3x3 conv (``rbr_reparam``).
    """
    for module in model.modules():
        if type(module) is Conv:
            module.fuse_bn()
        elif isinstance(module, RepVGGBlock):
            module.switch_to_deploy()
    return model.eval()
