"""Backbones: EfficientRep (N, S) and CSPBepBackbone (M, L), returning c2..c5 (``fuse_P2=True``)."""
from __future__ import annotations

from typing import List, Tuple

from jittor import nn

from ..runtime import jt
from .common import CSPSPPF, SPPF, BepC3, ConvWrapper, RepBlock, run_chained


class EfficientRep(nn.Module):
    """Stem + four ERBlocks; each ERBlock is a stride-2 block then a stage, the last adds an SPPF.

    ``csp_e`` set makes it CSPBepBackbone: stages are BepC3 instead of RepBlock.
    """

    def __init__(self, channels: List[int], num_repeats: List[int], block, cspsppf: bool = False,
                 csp_e: float | None = None, in_channels: int = 3):
        self.stem = block(in_channels, channels[0], kernel_size=3, stride=2)

        def stage(c_in: int, c_out: int, n: int) -> List[nn.Module]:
            down = block(c_in, c_out, kernel_size=3, stride=2)
            if csp_e is None:
                return [down, RepBlock(c_out, c_out, n=n, block=block)]
            return [down, BepC3(c_out, c_out, n=n, e=csp_e, block=block)]

        self.ERBlock_2 = nn.Sequential(*stage(channels[0], channels[1], num_repeats[1]))
        self.ERBlock_3 = nn.Sequential(*stage(channels[1], channels[2], num_repeats[2]))
        self.ERBlock_4 = nn.Sequential(*stage(channels[2], channels[3], num_repeats[3]))
        silu = block is ConvWrapper
        merge_type = CSPSPPF if cspsppf else SPPF
        merge = merge_type(channels[4], channels[4], kernel_size=5, act="silu" if silu else "relu")
        self.ERBlock_5 = nn.Sequential(*stage(channels[3], channels[4], num_repeats[4]), merge)

    def execute(self, x: jt.Var) -> Tuple[jt.Var, jt.Var, jt.Var, jt.Var]:
        c2 = run_chained([self.stem, *self.ERBlock_2], x)
        c3 = run_chained(self.ERBlock_3, c2)
        c4 = run_chained(self.ERBlock_4, c3)
        c5 = run_chained(self.ERBlock_5, c4)
        return c2, c3, c4, c5
