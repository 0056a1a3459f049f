"""Building blocks shared by backbone, neck and head (YOLOv6 ``layers/common.py`` in Jittor).

Names of attributes follow the official modules so that ``state_dict`` keys match exactly.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from jittor import nn

from .. import distributed
from ..ops.conv import FUSED_ACTIVATIONS, Conv2d, chains_enabled, conv_chain, runs_onednn
from ..ops.pool import max_pool
from ..runtime import jt
from .bn_kernels import batch_norm_train, parallel_kernels_apply

# Q1: ``initialize_weights`` sets these on every plain ``nn.BatchNorm2d``; the BNs mmcv builds
# from ``norm_cfg=SyncBN`` keep PyTorch's defaults.
PLAIN_BN = dict(eps=1e-3, momentum=0.03)
SYNC_BN = dict(eps=1e-5, momentum=0.1)


class BatchNorm2d(nn.Module):
    """Batch norm with PyTorch semantics: unbiased running variance, ``new = (1-m)*old + m*batch``.

    ``sync=True`` marks the layers that are SyncBatchNorm in the official model. Under MPI every
    layer normalises with the statistics of the global batch, as the official trainer's
    ``--use_syncbn`` (``convert_sync_batchnorm`` under DDP) makes every layer do.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, sync: bool = False):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.sync = sync
        self.weight = jt.ones((num_features,), "float32")
        self.bias = jt.zeros((num_features,), "float32")
        self.running_mean = jt.zeros((num_features,), "float32").stop_grad()
        self.running_var = jt.ones((num_features,), "float32").stop_grad()

    def execute(self, x: jt.Var) -> jt.Var:
        if self.is_training() and parallel_kernels_apply(x):
            out, mean, var = batch_norm_train(x, self.weight, self.bias, self.eps)
            self._update_running(mean, unbiased_variance(var, x.shape[0] * x.shape[2] * x.shape[3]))
            return out
        if x.dtype == "float32":
            scale, shift = self._scale_shift(x)
        else:  # mixed precision: statistics, running buffers and the affine factors in float32, as in cuDNN
            with jt.flag_scope(auto_mixed_precision_level=0):
                scale, shift = self._scale_shift(x.float32())
        return x * scale.reshape((1, -1, 1, 1)) + shift.reshape((1, -1, 1, 1))

    def _scale_shift(self, x: jt.Var) -> Tuple[jt.Var, jt.Var]:
        """Per-channel (scale, shift) of the normalisation; in training also updates the running statistics."""
        if not self.is_training():
            scale = self.weight / jt.sqrt(self.running_var + self.eps)
            return scale, self.bias - self.running_mean * scale
        count = x.shape[0] * x.shape[2] * x.shape[3]
        mean = channel_mean(x)
        centred = x - mean.reshape((1, -1, 1, 1))
        var = channel_mean(centred * centred)
        if jt.in_mpi:
            mean, var, unbiased = global_moments(mean, var, count)
        else:
            unbiased = unbiased_variance(var, count)
        self._update_running(mean, unbiased)
        scale = self.weight / jt.sqrt(var + self.eps)
        return scale, self.bias - mean * scale

    def _update_running(self, mean: jt.Var, unbiased: jt.Var) -> None:
        """PyTorch's running-statistics update from the batch mean and unbiased variance."""
        m = self.momentum
        self.running_mean.update((1 - m) * self.running_mean + m * mean.detach())
        self.running_var.update((1 - m) * self.running_var + m * unbiased.detach())

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, sync={self.sync}"


def channel_mean(x: jt.Var) -> jt.Var:
    """Per-channel mean of NCHW ``x``, reduced one axis at a time.

    One flat float32 sum over N*H*W elements loses about 1e-5 relative; staged sums keep the
    statistics as accurate as PyTorch's, which matters because train-mode BN compounds errors.
    """
    return x.mean(dims=[3]).mean(dims=[2]).mean(dims=[0])


def unbiased_variance(var: jt.Var, count: int) -> jt.Var:
    """The unbiased variance of ``count`` values from their biased one."""
    return var * (count / max(count - 1, 1))


