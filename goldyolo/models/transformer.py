"""High-GD pieces: the TopFormer-style transformer, the pyramid pooling and the injection module."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from jittor import nn

from .. import distributed
from ..ops.conv import Conv2d
from ..ops.matmul import matmul
from ..runtime import jt
from .common import relu6, sync_bn
from .resample import adaptive_avg_pool2d, resize_bilinear


class Conv2d_BN(nn.Module):
    """1x1 (or k x k) conv without bias + SyncBN; official names ``c`` and ``bn``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, groups: int = 1, bn_weight_init: float = 1.0):
        self.c = Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                        groups=groups, bias=False)
        self.bn = sync_bn(out_channels)
        self.bn_weight_init = bn_weight_init

    def execute(self, x: jt.Var) -> jt.Var:
        return self.bn(self.c(x))


class ConvModule(nn.Module):
    """mmcv ``ConvModule(k=1, norm_cfg=SyncBN, act_cfg=None)``: conv without bias + SyncBN."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1):
        self.conv = Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = sync_bn(out_channels)

    def execute(self, x: jt.Var) -> jt.Var:
        return self.bn(self.conv(x))


class ReLU6(nn.Module):
    def execute(self, x: jt.Var) -> jt.Var:
        return relu6(x)


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability ``drop_prob`` in training.

    Under MPI every process draws for the whole global batch (all use the same seed) and keeps
    its own rows, so that each sample gets the draw it gets in one process.
    """

    def __init__(self, drop_prob: float):
        self.drop_prob = drop_prob

    def execute(self, x: jt.Var) -> jt.Var:
        if self.drop_prob == 0.0 or not self.is_training():
            return x
        keep = 1.0 - self.drop_prob
        rows, ones = x.shape[0], (1,) * (x.ndim - 1)
        start = distributed.rank() * rows
        draw = jt.rand((rows * distributed.world_size(),) + ones, dtype=x.dtype)[start:start + rows]
        return x / keep * jt.floor(keep + draw)


class Mlp(nn.Module):
    """fc1 (Conv2d_BN) -> depthwise 3x3 conv with bias -> ReLU6 -> fc2 (Conv2d_BN) (Q3)."""

    def __init__(self, dim: int, hidden: int):
        self.fc1 = Conv2d_BN(dim, hidden)
        self.dwconv = Conv2d(hidden, hidden, 3, stride=1, padding=1, groups=hidden, bias=True)
        self.fc2 = Conv2d_BN(hidden, dim)

    def execute(self, x: jt.Var) -> jt.Var:
        return self.fc2(relu6(self.dwconv(self.fc1(x))))


class Attention(nn.Module):
    """Multi-head attention over the H*W positions; no 1/sqrt(d) scaling (Q2)."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, attn_ratio: float):
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.d = int(attn_ratio * key_dim)
        self.dh = self.d * num_heads
        self.to_q = Conv2d_BN(dim, key_dim * num_heads)
        self.to_k = Conv2d_BN(dim, key_dim * num_heads)
        self.to_v = Conv2d_BN(dim, self.dh)
        self.proj = nn.Sequential(ReLU6(), Conv2d_BN(self.dh, dim, bn_weight_init=0.0))

    def execute(self, x: jt.Var) -> jt.Var:
        b, _, h, w = x.shape
        q = self.to_q(x).reshape((b, self.num_heads, self.key_dim, h * w)).permute(0, 1, 3, 2)
        k = self.to_k(x).reshape((b, self.num_heads, self.key_dim, h * w))
        v = self.to_v(x).reshape((b, self.num_heads, self.d, h * w)).permute(0, 1, 3, 2)
        attn = nn.softmax(matmul(q, k), dim=-1)
        out = matmul(attn, v).permute(0, 1, 3, 2).reshape((b, self.dh, h, w))
        return self.proj(out)


class TopBlock(nn.Module):
    """``x + drop_path(attn(x))`` then ``x + drop_path(mlp(x))``."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, mlp_ratio: float, attn_ratio: float,
                 drop_path: float):
        self.attn = Attention(dim, key_dim, num_heads, attn_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def execute(self, x: jt.Var) -> jt.Var:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


def linspace(start: float, stop: float, num: int) -> List[float]:
    """``torch.linspace(...).tolist()`` rounded through float32 as the official ``dpr`` list is."""
    return [float(v) for v in np.linspace(start, stop, num, dtype=np.float32)]


class TopBasicLayer(nn.Module):
    """The high-GD transformer: ``depths`` TopBlocks with drop-path rates linspace(0, rate, depths) (Q9)."""

    def __init__(self, block_num: int, embedding_dim: int, key_dim: int, num_heads: int,
                 mlp_ratio: float, attn_ratio: float, drop_path_rate: float):
        self.transformer_blocks = nn.ModuleList([
            TopBlock(embedding_dim, key_dim, num_heads, mlp_ratio, attn_ratio, rate)
            for rate in linspace(0.0, drop_path_rate, block_num)])

    def execute(self, x: jt.Var) -> jt.Var:
        for block in self.transformer_blocks:
            x = block(x)
        return x


class PyramidPoolAgg(nn.Module):
    """Pool every input to ``((H5-1)//stride+1, (W5-1)//stride+1)`` of the last one, then concat."""

    def __init__(self, stride: int):
        self.stride = stride

    def execute(self, inputs: Sequence[jt.Var]) -> jt.Var:
        _, _, h, w = inputs[-1].shape
        size = ((h - 1) // self.stride + 1, (w - 1) // self.stride + 1)
        return jt.concat([adaptive_avg_pool2d(x, size) for x in inputs], dim=1)


def h_sigmoid(x: jt.Var) -> jt.Var:
    return relu6(x + 3.0) / 6.0


class InjectionMultiSum_Auto_pool(nn.Module):
    """Inject global info into a local map: ``BN(conv(x_l)) * up(h_sigmoid(act(x_g))) + up(emb(x_g))`` (Q4)."""

    def __init__(self, inp: int, oup: int):
        self.local_embedding = ConvModule(inp, oup)
        self.global_embedding = ConvModule(inp, oup)
        self.global_act = ConvModule(inp, oup)

    def execute(self, x_l: jt.Var, x_g: jt.Var) -> jt.Var:
        _, _, h, w = x_l.shape
        local_feat = self.local_embedding(x_l)
        global_act = self.global_act(x_g)
        global_feat = self.global_embedding(x_g)
        if h < x_g.shape[2]:
            sig_act = adaptive_avg_pool2d(global_act, (h, w))
            global_feat = adaptive_avg_pool2d(global_feat, (h, w))
        else:
            sig_act = resize_bilinear(h_sigmoid(global_act), (h, w))
            global_feat = resize_bilinear(global_feat, (h, w))
        return local_feat * sig_act + global_feat
