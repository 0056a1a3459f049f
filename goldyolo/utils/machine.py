"""The machine and software a measurement ran on: CPU, cores, RAM, GPUs, versions, commit, threads."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .watchdog import run_limited

REPO = Path(__file__).resolve().parents[2]  # the repository root (goldyolo/utils/machine.py)


def command_output(command: List[str], timeout_s: float = 20, cwd: Optional[Path] = None) -> Optional[str]:
    """Stripped stdout of a short command, or None when it is missing, fails or hangs."""
    try:
        done = run_limited(command, timeout_s=timeout_s, cwd=cwd or REPO)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def hardware() -> Dict:
    """CPU model, cores, total RAM, load average and, when ``nvidia-smi`` exists, the GPUs."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kib = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    gpus = (command_output(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"])
            if shutil.which("nvidia-smi") else None)
    return {"cpu_model": models[0] if models else platform.processor(), "cpu_cores": os.cpu_count(),
            "cpu_cores_usable": len(os.sched_getaffinity(0)), "ram_total_gib": round(total_kib / 2**20, 2),
            "load_average_1_5_15": list(os.getloadavg()), "gpus": gpus.splitlines() if gpus else []}


def versions() -> Dict:
    """python, jittor, numpy, goldyolo and the git commit (with ``-dirty`` for uncommitted changes to the code).

    The executed notebooks and ``report/`` are left out of the check: the report build rewrites them while its
    notebooks run measurements, which would otherwise all read as made by uncommitted code."""
    from .. import __version__
    from ..runtime import jt
    commit = command_output(["git", "rev-parse", "HEAD"])
    if commit and command_output(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                  ":(exclude)notebooks/*.ipynb", ":(exclude)report"]):
        commit += "-dirty"
    return {"python": platform.python_version(), "jittor": jt.__version__, "numpy": np.__version__,
            "goldyolo": __version__, "git_commit": commit}


def thread_environment() -> Dict[str, str]:
    """The OpenMP / oneDNN variables of this run, which change CPU timings (``OMP_NUM_THREADS``,
    ``OMP_WAIT_POLICY``: on a busy machine the default spinning wait can slow Jittor down many times)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(("OMP_", "GOMP_", "KMP_", "DNNL_", "MKL_"))}


def environment() -> Dict:
    """The date (UTC), hardware and versions of this run."""
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "hardware": hardware(),
            "versions": versions(), "thread_environment": thread_environment()}


def machine_description() -> str:
    """One line: CPU model and usable cores, and the GPUs that ``nvidia-smi`` lists."""
    machine = hardware()
    text = f"{machine['cpu_model'] or 'unknown CPU'}, {machine['cpu_cores_usable']} CPU cores"
    return text + (f"; GPU: {', '.join(machine['gpus'])}" if machine["gpus"] else "; no GPU")


def portable_path(path) -> str:
    """``path`` as a record should keep it: relative to the working directory when it lies beside it (the
    repository, ../shared), else ``OUTSIDE/`` and its name (a run folder elsewhere on this machine); a machine's
    absolute paths mean nothing on another."""
    relative = os.path.relpath(Path(path).resolve())
    if not relative.startswith(os.path.join(os.pardir, os.pardir)):
        return relative
    return f"OUTSIDE/{Path(path).name}" if Path(path).name else "OUTSIDE"
