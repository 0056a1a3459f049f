"""2-D convolution through oneDNN with primitives kept per shape (:mod:`goldyolo.ops.onednn_source`), as a
Jittor operator with its own backward; :class:`Conv2d` uses it when the backend is ``onednn`` (the default
on the CPU) and Jittor's own convolution otherwise (``GOLDYOLO_CONV=jittor``, or :func:`use_backend`)."""
from __future__ import annotations

import contextlib
import functools
import os
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Tuple

from jittor import nn

from ..runtime import dnnl_target_dir, jt
from .onednn_source import GEOMETRY, GEOMETRY_KEYS, HEADER

BACKENDS = ("onednn", "jittor")
FUSED_ACTIVATIONS = {"": 0, "identity": 0, "relu": 1, "silu": 2, "relu6": 3}  # codes of the C++ side
PRECISIONS = ("float32", "bf16")
_state = {"backend": os.environ.get("GOLDYOLO_CONV", "onednn"), "precision": "float32", "generation": 0,
          "periods": 0, "chains": True}


@functools.lru_cache(maxsize=None)
def _flags() -> Optional[dict]:
    """Compiler flags that link the oneDNN Jittor loads (the one :func:`goldyolo.runtime.ensure_onednn` put
    where Jittor looks, or Jittor's own download); None when Jittor runs without oneDNN."""
    folder = dnnl_target_dir()
    if os.environ.get("use_mkl", "1") != "1" or not (folder / "lib" / "libmkldnn.so").exists():
        return None
    include, lib = (folder / "include").resolve(), (folder / "lib").resolve()
    return {f"FLAGS: -I{include} -L{lib} -lmkldnn -Wl,-rpath,{lib} ": 1}


def backend() -> str:
    """The convolution backend in use: ``onednn`` (when Jittor has oneDNN) or ``jittor``."""
    if _state["backend"] not in BACKENDS:
        raise ValueError(f"GOLDYOLO_CONV={_state['backend']!r}: choose from {list(BACKENDS)}")
    return _state["backend"] if _flags() is not None else "jittor"


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run the block with convolutions through ``name`` (``onednn`` or ``jittor``)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown convolution backend {name!r}: choose from {list(BACKENDS)}")
    previous, _state["backend"] = _state["backend"], name
    try:
        yield
    finally:
        _state["backend"] = previous


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere oneDNN would emulate it slowly."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def precision() -> str:
    """What the oneDNN convolutions compute in: ``float32`` or ``bf16`` (inputs and weights rounded to bf16,
    products accumulated and results written in float32)."""
    return _state["precision"]


