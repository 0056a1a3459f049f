"""Where a forward pass or a training step spends its time, by kind of kernel (Jittor's profiler).

``jt.profile_scope`` records every kernel Jittor runs with its time; :func:`op_profile` runs the
function once under it (after warm-up, so nothing compiles) and sums the times by kind: oneDNN
convolution (forward, backward to the input, backward to the weights), oneDNN matmul, the parallel
batch-norm kernels (:mod:`goldyolo.models.bn_kernels`), other hand-written ``jt.code`` kernels, and
Jittor's generated kernels (fused element-wise work and reductions), which run on one CPU thread.
The profiler adds its own overhead to the call, so the latency is the timed median of the same
setting; time outside kernels (Python, the loss's numpy assigner) is that median minus the kernel time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

from ..runtime import jt

KINDS = (  # (kind, marker in the kernel name), first match wins; goldyolo's oneDNN convolutions
    # (goldyolo.ops.conv) and Jittor's own (mkl_conv) count as one kind each
    ("convolution backward (input and weights), oneDNN", "goldyolo_dnnl::conv_backward("),
    ("convolution forward, oneDNN", "goldyolo_dnnl::conv_forward("),
    ("convolution forward, oneDNN", "goldyolo_dnnl::conv_chain("),  # consecutive inference convolutions
    ("pooling, oneDNN", "goldyolo_dnnl::pool_forward("),
    ("matmul, oneDNN", "goldyolo_dnnl::matmul_forward("),  # the attention blocks' products
    ("convolution backward (weights), oneDNN", "mkl_conv_backward_w"),
    ("convolution backward (input), oneDNN", "mkl_conv_backward_x"),
    ("convolution forward, oneDNN", "mkl_conv"),
    ("matmul, oneDNN", "mkl_matmul"),
    ("batch norm, parallel kernels", "batch-norm kernel"),
    ("other hand-written kernels", "code«"),
)
GENERATED = "Jittor generated kernels (element-wise, reductions; one thread)"


@dataclass
class OpKind:
    """Kernel time of one kind, in ms for one call of the profiled function."""
    kind: str
    ms: float
    share: float
    kernels: int

    def as_dict(self) -> dict:
        return asdict(self)


def kernel_kind(name: str) -> str:
    """The kind of a kernel from its name in Jittor's profiler report."""
    for kind, marker in KINDS:
        if marker in name:
            return kind
    return GENERATED


def op_profile(fn: Callable[[], object], warmup: int = 2) -> Dict:
    """Profile one call of ``fn`` (which returns a Var or a tuple of them) after ``warmup`` calls.

    Returns:
        {"kernel_ms", "kinds": [OpKind as dict, slowest first]}.
    """
    def run() -> None:
        out = fn()
        jt.sync(list(out) if isinstance(out, (tuple, list)) else [out])
        jt.sync_all(True)

    for _ in range(warmup):
        run()
    with jt.profile_scope() as report:
        run()
    header, rows = report[0], report[1:]
    name_at, time_at, count_at = header.index("Name"), header.index("TotalTime"), header.index("Count")
    totals: Dict[str, float] = {}
    counts: Dict[str, int] = {}
    for row in rows:
        kind = kernel_kind(str(row[name_at]))
        totals[kind] = totals.get(kind, 0.0) + float(row[time_at]) / 1e6
        counts[kind] = counts.get(kind, 0) + int(row[count_at])
    kernel_ms = sum(totals.values())
    kinds: List[OpKind] = [OpKind(kind, ms, ms / kernel_ms if kernel_ms else 0.0, counts[kind])
                           for kind, ms in sorted(totals.items(), key=lambda item: -item[1])]
    return {"kernel_ms": kernel_ms, "kinds": [k.as_dict() for k in kinds]}


VERBOSE_EXEC = ("onednn_verbose,exec", "dnnl_verbose,exec")  # a primitive's execution in oneDNN's log


def onednn_profile(fn: Callable[[], object], warmup: int = 2) -> Optional[Dict]:
    """The oneDNN primitives of one call of ``fn`` after ``warmup`` calls, from oneDNN's own verbose log:
    time by primitive kind (convolution, reorder between layouts, matmul, ...) and by implementation, so that
    the layout changes around the convolutions are seen apart from the convolutions. None without oneDNN.

    Returns:
        {"primitive_ms": {kind: ms}, "calls": {kind: n}, "implementations": [{"kind", "what", "ms", "calls"},
        slowest first; a reorder's ``what`` is its source and destination layouts]}.
    """
    import ctypes
    import os
    import sys
    import tempfile

    from ..runtime import dnnl_target_dir
    library = dnnl_target_dir() / "lib" / "libmkldnn.so"
    if not library.exists():
        return None
    set_verbose = ctypes.CDLL(str(library)).dnnl_set_verbose

    def run() -> None:
        out = fn()
        jt.sync(list(out) if isinstance(out, (tuple, list)) else [out])
        jt.sync_all(True)

    for _ in range(warmup):
        run()
    with tempfile.TemporaryFile(mode="w+") as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)  # oneDNN prints to the process's standard output
        try:
            set_verbose(1)
            run()
        finally:
            set_verbose(0)
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        lines = [line.strip().split(",") for line in log if line.startswith(VERBOSE_EXEC)]
    totals: Dict[str, float] = {}
    calls: Dict[str, int] = {}
    detail: Dict[tuple, List[float]] = {}
    for fields in lines:
        kind, ms = fields[3], float(fields[-1])
        what = fields[6] if kind == "reorder" else f"{fields[5]} {fields[4]}"
        totals[kind] = totals.get(kind, 0.0) + ms
        calls[kind] = calls.get(kind, 0) + 1
        detail.setdefault((kind, what), []).append(ms)
    rows = [{"kind": k, "what": w, "ms": sum(v), "calls": len(v)} for (k, w), v in detail.items()]
    return {"primitive_ms": totals, "calls": calls, "implementations": sorted(rows, key=lambda r: -r["ms"])[:12]}
