"""Max and average pooling through oneDNN for inference (:func:`goldyolo.ops.onednn_source` ``pool_forward``):
Jittor's CPU pooling and its window means run on one thread; with gradients, on CUDA, for other data types or
without oneDNN, Jittor's own operations run instead."""
from __future__ import annotations

from jittor import nn

from ..runtime import jt
from .conv import _code, backend, output_size


def _onednn(x) -> bool:
    """Whether ``x`` pools through oneDNN: a float32 Var on the CPU, without gradients (an ONNX trace's values
    and everything else take Jittor's operations)."""
    return (backend() == "onednn" and bool(jt.flags.no_grad) and not jt.flags.use_cuda and isinstance(x, jt.Var)
            and x.dtype == "float32")


def _pool(x, kernel: int, stride: int, padding: int, average: bool):
    n, c, h, w = x.shape
    shape = (n, c, output_size(h, kernel, stride, padding, 1), output_size(w, kernel, stride, padding, 1))
    data = dict(n=n, c=c, h=h, w=w, k=kernel, s=stride, p=padding, average=int(average))
    call = ("goldyolo_dnnl::pool_forward(" + ", ".join(f"(long)data[\"{k}\"]" for k in "nchwkkssp")
            + ", (long)data[\"p\"], data[\"average\"] != 0, in0_p, out0_p);")
    return _code([shape], [x.dtype], [x], call, data, geometry="")[0]


def max_pool(x, kernel: int, stride: int = 1, padding: int = 0):
    """Max pooling of NCHW ``x``; the padding never wins (PyTorch pads max pooling with -inf)."""
    if _onednn(x):
        return _pool(x, kernel, stride, padding, average=False)
    if padding:
        x = nn.pad(x, (padding,) * 4, mode="constant", value=float("-inf"))
    return nn.pool(x, kernel_size=kernel, op="maximum", stride=stride, padding=0)


def window_mean(x, kh: int, kw: int):
    """The mean of each (kh, kw) window of NCHW ``x`` tiled without overlap (H, W multiples of kh, kw)."""
    n, c, h, w = x.shape
    if _onednn(x) and kh == kw:
        return _pool(x, kh, kh, 0, average=True)
    return x.reshape((n, c, h // kh, kh, w // kw, kw)).mean(dims=[3, 5])