@contextlib.contextmanager
def use_precision(name: str) -> Iterator[None]:
    """Run the block with the convolutions in ``name``; bf16 where the CPU has no bf16 instructions falls back
    to float32 with a warning."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: choose from {list(PRECISIONS)}")
    if name == "bf16" and not cpu_has_bf16():
        warnings.warn("this CPU has no bf16 instructions (AVX-512 BF16 or AMX): convolutions stay in float32",
                      stacklevel=3)
        name = "float32"
    if name == "bf16" and backend() != "onednn":
        raise ValueError("bf16 convolutions need the oneDNN backend (GOLDYOLO_CONV=onednn and Jittor with oneDNN)")
    previous, _state["precision"] = _state["precision"], name
    try:
        yield
    finally:
        _state["precision"] = previous


def new_period() -> int:
    """A new period of frozen weights (see :func:`frozen_weights`)."""
    _state["periods"] += 1
    return _state["periods"]


@contextlib.contextmanager
def frozen_weights(period: Optional[int] = None) -> Iterator[None]:
    """Promise that no weight changes inside the block: inference convolutions keep their weights in oneDNN's
    layout instead of reordering them at every call. Each block is a new period (the kept copies of an earlier
    one are dropped) unless ``period`` (from :func:`new_period`) names one to continue; nested blocks share the
    outer one."""
    if _state["generation"]:
        yield
        return
    _state["generation"] = period or new_period()
    try:
        yield
    finally:
        _state["generation"] = 0


def chains_enabled() -> bool:
    """Whether models may run consecutive inference convolutions through one :func:`conv_chain`."""
    return _state["chains"]


@contextlib.contextmanager
def no_chains() -> Iterator[None]:
    """Run every convolution as its own call (so that per-module timing sees each one)."""
    previous, _state["chains"] = _state["chains"], False
    try:
        yield
    finally:
        _state["chains"] = previous


def _generation() -> int:
    """The frozen period a call may keep weights for (0: none, or gradients are being recorded)."""
    return _state["generation"] if jt.flags.no_grad else 0


def _pair(v) -> Tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _geometry(x_shape, w_shape, stride, padding, dilation, groups: int) -> dict:
    n, c, h, w = x_shape
    oc, _, kh, kw = w_shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    return dict(n=n, c=c, h=h, w=w, oc=oc, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh, dw=dw, groups=groups,
                bf16=int(precision() == "bf16"))


def _output_shape(d: dict) -> Tuple[int, int, int, int]:
    return (d["n"], d["oc"], output_size(d["h"], d["kh"], d["sh"], d["ph"], d["dh"]),
            output_size(d["w"], d["kw"], d["sw"], d["pw"], d["dw"]))


def _code(shapes, dtypes, inputs, call: str, data: dict, geometry: str = GEOMETRY):
    outputs = jt.code(shapes, dtypes, inputs, cpu_header=HEADER, cpu_src=geometry + call, data=data)
    for out in outputs:
        out.compile_options = _flags()
    return outputs


def output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


class OneDNNConv(jt.Function):
    """y = conv(x, w) + b with oneDNN; gradients for x, w and b by its backward primitives.

    Args:
        x: (N, C, H, W) float32.
        weight: (OC, C / groups, KH, KW) float32.
        bias: (OC,) float32 or None.
    Returns:
        (N, OC, OH, OW) float32.
    """

    def execute(self, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, act: str = ""):
        self.data = _geometry(x.shape, weight.shape, stride, padding, dilation, groups)
        self.act = FUSED_ACTIVATIONS[act]
        self.saved = (x, weight, bias)
        training = "true" if jt.flags.no_grad == 0 else "false"
        bias_in = "nullptr" if bias is None else "in2_p"
        call = (f"goldyolo_dnnl::conv_forward(g, in0_p, in1_p, {bias_in}, out0_p, {training}, {self.act}, "
                "(long)data[\"generation\"]);")
        return _code([_output_shape(self.data)], [x.dtype], [v for v in (x, weight, bias) if v is not None], call,
                     dict(self.data, generation=_generation()))[0]

    def grad(self, grad_out):
        if self.act:
            raise RuntimeError("a convolution with a fused activation has no gradient: fuse only under jt.no_grad()")
        x, weight, bias = self.saved
        params = [v for v in (weight, bias) if v is not None]  # the bias gradient comes with the weights'
        grads = _code([x.shape] + [v.shape for v in params], [x.dtype] + [v.dtype for v in params],
                      [grad_out, weight, x], "goldyolo_dnnl::conv_backward(g, in0_p, in1_p, in2_p, out0_p, out1_p, "
                      f"{'nullptr' if bias is None else 'out2_p'});", self.data)
        return grads[0], grads[1], grads[2] if bias is not None else None


def runs_onednn(x, weight) -> bool:
    """Whether a convolution of ``x`` by ``weight`` takes the oneDNN path: float32 Vars on the CPU with that
    backend in use (an ONNX trace, CUDA, float16 take Jittor's)."""
    return (backend() == "onednn" and not jt.flags.use_cuda and isinstance(x, jt.Var) and x.dtype == "float32"
            and weight.dtype == "float32")


def conv_chain(x, links: Sequence[Tuple["Conv2d", str]]):
    """Inference through consecutive convolutions in one oneDNN call, the results between them kept in oneDNN's
    channels-last layout (bf16 under bf16 precision) instead of Jittor's NCHW float32.

    Args:
        x: (N, C, H, W) float32, the first convolution's input.
        links: (convolution, activation applied inside it: one of :data:`FUSED_ACTIVATIONS`), each reading the
            result of the one before.
    Returns:
        (N, OC, OH, OW) float32, the last convolution's result; equal to applying the links in turn.
    """
    if not jt.flags.no_grad or not all(runs_onednn(x, conv.weight) for conv, _ in links):
        raise ValueError("conv_chain is for inference (jt.no_grad) through oneDNN with float32 weights")
    data, shape, inputs, lines, weights, biases = {"generation": _generation()}, tuple(x.shape), [x], [], [], []
    for i, (conv, act) in enumerate(links):
        d = _geometry(shape, conv.weight.shape, conv.stride, conv.padding, conv.dilation, conv.groups)
        if d["c"] != conv.in_channels:
            raise ValueError(f"conv_chain: link {i} reads {conv.in_channels} channels, the one before gives {d['c']}")
        data.update({f"{k}{i}": v for k, v in d.items()}, **{f"act{i}": FUSED_ACTIVATIONS[act]})
        lines.append("gs.emplace_back(" + ", ".join(f"(long)data[\"{k}{i}\"]" for k in GEOMETRY_KEYS)
                     + f", data[\"bf16{i}\"] != 0); acts[{i}] = (int)data[\"act{i}\"];")
        inputs.append(conv.weight)
        weights.append(f"in{len(inputs) - 1}_p")
        if conv.bias is not None:
            inputs.append(conv.bias)
        biases.append(f"in{len(inputs) - 1}_p" if conv.bias is not None else "nullptr")
        shape = _output_shape(d)
    source = (f"std::vector<goldyolo_dnnl::Geometry> gs; int acts[{len(links)}];\n" + "\n".join(lines)
              + f"\nconst void* ws[] = {{{', '.join(weights)}}};\nconst float* bs[] = {{{', '.join(biases)}}};\n"
              "goldyolo_dnnl::conv_chain(gs, acts, in0_p, ws, bs, out0_p, (long)data[\"generation\"]);")
    return _code([shape], [x.dtype], inputs, source, data, geometry="")[0]


def conv2d(x, weight, bias: Optional[jt.Var] = None, stride=1, padding=0, dilation=1, groups: int = 1):
    """``jt.nn.conv2d`` through the backend in use (oneDNN's only for float32 on the CPU)."""
    if runs_onednn(x, weight):
        return OneDNNConv.apply(x, weight, bias, stride, padding, dilation, groups)
    return nn.conv2d(x, weight, bias, stride, padding, dilation, groups)


class Conv2d(nn.Conv2d):
    """``jt.nn.Conv2d`` (same parameters and names) whose convolution goes through :func:`conv2d`."""

    def execute(self, x, act: str = ""):
        """The convolution of ``x``; ``act``: an activation applied inside it (oneDNN, inference only)."""
        if runs_onednn(x, self.weight):
            return OneDNNConv.apply(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                    self.groups, act)
        if act:
            raise ValueError("an activation inside the convolution needs the oneDNN path")
        return super().execute(x)

    def with_activation(self, x, name: str, activation: Callable):
        """``activation(self(x))``; without gradients on the oneDNN path, the activation ``name`` (relu, silu,
        relu6) is applied inside the convolution (through ``execute``, so that its wrappers still see it)."""
        if FUSED_ACTIVATIONS.get(name) and jt.flags.no_grad and runs_onednn(x, self.weight):
            return self(x, act=name)
        return activation(self(x))
