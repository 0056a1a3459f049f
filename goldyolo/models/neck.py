"""The Gather-and-Distribute necks: RepGDNeck (N, S), GDNeck (M) and GDNeck2 (L)."""
from __future__ import annotations

from typing import List, Sequence

from jittor import nn

from ..config import NeckExtra
from ..ops.conv import Conv2d
from ..runtime import jt
from .common import BepC3, GDConv, RepBlock, SimConv, run_chained
from .resample import adaptive_avg_pool2d, resize_bilinear
from .transformer import InjectionMultiSum_Auto_pool, PyramidPoolAgg, TopBasicLayer


class SimFusion_4in(nn.Module):
    """Low-GD alignment: ``cat(pool(c2), pool(c3), c4, up(c5))`` at c4's size."""

    def execute(self, x: Sequence[jt.Var]) -> jt.Var:
        x_l, x_m, x_s, x_n = x
        size = x_s.shape[2:]
        return jt.concat([adaptive_avg_pool2d(x_l, size), adaptive_avg_pool2d(x_m, size), x_s,
                          resize_bilinear(x_n, size)], dim=1)


class SimFusion_3in(nn.Module):
    """Local fusion: ``cv_fuse(cat(pool(a), cv1(b), up(c)))`` at b's size (Q6)."""

    def __init__(self, in_channel_list: Sequence[int], out_channels: int):
        self.cv1 = SimConv(in_channel_list[0], out_channels, 1, 1)
        self.cv_fuse = SimConv(out_channels * 3, out_channels, 1, 1)

    def execute(self, x: Sequence[jt.Var]) -> jt.Var:
        size = x[1].shape[2:]
        return self.cv_fuse(jt.concat([adaptive_avg_pool2d(x[0], size), self.cv1(x[1]),
                                       resize_bilinear(x[2], size)], dim=1))


class AdvPoolFusion(nn.Module):
    """``cat(pool(a to b's size), b)``."""

    def execute(self, x1: jt.Var, x2: jt.Var) -> jt.Var:
        return jt.concat([adaptive_avg_pool2d(x1, x2.shape[2:]), x2], dim=1)


class GDNeck(nn.Module):
    """Low-GD (conv fusion, injected into p4 and p3) then high-GD (transformer, injected into n4, n5).

    ``csp_e=None`` builds RepGDNeck (RepBlock stages); a value builds GDNeck (BepC3 stages).
    ``n5_from_p4=True`` is GDNeck2, which feeds p4 rather than n4 into LAF_n5 (Q8).
    """

    def __init__(self, channels: List[int], num_repeats: List[int], block, extra: NeckExtra,
                 csp_e: float | None = None, n5_from_p4: bool = False):
        def stage(c_in: int, c_out: int, n: int) -> nn.Module:
            if csp_e is None:
                return RepBlock(c_in, c_out, n=n, block=block)
            return BepC3(c_in, c_out, n=n, e=csp_e, block=block)

        self.trans_channels = list(extra.trans_channels)
        self.n5_from_p4 = n5_from_p4
        self.low_FAM = SimFusion_4in()
        self.low_IFM = nn.Sequential(
            GDConv(extra.fusion_in, extra.embed_dim_p, kernel_size=1, stride=1, padding=0),
            *[block(extra.embed_dim_p, extra.embed_dim_p) for _ in range(extra.fuse_block_num)],
            GDConv(extra.embed_dim_p, sum(self.trans_channels[0:2]), kernel_size=1, stride=1, padding=0))

        self.reduce_layer_c5 = SimConv(channels[4], channels[5], 1, 1)
        self.LAF_p4 = SimFusion_3in([channels[3], channels[3]], channels[5])
        self.Inject_p4 = InjectionMultiSum_Auto_pool(channels[5], channels[5])
        self.Rep_p4 = stage(channels[5], channels[5], num_repeats[5])

        self.reduce_layer_p4 = SimConv(channels[5], channels[6], 1, 1)
        self.LAF_p3 = SimFusion_3in([channels[5], channels[5]], channels[6])
        self.Inject_p3 = InjectionMultiSum_Auto_pool(channels[6], channels[6])
        self.Rep_p3 = stage(channels[6], channels[6], num_repeats[6])

        self.high_FAM = PyramidPoolAgg(stride=extra.c2t_stride)
        self.high_IFM = TopBasicLayer(extra.depths, extra.embed_dim_n, extra.key_dim, extra.num_heads,
                                      extra.mlp_ratio, extra.attn_ratio, extra.drop_path_rate)
        self.conv_1x1_n = Conv2d(extra.embed_dim_n, sum(self.trans_channels[2:4]), 1, stride=1, padding=0)

        self.LAF_n4 = AdvPoolFusion()
        self.Inject_n4 = InjectionMultiSum_Auto_pool(channels[8], channels[8])
        self.Rep_n4 = stage(channels[6] + channels[7], channels[8], num_repeats[7])

        self.LAF_n5 = AdvPoolFusion()
        self.Inject_n5 = InjectionMultiSum_Auto_pool(channels[10], channels[10])
        self.Rep_n5 = stage(channels[5] + channels[9], channels[10], num_repeats[8])

    def execute(self, inputs: Sequence[jt.Var]) -> List[jt.Var]:
        c2, c3, c4, c5 = inputs
        low = run_chained(self.low_IFM, self.low_FAM(inputs))
        low_global = jt.split(low, self.trans_channels[0:2], dim=1)

        c5_half = self.reduce_layer_c5(c5)
        p4 = self.Rep_p4(self.Inject_p4(self.LAF_p4([c3, c4, c5_half]), low_global[0]))
        p4_half = self.reduce_layer_p4(p4)
        p3 = self.Rep_p3(self.Inject_p3(self.LAF_p3([c2, c3, p4_half]), low_global[1]))

        high = self.conv_1x1_n(self.high_IFM(self.high_FAM([p3, p4, c5])))
        high_global = jt.split(high, self.trans_channels[2:4], dim=1)

        n4 = self.Rep_n4(self.Inject_n4(self.LAF_n4(p3, p4_half), high_global[0]))
        n5_source = p4 if self.n5_from_p4 else n4
        n5 = self.Rep_n5(self.Inject_n5(self.LAF_n5(n5_source, c5_half), high_global[1]))
        return [p3, n4, n5]