def global_moments(mean: jt.Var, var: jt.Var, count: int) -> Tuple[jt.Var, jt.Var, jt.Var]:
    """(mean, biased variance, unbiased variance) of the global batch from this process's own.

    Every process's (count, mean, biased variance) is gathered and pooled as PyTorch's
    SyncBatchNorm pools them: N = sum n_r, mean = sum n_r m_r / N,
    var = sum n_r (v_r + (m_r - mean)^2) / N. N >= 2 (one value per process at least).
    """
    gathered = distributed.all_gather(jt.stack([jt.full_like(mean, float(count)), mean, var]))
    counts, means, variances = gathered[:, 0], gathered[:, 1], gathered[:, 2]
    total = counts.sum(0)
    pooled_mean = (counts * means).sum(0) / total
    spread = means - pooled_mean.unsqueeze(0)
    pooled_var = (counts * (variances + spread * spread)).sum(0) / total
    return pooled_mean, pooled_var, pooled_var * (total / (total - 1))


def plain_bn(channels: int) -> BatchNorm2d:
    """An ``nn.BatchNorm2d`` after the official ``initialize_weights`` (eps 1e-3, momentum 0.03)."""
    return BatchNorm2d(channels, **PLAIN_BN)


def sync_bn(channels: int) -> BatchNorm2d:
    """A BN built from ``norm_cfg=SyncBN`` (PyTorch defaults eps 1e-5, momentum 0.1)."""
    return BatchNorm2d(channels, sync=True, **SYNC_BN)


def silu(x: jt.Var) -> jt.Var:
    return x * jt.sigmoid(x)


def relu6(x: jt.Var) -> jt.Var:
    return jt.clamp(x, 0.0, 6.0)


ACTIVATIONS = {"relu": nn.relu, "silu": silu, "relu6": relu6, "identity": lambda x: x}


