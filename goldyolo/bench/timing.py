"""Honest timing: every timed call sits between two full syncs, compilation is kept out of the clock
and checked for, and the spread is reported, not only a mean.

Jittor runs lazily: a call returns once the graph is built and the work happens at the next sync.
An unsynced clock therefore measures graph building; :func:`time_runs` refuses to run without a
sync function. Each kernel Jittor first needs is compiled (or read from its disk cache) and opened
as a shared library, which :func:`loaded_kernels` counts, so a timed phase that loads none has not
compiled anything.
"""
from __future__ import annotations

import resource
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..runtime import jt


def device_sync(output: Any = None) -> None:
    """Wait until every pending Jittor computation (``output``'s included, which the caller keeps
    alive) has run, on the CPU and the GPU."""
    jt.sync_all(True)


def loaded_kernels() -> int:
    """How many Jittor kernel libraries this process has loaded. Each new kernel (compiled now or
    found in the disk cache) is opened from ``jt.flags.cache_path``, so a change means that a
    kernel was first needed in between."""
    cache = jt.flags.cache_path
    with open("/proc/self/maps") as maps:
        return len({line.split()[-1] for line in maps if cache in line and line.rstrip().endswith(".so")})


def time_runs(fn: Callable[[], Any], runs: int, warmup: int, sync: Optional[Callable[[Any], None]]) -> Dict:
    """Run ``fn`` ``warmup`` times, then time ``runs`` calls, each between ``sync()`` and
    ``sync(output)``. Returns the times in ms and the kernels first loaded in each phase."""
    if not callable(sync):
        raise ValueError("refusing to time without synchronisation: Jittor runs lazily, so an unsynced "
                         "clock measures graph building, not computation")
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    kernels_start = loaded_kernels()
    for _ in range(warmup):
        sync(fn())
    kernels_warm = loaded_kernels()
    times = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        output = fn()
        sync(output)
        times.append((time.perf_counter() - start) * 1e3)
    return {"times_ms": times, "kernels_loaded_warmup": kernels_warm - kernels_start,
            "kernels_loaded_timed": loaded_kernels() - kernels_warm}


def time_synced(fn: Callable[[], Any], runs: int, warmup: int) -> Dict:
    """:func:`time_runs` with a full device sync around every timed call."""
    return time_runs(fn, runs, warmup, device_sync)


def summarize(times_ms: List[float]) -> Dict[str, float]:
    """median, mean, min, max, std (population), p10, p90 of ``times_ms``."""
    t = np.asarray(times_ms, dtype=np.float64)
    return {"n": int(t.size), "median": float(np.median(t)), "mean": float(t.mean()), "min": float(t.min()),
            "max": float(t.max()), "std": float(t.std()), "p10": float(np.percentile(t, 10)),
            "p90": float(np.percentile(t, 90))}


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far, in KiB (Linux ``ru_maxrss``)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def precision_name(mode: str, fp16: bool) -> str:
    """How a setting computes: float32, float16 (half model) or amp (mixed-precision training)."""
    if not fp16:
        return "float32"
    return "amp" if mode == "train_step" else "float16"
