"""``python -m goldyolo setup cuda``: Jittor 1.3.11 made to run on CUDA 13 and cuDNN 9, and checked.

What it changes, in order (``--undo`` reverses each):
1. the installed Jittor's sources: the fixes of :mod:`goldyolo.setup.patches` (stamp file in the package);
2. a CUDA home of symbolic links in ``~/.cache/goldyolo/cuda_home`` (:mod:`goldyolo.setup.toolkit`);
3. ``~/.cache/goldyolo/cuda.json``: what ``import goldyolo`` then sets before Jittor loads on a machine with
   a CUDA driver, unless the variable is set already: ``nvcc_path`` (the home's nvcc), ``use_cutt=0``,
   ``use_cutlass=0``, ``use_nccl=0`` (Jittor would download them; cuTT does not build on CUDA 13),
   ``use_tensorcore=1`` (TF32 / tensor-core math), and a cuDNN algorithm cache of ``cudnn_cache`` entries
   (Jittor's default of 100 stops benchmarking convolution algorithms after 100 shapes).
With a CUDA driver it then checks, in a fresh process, that Jittor loads cuDNN and that a convolution on the
GPU equals the CPU one.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

from ..errors import GoldYoloError
from . import patches, toolkit
from .record import apply_record, goldyolo_cache, setup_record  # noqa: F401 (the command's API)

CUDNN_CACHE = 100_000
ENVIRONMENT = {"use_cutt": "0", "use_cutlass": "0", "use_nccl": "0", "use_tensorcore": "1"}


class CudaCheckError(GoldYoloError, RuntimeError):
    """Jittor on CUDA did not load cuDNN or computed a convolution differently from the CPU."""


def verify() -> Dict:
    """In this process: Jittor on CUDA with cuDNN, and a 3x3 convolution on the GPU against the CPU."""
    import numpy as np

    from ..runtime import jt
    if not jt.has_cuda:
        raise CudaCheckError("Jittor does not see CUDA (jt.has_cuda is 0)")
    if jt.cudnn is None:
        raise CudaCheckError("Jittor loaded without cuDNN: convolutions would use its slow generic kernels")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 32, 40, 40), np.float32), rng.standard_normal((64, 32, 3, 3), np.float32) * 0.1
    found = {}
    for use_cuda in (1, 0):
        jt.flags.use_cuda = use_cuda
        found[use_cuda] = jt.nn.conv2d(jt.array(x), jt.array(w), padding=1).numpy()
    scale = float(np.abs(found[0]).max())
    error = float(np.abs(found[1] - found[0]).max()) / scale
    # TF32 (use_tensorcore=1) keeps 10 mantissa bits: a few 1e-3 relative over a 288-term sum
    if error > 1e-2:
        raise CudaCheckError(f"GPU convolution differs from the CPU one by {error:.2e} (relative to the largest "
                             "output)")
    return {"cudnn": True, "conv_relative_error": error, "use_tensorcore": int(jt.flags.use_tensorcore)}


def setup_cuda(undo: bool = False, nvcc: str = "", check: bool = True) -> str:
    """Apply (or, with ``undo``, remove) the CUDA set-up described in the module docstring; returns a report."""
    home, record_file = goldyolo_cache() / "cuda_home", goldyolo_cache() / "cuda.json"
    if undo:
        undone = patches.undo()
        shutil.rmtree(home, ignore_errors=True)
        record_file.unlink(missing_ok=True)
        return f"undone: {', '.join(undone) or 'no Jittor fix was applied'}; removed {home} and {record_file}"
    applied = patches.apply()
    manifest = toolkit.assemble(home, nvcc=Path(nvcc) if nvcc else None)
    record = {"nvcc_path": str(home / "bin" / "nvcc"), "environment": ENVIRONMENT, "cudnn_cache": CUDNN_CACHE,
              "manifest": manifest, "jittor_fixes": patches.status()}
    record_file.parent.mkdir(parents=True, exist_ok=True)
    record_file.write_text(json.dumps(record, indent=1))
    lines = [f"Jittor fixes: {', '.join(applied) or 'already applied'} ({patches.jittor_root()})",
             f"CUDA home: {home} (nvcc {manifest['nvcc_version']}: {manifest['nvcc']})",
             f"settings for import goldyolo: {record_file}"]
    from ..runtime import cuda_driver_available
    if not check or not cuda_driver_available():
        return "\n".join(lines + ["not checked: no CUDA driver here (run python -m goldyolo setup cuda on the GPU "
                                  "machine; its first import compiles Jittor for CUDA, several minutes)"])
    done = subprocess.run([sys.executable, "-c", "import json, goldyolo.setup.command as c; "
                           "print(json.dumps(c.verify()))"], capture_output=True, text=True)
    if done.returncode != 0:
        raise CudaCheckError("the check in a fresh process failed:\n" + done.stderr[-3000:])
    return "\n".join(lines + [f"checked: {done.stdout.strip().splitlines()[-1]}"])
