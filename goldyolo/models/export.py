"""ONNX export of the deploy model, written with the ``onnx`` package from goldyolo's own module graph.

Jittor has no exporter, so the model's own ``execute`` methods are run on :class:`Traced` values: each
carries the real Jittor result (so shapes, and a check of every step, come for free) and the name of the
ONNX value that computes it. While tracing, the Jittor functions the model calls (``jt.concat``,
``jt.matmul``, ``nn.relu``, ``nn.Conv2d``...) and ``Var``'s operators are wrapped to record a node when a
traced value takes part; parameters and other plain Vars become initializers. The graph has static shapes
(the traced input size): one image batch in, ``(B, A, 5 + nc)`` out, as the official ``export_onnx.py``
without ``--end2end``: cx, cy, w, h in input pixels, a constant 1, the class probabilities.
"""
from __future__ import annotations

import contextlib
from typing import Dict, List, Sequence

import numpy as np

from ..errors import InputError
from ..ops.conv import Conv2d
from ..runtime import jt

OPSET = 13


class Graph:
    """Nodes and initializers recorded while tracing."""

    def __init__(self):
        from onnx import helper
        self.helper = helper
        self.nodes: List = []
        self.initializers: Dict[str, np.ndarray] = {}
        self._constants: Dict[int, str] = {}
        self._alive: List = []
        self._count = 0

    def name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def constant(self, value) -> str:
        """The initializer holding ``value`` (a Var, array or number), made once per Var."""
        key = id(value) if isinstance(value, jt.Var) else None
        if key is not None and key in self._constants:
            return self._constants[key]
        array = value.numpy() if isinstance(value, jt.Var) else np.asarray(value, dtype=np.float32)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = self.name("const")
        self.initializers[name] = array
        if key is not None:  # the Var is kept alive, so that its id is not reused by another one
            self._constants[key] = name
            self._alive.append(value)
        return name

    def int64(self, values: Sequence[int]) -> str:
        name = self.name("shape")
        self.initializers[name] = np.asarray(values, dtype=np.int64)
        return name

    def node(self, op: str, inputs: Sequence[str], value, **attrs) -> "Traced":
        out = self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], **attrs))
        return Traced(value, out, self)


