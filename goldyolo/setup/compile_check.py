"""Compile, with a CUDA 13 nvcc and no GPU, the Jittor code the fixes of :mod:`goldyolo.setup.patches` touch.

Jittor builds its host sources with g++ (``-std=c++14``) and its CUDA sources and JIT kernels with nvcc;
these checks compile single translation units as it does (``-c``, no linking): a host source and a ``.cu``
that include ``helper_cuda.h``, and the softmax and depthwise-convolution kernels Jittor generates at run
time. The kernels' text is taken from Jittor's own Python by running ``softmax_v1`` and
``DepthwiseConv.grad`` against a stand-in ``jittor`` module that records what they pass to ``jt.code``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import types
from pathlib import Path
from typing import Dict, List, Tuple


class _Var:
    def __init__(self, shape, dtype="float32"):
        self.shape, self.dtype = tuple(shape), dtype


def _stand_in(recorded: List[Dict]) -> types.ModuleType:
    """A ``jittor`` with what the two kernel builders use; ``jt.code`` records its sources."""
    jt = types.ModuleType("jittor")

    class Function:
        def __call__(self, *args):
            return self.execute(*args)
    jt.Function, jt.flags = Function, types.SimpleNamespace(use_cuda=1)
    jt.compile_extern = types.SimpleNamespace(cub_home="")  # CUDA >= 11: the toolkit's CUB

    def code(shape, dtype, inputs, cuda_header="", cuda_src="", **_):
        recorded.append({"cuda_header": cuda_header, "cuda_src": cuda_src})
        return _Var(shape[0] if isinstance(shape, list) and isinstance(shape[0], tuple) else shape)
    jt.code = code
    jt.nn = jt.init = types.ModuleType("jittor.nn")
    return jt


def _load(path: Path, jt: types.ModuleType) -> Dict:
    """Run a Jittor source file with the stand-in as ``jittor``; its globals."""
    saved = {k: sys.modules.get(k) for k in ("jittor", "jittor.nn", "jittor.init")}
    sys.modules.update({"jittor": jt, "jittor.nn": jt.nn, "jittor.init": jt.init})
    try:
        namespace: Dict = {"__name__": f"_goldyolo_render_{path.stem}"}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        return namespace
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def _kernel_only(source: str) -> str:
    """The ``__global__`` function of a ``jt.code`` source (the host code after it belongs in the op's run
    function), with Jittor's one ``@expand_op(f, @in0_type, x)`` macro of it written out as ``::f(x)``."""
    start = source.index("__global__")
    depth, end = 0, None
    for index in range(source.index("{", start), len(source)):
        depth += {"{": 1, "}": -1}.get(source[index], 0)
        if depth == 0:
            end = index + 1
            break
    return re.sub(r"@expand_op\((\w+),@in0_type,(\w+)\)", r"::\1(\2)", source[start:end])


def render_kernels(root: Path) -> Dict[str, str]:
    """The softmax forward kernel (a 4 x 128 input) and the depthwise-convolution gradient's header, as
    translation units (Jittor's JIT defines, the kernel's header, ``in0_type``/``out0_type`` as float)."""
    recorded: List[Dict] = []
    jt = _stand_in(recorded)
    _load(root / "other" / "code_softmax.py", jt)["softmax_v1"](_Var((4, 128)))
    softmax = recorded[-1]
    depthwise = _load(root / "depthwise_conv.py", jt)["DepthwiseConv"]()
    depthwise.save_vars, depthwise.Khw = (_Var((2, 8, 16, 16)), _Var((8, 1, 3, 3))), (3, 3)
    depthwise.grad(_Var((2, 8, 16, 16)))
    prelude = "#define JIT 1\n#define JIT_cuda 1\n"
    kernel = _kernel_only(softmax["cuda_src"])
    types_ = "\nusing namespace jittor;\ntypedef float in0_type;\ntypedef float out0_type;\n"
    return {"softmax_kernel.cu": prelude + softmax["cuda_header"] + types_ + kernel + "\n",
            "depthwise_grad_header.cu": prelude + recorded[-1]["cuda_header"] + "\n"}


def commands(root: Path, nvcc: Path, work: Path) -> Dict[str, List[str]]:
    """Name -> compile command: g++ for a host source, nvcc (C++17, sm_90, as Jittor's flags) for the rest."""
    cuda_include = nvcc.resolve().parent.parent / "include"
    includes = [f"-I{root / 'src'}", f"-I{root / 'extern'}", f"-I{sysconfig.get_paths()['include']}", "-DHAS_CUDA",
                "-DIS_CUDA", f"-I{cuda_include}", f"-I{root / 'extern' / 'cuda' / 'inc'}"]
    gxx = ["g++", "-std=c++14", "-fPIC", "-O0", "-w", *includes, "-c"]
    nv = [str(nvcc), "-x", "cu", "-std=c++17", "-w", "-Xcompiler", "-fPIC", "-arch=compute_90", "-code=sm_90", "-O0",
          *includes, "-c"]
    found = {"cuda_device_allocator.cc (g++, helper_cuda.h)":
             gxx + [str(root / "src" / "mem" / "allocator" / "cuda_device_allocator.cc")],
             "nan_checker.cu (nvcc, helper_cuda.h)": nv + [str(root / "src" / "misc" / "nan_checker.cu")]}
    for name, text in render_kernels(root).items():
        (work / name).write_text(text)
        found[f"{name} (nvcc, generated)"] = nv + [str(work / name)]
    return found


def cudnn_commands(root: Path, nvcc: Path, cudnn_include: Path) -> Dict[str, List[str]]:
    """Host sources of Jittor's cuDNN module as it builds them (g++, C++14): the wrapper and the convolution
    op it keeps, and an RNN source, which cuDNN 9 cannot compile and the fix leaves out of the module."""
    cuda_include = nvcc.resolve().parent.parent / "include"
    cudnn = root / "extern" / "cuda" / "cudnn"
    flags = ["g++", "-std=c++14", "-fPIC", "-O0", "-w", f"-I{root / 'src'}", f"-I{root / 'extern'}",
             f"-I{sysconfig.get_paths()['include']}", "-DHAS_CUDA", "-DIS_CUDA", f"-I{cuda_include}",
             f"-I{root / 'extern' / 'cuda' / 'inc'}", f"-I{cudnn_include}", f"-I{cudnn / 'inc'}", f"-I{cudnn / 'ops'}",
             "-c"]
    return {f"cudnn/{name} (g++, cuDNN 9)": flags + [str(cudnn / name)]
            for name in ("src/cudnn_wrapper.cc", "ops/cudnn_conv_op.cc", "src/cudnn_rnn_descriptor.cc")}


def compile_all(root: Path, nvcc: Path, work: Path, timeout_s: float = 900,
                cudnn_include: Path | None = None) -> Dict[str, Tuple[bool, str]]:
    """Compile each unit to ``work`` (with ``cudnn_include``, the cuDNN module's too); name -> (success, output)."""
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    units = commands(root, nvcc, work)
    if cudnn_include is not None:
        units.update(cudnn_commands(root, nvcc, cudnn_include))
    for index, (name, command) in enumerate(units.items()):
        if shutil.which(command[0]) is None and not Path(command[0]).exists():
            results[name] = (False, f"{command[0]} not found")
            continue
        done = subprocess.run(command + ["-o", str(work / f"unit{index}.o")], capture_output=True, text=True,
                              timeout=timeout_s)
        results[name] = (done.returncode == 0, (done.stdout + done.stderr)[-4000:])
    return results