class Conv(nn.Module):
    """Conv2d + BN + activation (yolov6 ``Conv``: SiLU; ``SimConv``: ReLU; ``Conv_C3``: either).

    ``fuse_bn`` folds the BN into the convolution as the official ``fuse_model`` does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = False, padding: Optional[int] = None, act: str = "silu"):
        if padding is None:
            padding = kernel_size // 2
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                           groups=groups, bias=bias)
        self.bn = plain_bn(out_channels)
        self.act_name = act

    def execute(self, x: jt.Var) -> jt.Var:
        if self.bn is None:  # fused: for inference the activation runs inside the convolution
            return self.conv.with_activation(x, self.act_name, ACTIVATIONS[self.act_name])
        return ACTIVATIONS[self.act_name](self.bn(self.conv(x)))

    def fuse_bn(self) -> None:
        """Fold ``bn`` into ``conv`` (which gains a bias) and drop the BN."""
        if self.bn is None:
            return
        weight, bias = fold_bn(self.conv.weight.numpy(), _bias_or_zero(self.conv), self.bn)
        self.conv = _conv_like(self.conv, weight, bias, trainable=True)
        self.bn = None


class GDConv(Conv):
    """gold_yolo's own ``Conv`` (first and last layer of low_IFM): same layer, but a distinct type
    that the official ``fuse_model`` does not fold (Q15)."""


def SimConv(in_channels, out_channels, kernel_size, stride=1, groups=1, bias=False, padding=None) -> Conv:
    """yolov6 ``SimConv``: Conv + BN + ReLU."""
    return Conv(in_channels, out_channels, kernel_size, stride, groups, bias, padding, act="relu")


def ConvC3(in_channels, out_channels, kernel_size=1, stride=1, act="relu") -> Conv:
    """yolov6 ``Conv_C3`` (the 1x1 convs of BepC3)."""
    return Conv(in_channels, out_channels, kernel_size, stride, act=act)


class ConvWrapper(nn.Module):
    """``ConvWrapper``: a ``Conv`` with bias=True and SiLU under the name ``block`` (L's basic block)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, bias: bool = True):
        self.block = Conv(in_channels, out_channels, kernel_size, stride, groups, bias)

    def execute(self, x: jt.Var) -> jt.Var:
        return self.block(x)


class ConvBNBranch(nn.Module):
    """``conv_bn``: the Sequential(conv, bn) branch of a RepVGG block."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, groups=1):
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                           groups=groups, bias=False)
        self.bn = plain_bn(out_channels)

    def execute(self, x: jt.Var) -> jt.Var:
        return self.bn(self.conv(x))


class RepVGGBlock(nn.Module):
    """RepVGG block: ReLU(3x3 conv-BN + 1x1 conv-BN + identity BN); one 3x3 conv after ``switch_to_deploy``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, groups: int = 1):
        if kernel_size != 3 or padding != 1:
            raise ValueError(f"RepVGGBlock is built for kernel_size=3, padding=1 only (the re-parameterisation "
                             f"folds the 1x1 branch into a 3x3 kernel), got {kernel_size} and {padding}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.groups = groups
        self.rbr_identity = plain_bn(in_channels) if out_channels == in_channels and stride == 1 else None
        self.rbr_dense = ConvBNBranch(in_channels, out_channels, 3, stride, 1, groups)
        self.rbr_1x1 = ConvBNBranch(in_channels, out_channels, 1, stride, 0, groups)
        self.rbr_reparam = None

    def execute(self, x: jt.Var) -> jt.Var:
        if self.rbr_reparam is not None:
            return self.rbr_reparam.with_activation(x, "relu", nn.relu)
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            y = y + self.rbr_identity(x)
        return nn.relu(y)

    def equivalent_kernel_bias(self):
        """The single 3x3 kernel and bias equal to the three branches (each BN's own eps)."""
        k3, b3 = fold_bn(self.rbr_dense.conv.weight.numpy(), 0.0, self.rbr_dense.bn)
        k1, b1 = fold_bn(self.rbr_1x1.conv.weight.numpy(), 0.0, self.rbr_1x1.bn)
        kernel = k3 + np.pad(k1, ((0, 0), (0, 0), (1, 1), (1, 1)))
        bias = b3 + b1
        if self.rbr_identity is not None:
            per_group = self.in_channels // self.groups
            identity = np.zeros((self.in_channels, per_group, 3, 3), dtype=np.float32)
            identity[np.arange(self.in_channels), np.arange(self.in_channels) % per_group, 1, 1] = 1.0
            kid, bid = fold_bn(identity, 0.0, self.rbr_identity)
            kernel, bias = kernel + kid, bias + bid
        return kernel, bias

    def switch_to_deploy(self) -> None:
        """Replace the three branches by ``rbr_reparam`` (official ``RepVGGBlock.switch_to_deploy``)."""
        if self.rbr_reparam is not None:
            return
        kernel, bias = self.equivalent_kernel_bias()
        self.rbr_reparam = _conv_like(self.rbr_dense.conv, kernel, bias, trainable=False)
        self.rbr_dense = self.rbr_1x1 = self.rbr_identity = None


def fold_bn(weight: np.ndarray, bias, bn: BatchNorm2d):
    """Fold ``bn`` (running statistics) into a conv kernel and bias; returns numpy float32 arrays."""
    std = np.sqrt(bn.running_var.numpy().astype(np.float32) + np.float32(bn.eps))
    scale = bn.weight.numpy() / std
    new_weight = weight * scale.reshape(-1, 1, 1, 1)
    new_bias = bn.bias.numpy() + (bias - bn.running_mean.numpy()) * scale
    return new_weight.astype(np.float32), new_bias.astype(np.float32)


def _bias_or_zero(conv: nn.Conv2d):
    return conv.bias.numpy() if conv.bias is not None else 0.0


def _conv_like(conv: nn.Conv2d, weight: np.ndarray, bias: np.ndarray, trainable: bool) -> nn.Conv2d:
    """A new Conv2d with ``conv``'s geometry and the given weights.

    ``trainable`` mirrors the official deploy tensors: BN-folded convs keep requires_grad, the
    RepVGG ``rbr_reparam`` tensors are detached.
    """
    out_channels, _, kh, _ = weight.shape
    fused = Conv2d(conv.in_channels, out_channels, kh, stride=conv.stride, padding=conv.padding,
                   groups=conv.groups, bias=True)
    fused.weight = jt.array(weight)
    fused.bias = jt.array(bias)
    if not trainable:
        fused.weight.stop_grad()
        fused.bias.stop_grad()
    return fused


class BottleRep(nn.Module):
    """Two basic blocks with a residual ``+ alpha * x`` (alpha learnable when ``weight=True``)."""

    def __init__(self, in_channels: int, out_channels: int, basic_block=RepVGGBlock, weight: bool = False):
        self.conv1 = basic_block(in_channels, out_channels)
        self.conv2 = basic_block(out_channels, out_channels)
        self.shortcut = in_channels == out_channels
        self.alpha = jt.ones((1,), "float32") if weight else None

    def execute(self, x: jt.Var) -> jt.Var:
        y = self.conv2(self.conv1(x))
        if not self.shortcut:
            return y
        return y + (self.alpha * x if self.alpha is not None else x)


class RepBlock(nn.Module):
    """A stage of ``n`` basic blocks (``n // 2`` BottleReps when ``block`` is BottleRep)."""

    def __init__(self, in_channels: int, out_channels: int, n: int = 1, block=RepVGGBlock, basic_block=RepVGGBlock):
        if block is BottleRep:
            self.conv1 = BottleRep(in_channels, out_channels, basic_block=basic_block, weight=True)
            n = n // 2
            self.block = nn.Sequential(*[BottleRep(out_channels, out_channels, basic_block=basic_block, weight=True)
                                         for _ in range(n - 1)]) if n > 1 else None
        else:
            self.conv1 = block(in_channels, out_channels)
            self.block = nn.Sequential(*[block(out_channels, out_channels) for _ in range(n - 1)]) if n > 1 else None

    def execute(self, x: jt.Var) -> jt.Var:
        return run_chained([self.conv1, *(self.block if self.block is not None else [])], x)


def chain_links(module: nn.Module) -> Optional[List[Tuple[Conv2d, str]]]:
    """The convolutions ``module`` applies one after another in its deploy form, each with the activation it
    applies; None when it does anything else (a branch, a residual, an unfused BN)."""
    if isinstance(module, Conv2d):
        return [(module, "")]
    if isinstance(module, RepVGGBlock):
        return [(module.rbr_reparam, "relu")] if module.rbr_reparam is not None else None
    if isinstance(module, ConvWrapper):
        return chain_links(module.block)
    if isinstance(module, Conv):
        return [(module.conv, module.act_name)] if module.bn is None and module.act_name in FUSED_ACTIVATIONS else None
    if isinstance(module, RepBlock) and isinstance(module.conv1, RepVGGBlock):
        parts = [module.conv1, *(module.block if module.block is not None else [])]
    elif isinstance(module, nn.Sequential):
        parts = list(module)
    else:
        return None
    links: List[Tuple[Conv2d, str]] = []
    for part in parts:
        part_links = chain_links(part)
        if part_links is None:
            return None
        links += part_links
    return links


def run_chained(modules: Sequence[nn.Module], x: jt.Var) -> jt.Var:
    """``x`` through ``modules`` in turn; for inference through oneDNN, each run of deploy-form convolutions
    (:func:`chain_links`) goes through one :func:`~goldyolo.ops.conv.conv_chain`, its intermediate results kept
    in oneDNN's layout. The same result as calling the modules."""
    pending: List[Tuple[Conv2d, str]] = []

    def flush(x):
        if len(pending) > 1:
            x = conv_chain(x, pending)
        elif pending:
            x = pending[0][0](x, act=pending[0][1])
        pending.clear()
        return x

    for module in modules:
        links = chain_links(module)
        if links is None or not (jt.flags.no_grad and chains_enabled() and runs_onednn(x, links[0][0].weight)):
            x = module(flush(x))
        else:
            pending += links
    return flush(x)


class BepC3(nn.Module):
    """Beer-mug RepC3: ``cv3(cat(m(cv1(x)), cv2(x)))`` with hidden width ``int(out * e)``."""

    def __init__(self, in_channels: int, out_channels: int, n: int = 1, e: float = 0.5, block=RepVGGBlock):
        hidden = int(out_channels * e)
        act = "silu" if block is ConvWrapper else "relu"
        self.cv1 = ConvC3(in_channels, hidden, act=act)
        self.cv2 = ConvC3(in_channels, hidden, act=act)
        self.cv3 = ConvC3(2 * hidden, out_channels, act=act)
        self.m = RepBlock(hidden, hidden, n=n, block=BottleRep, basic_block=block)

    def execute(self, x: jt.Var) -> jt.Var:
        return self.cv3(jt.concat([self.m(self.cv1(x)), self.cv2(x)], dim=1))


def max_pool_5(x: jt.Var) -> jt.Var:
    """MaxPool2d(k=5, s=1, p=2) with -inf padding, as PyTorch pads max-pooling.

    The padding is explicit because Jittor's pool refuses maps smaller than the kernel (e.g. the
    2x2 stride-32 map of a 64x64 input), which PyTorch accepts. Jittor's CPU backward of the pool
    does not compile for float16, so there a float16 map is pooled in float32 (exact either way).
    """
    if x.dtype == "float16" and not jt.flags.use_cuda:
        return max_pool_5(x.float32()).float16()
    return max_pool(x, 5, stride=1, padding=2)


class SPPF(nn.Module):
    """SPPF / SimSPPF: cv1, three chained 5x5 max-pools, concat, cv2 (SiLU for SPPF, ReLU for SimSPPF)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, act: str = "relu"):
        if kernel_size != 5:
            raise ValueError(f"SPPF pools with 5x5 windows only (max_pool_5), got kernel_size={kernel_size}")
        hidden = in_channels // 2
        self.cv1 = Conv(in_channels, hidden, 1, 1, act=act)
        self.cv2 = Conv(hidden * 4, out_channels, 1, 1, act=act)

    def execute(self, x: jt.Var) -> jt.Var:
        x = self.cv1(x)
        y1 = max_pool_5(x)
        y2 = max_pool_5(y1)
        return self.cv2(jt.concat([x, y1, y2, max_pool_5(y2)], dim=1))


class CSPSPPF(nn.Module):
    """SimCSPSPPF / CSPSPPF: the SPPF inside a CSP split; the shortcut branch (cv2) comes first."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, e: float = 0.5, act: str = "relu"):
        if kernel_size != 5:
            raise ValueError(f"CSPSPPF pools with 5x5 windows only (max_pool_5), got kernel_size={kernel_size}")
        hidden = int(out_channels * e)
        self.cv1 = Conv(in_channels, hidden, 1, 1, act=act)
        self.cv2 = Conv(in_channels, hidden, 1, 1, act=act)
        self.cv3 = Conv(hidden, hidden, 3, 1, act=act)
        self.cv4 = Conv(hidden, hidden, 1, 1, act=act)
        self.cv5 = Conv(4 * hidden, hidden, 1, 1, act=act)
        self.cv6 = Conv(hidden, hidden, 3, 1, act=act)
        self.cv7 = Conv(2 * hidden, out_channels, 1, 1, act=act)

    def execute(self, x: jt.Var) -> jt.Var:
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y0 = self.cv2(x)
        y1 = max_pool_5(x1)
        y2 = max_pool_5(y1)
        y3 = self.cv6(self.cv5(jt.concat([x1, y1, y2, max_pool_5(y2)], dim=1)))
        return self.cv7(jt.concat([y0, y3], dim=1))


def get_block(training_mode: str):
    """The basic block of ``training_mode`` ('repvgg' or 'conv_silu', the modes the configs use)."""
    blocks = {"repvgg": RepVGGBlock, "conv_silu": ConvWrapper}
    if training_mode not in blocks:
        raise ValueError(f"unsupported training_mode {training_mode!r}; expected one of {sorted(blocks)}")
    return blocks[training_mode]