class Traced:
    """A traced value: the real Jittor ``value`` and the ONNX value ``onnx`` that computes it."""

    def __init__(self, value: jt.Var, onnx: str, graph: Graph):
        self.value, self.onnx, self.graph = value, onnx, graph

    # what the model reads from a Var
    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numel(self):
        return self.value.numel()

    def _ref(self, other) -> str:
        return other.onnx if isinstance(other, Traced) else self.graph.constant(other)

    def _binary(self, op: str, other, reverse: bool = False) -> "Traced":
        a, b = (self.value, _value(other))
        value = {"Add": lambda: a + b, "Sub": lambda: (b - a) if reverse else (a - b),
                 "Mul": lambda: a * b, "Div": lambda: (b / a) if reverse else (a / b),
                 "MatMul": lambda: jt.matmul(b, a) if reverse else jt.matmul(a, b)}[op]()
        names = [self._ref(other), self.onnx] if reverse else [self.onnx, self._ref(other)]
        return self.graph.node(op, names, value)

    def __add__(self, other):
        return self._binary("Add", other)

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary("Sub", other)

    def __rsub__(self, other):
        return self._binary("Sub", other, reverse=True)

    def __mul__(self, other):
        return self._binary("Mul", other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._binary("Div", other)

    def __rtruediv__(self, other):
        return self._binary("Div", other, reverse=True)

    def __matmul__(self, other):
        return self._binary("MatMul", other)

    def __rmatmul__(self, other):
        return self._binary("MatMul", other, reverse=True)

    def __neg__(self):
        return self.graph.node("Neg", [self.onnx], -self.value)

    def __pow__(self, exponent):
        return self.graph.node("Pow", [self.onnx, self.graph.constant(np.float32(exponent))], self.value ** exponent)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        if any(i is Ellipsis for i in index):
            at = index.index(Ellipsis)
            index = index[:at] + (slice(None),) * (len(self.shape) - len(index) + 1) + index[at + 1:]
        starts, ends, axes, steps = [], [], [], []
        for axis, item in enumerate(index):
            if not isinstance(item, slice):
                raise InputError(f"ONNX export: indexing with {item!r} is not supported")
            if item == slice(None):
                continue
            start, stop, step = item.indices(self.shape[axis])
            starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
        value = self.value[index]
        if not axes:
            return self
        g = self.graph
        return g.node("Slice", [self.onnx, g.int64(starts), g.int64(ends), g.int64(axes), g.int64(steps)], value)

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        value = self.value.reshape(shape)
        return self.graph.node("Reshape", [self.onnx, self.graph.int64(value.shape)], value)

    view = reshape

    def permute(self, *dims):
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return self.graph.node("Transpose", [self.onnx], self.value.permute(*dims), perm=list(dims))

    def transpose(self, *dims):
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        if len(dims) == 2:  # swap two axes
            perm = list(range(len(self.shape)))
            perm[dims[0]], perm[dims[1]] = perm[dims[1]], perm[dims[0]]
            dims = tuple(perm)
        return self.permute(*dims)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        value = self.value.flatten(start_dim, end_dim)
        return self.graph.node("Reshape", [self.onnx, self.graph.int64(value.shape)], value)

    def sigmoid(self):
        return self.graph.node("Sigmoid", [self.onnx], self.value.sigmoid())

    def exp(self):
        return self.graph.node("Exp", [self.onnx], self.value.exp())

    def mean(self, dims=None, keepdims: bool = False):
        if dims is None:
            dims = range(len(self.shape))
        axes = list(dims) if isinstance(dims, (list, tuple, range)) else [dims]
        value = self.value.mean(dims=axes, keepdims=keepdims)
        return self.graph.node("ReduceMean", [self.onnx], value, axes=axes, keepdims=int(keepdims))

    def float32(self):
        return self

    def stop_grad(self):
        return self

    def detach(self):
        return self


def _value(x):
    return x.value if isinstance(x, Traced) else x


def _graph_of(args) -> Graph:
    for a in args:
        if isinstance(a, Traced):
            return a.graph
        if isinstance(a, (list, tuple)):
            found = _graph_of(a)
            if found is not None:
                return found
    return None


@contextlib.contextmanager
def tracing():
    """Wrap the Jittor functions and Var operators the model uses so that traced values record nodes."""
    from jittor import nn
    saved = []

    def patch(owner, name, make):
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def traced_or(original, build):
        def wrapper(*args, **kwargs):
            graph = _graph_of(list(args) + list(kwargs.values()))
            if graph is None:
                return original(*args, **kwargs)
            return build(graph, original, *args, **kwargs)
        return wrapper

    def concat(graph, original, items, dim=0):
        value = original([_value(i) for i in items], dim)
        axis = dim if dim >= 0 else len(value.shape) + dim
        return graph.node("Concat", [i.onnx if isinstance(i, Traced) else graph.constant(i) for i in items], value,
                          axis=axis)

    def unary(op):
        return lambda graph, original, x, *rest, **kw: graph.node(op, [x.onnx], original(x.value, *rest, **kw))

    def matmul(graph, original, a, b):
        value = original(_value(a), _value(b))
        names = [a.onnx if isinstance(a, Traced) else graph.constant(a), b.onnx if isinstance(b, Traced)
                 else graph.constant(b)]
        return graph.node("MatMul", names, value)

    def softmax(graph, original, x, dim=None, **kw):
        value = original(x.value, dim, **kw)
        return graph.node("Softmax", [x.onnx], value, axis=dim if dim >= 0 else len(x.shape) + dim)

    def clamp(graph, original, x, min_v=None, max_v=None):
        value = original(x.value, min_v, max_v)
        return graph.node("Clip", [x.onnx, graph.constant(np.float32(min_v)), graph.constant(np.float32(max_v))],
                          value)

    def split(graph, original, x, split_size, dim=0):
        values = original(x.value, split_size, dim)
        sizes = [v.shape[dim] for v in values]
        outs = [graph.name("split") for _ in values]
        graph.nodes.append(graph.helper.make_node("Split", [x.onnx, graph.int64(sizes)], outs, axis=dim))
        return [Traced(v, o, graph) for v, o in zip(values, outs)]

    def pad(graph, original, x, pad, mode="constant", value=0):
        out = original(x.value, pad, mode=mode, value=value)
        left, right, top, bottom = pad
        pads = graph.int64([0, 0, top, left, 0, 0, bottom, right])
        return graph.node("Pad", [x.onnx, pads, graph.constant(np.float32(value))], out, mode="constant")

    def pool(graph, original, x, kernel_size, op="maximum", stride=None, padding=0, **kw):
        if op != "maximum":
            raise InputError(f"ONNX export: pool op {op!r} is not supported")
        value = original(x.value, kernel_size, op=op, stride=stride, padding=padding, **kw)
        return graph.node("MaxPool", [x.onnx], value, kernel_shape=[kernel_size, kernel_size],
                          strides=[stride or kernel_size] * 2, pads=[padding] * 4)

    def conv_execute(original):
        def execute(self, x):
            if not isinstance(x, Traced):
                return original(self, x)
            g = x.graph
            inputs = [x.onnx, g.constant(self.weight)] + ([g.constant(self.bias)] if self.bias is not None else [])
            kh, kw = self.weight.shape[2:]
            stride = self.stride if isinstance(self.stride, (tuple, list)) else (self.stride, self.stride)
            padding = self.padding if isinstance(self.padding, (tuple, list)) else (self.padding, self.padding)
            dilation = self.dilation if isinstance(self.dilation, (tuple, list)) else (self.dilation, self.dilation)
            return g.node("Conv", inputs, original(self, x.value), kernel_shape=[kh, kw], strides=list(stride),
                          pads=[padding[0], padding[1], padding[0], padding[1]], dilations=list(dilation),
                          group=self.groups)
        return execute

    def var_operator(name, reflected):
        def make(original):
            def op(a, b):
                if isinstance(b, Traced):
                    return getattr(b, reflected)(a)
                return original(a, b)
            return op
        return make

    for name, build in (("concat", concat), ("matmul", matmul), ("sigmoid", unary("Sigmoid")),
                        ("sqrt", unary("Sqrt")), ("clamp", clamp), ("split", split)):
        patch(jt, name, lambda original, build=build: traced_or(original, build))
    for name, build in (("relu", unary("Relu")), ("softmax", softmax), ("pad", pad), ("pool", pool)):
        patch(nn, name, lambda original, build=build: traced_or(original, build))
    from . import common
    relu = nn.relu
    saved.append((common.ACTIVATIONS, "relu", common.ACTIVATIONS["relu"]))
    common.ACTIVATIONS["relu"] = lambda x: relu(x)  # the table holds the function itself: call the wrapped one
    patch(nn.Conv2d, "execute", conv_execute)
    patch(Conv2d, "execute", conv_execute)  # the model's convolutions (oneDNN's path or Jittor's)
    for name, reflected in (("__add__", "__radd__"), ("__sub__", "__rsub__"), ("__mul__", "__rmul__"),
                            ("__truediv__", "__rtruediv__"), ("__matmul__", "__rmatmul__")):
        patch(jt.Var, name, var_operator(name, reflected))
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            if isinstance(owner, dict):
                owner[name] = original
            else:
                setattr(owner, name, original)


def export_onnx(model, path: str, img_size: int = 640, batch: int = 1, check: bool = True) -> Dict:
    """Trace ``model`` (deploy form, eval mode) on a ``batch x 3 x img_size x img_size`` input and write
    the ONNX file; with ``check``, run it with onnxruntime and compare with Jittor. Returns what was done."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    model.eval()
    x = jt.array(np.random.default_rng(0).random((batch, 3, img_size, img_size)).astype(np.float32))
    graph = Graph()
    with jt.no_grad(), tracing():
        out = model(Traced(x, "images", graph))
    if not isinstance(out, Traced):
        raise InputError("ONNX export: the model's output was not traced (an operation is not supported)")
    expected = model(x).numpy()
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, img_size, img_size])]
    graph.nodes.append(helper.make_node("Identity", [out.onnx], ["outputs"]))
    outputs = [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, list(expected.shape))]
    proto = helper.make_graph(graph.nodes, "gold_yolo", inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in graph.initializers.items()])
    onnx_model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="goldyolo")
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, path)
    result = {"path": str(path), "opset": OPSET, "input": [batch, 3, img_size, img_size],
              "output": list(expected.shape), "nodes": len(graph.nodes)}
    if check:
        import onnxruntime
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(["outputs"], {"images": x.numpy()})[0]
        result["max_abs_difference"] = float(np.abs(got - expected).max())
        result["boxes_max_abs_difference_px"] = float(np.abs(got[..., :4] - expected[..., :4]).max())
        result["boxes_max_relative_difference"] = float((np.abs(got[..., :4] - expected[..., :4])
                                                         / np.maximum(np.abs(expected[..., :4]), 1.0)).max())
        result["scores_max_abs_difference"] = float(np.abs(got[..., 4:] - expected[..., 4:]).max())
    return result


def export_command(weights: str, out: str = "", model: str = "", img_size: int = 640, batch: int = 1,
                   format: str = "onnx", num_classes: int = 80) -> str:
    """``export``: the deploy model of ``weights`` (a training checkpoint, or plain weights of ``model``) as ONNX,
    checked with onnxruntime against Jittor."""
    from pathlib import Path

    from .checkpoint import CHECKPOINT_FORMAT, load_weights, read_checkpoint
    from .fuse import fuse
    from .trained import model_from_checkpoint
    from .yolo import build_model
    if format != "onnx":
        raise InputError(f"--format {format}: only onnx is supported")
    state = None if str(weights).endswith(".npz") else read_checkpoint(weights)  # .npz: plain weights
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        net = model_from_checkpoint(state, source=weights)
    elif model:
        net = load_weights(build_model(model, num_classes=num_classes), weights)
    else:
        raise InputError(f"{weights}: plain weights need --model (the model they belong to)")
    target = out or str(Path(weights).with_suffix(".onnx"))
    result = export_onnx(fuse(net), target, img_size, batch)
    return (f"written: {result['path']} (opset {result['opset']}, input {result['input']}, "
            f"output {result['output']}, {result['nodes']} nodes); onnxruntime vs Jittor: scores within "
            f"{result['scores_max_abs_difference']:.2g}, boxes within {result['boxes_max_abs_difference_px']:.2g} px")
