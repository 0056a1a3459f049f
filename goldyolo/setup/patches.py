"""The smallest source fixes Jittor 1.3.11 needs for CUDA 13, CCCL 3 and cuDNN 9, applied to the installed package.

Each fix replaces one exact text of one file; it is applied only where that text is found, once. All are
checked before any file changes (all or nothing), an applied fix is recognised and skipped (idempotent),
``undo`` puts the original texts back, and a stamp file in the Jittor package records what was applied,
when, and the files' SHA-256 before and after. Another Jittor version is refused. The fixes:

* ``nvcc-cxx17``: CUDA 13's CUB/Thrust/libcu++ (CCCL 3) refuse C++14; Jittor passes ``-std=c++14`` to nvcc.
* ``helper-cuda-device-prop``: ``helper_cuda.h`` reads ``cudaDeviceProp::computeMode`` and ``clockRate``,
  removed in CUDA 13, in helper functions Jittor never calls; they are compiled out for CUDA >= 13.
* ``softmax-cub-max``, ``depthwise-lane-id``, ``where-iterators``: ``cub::Max``, ``cub::LaneId`` and CUB's
  counting/transform iterators were removed in CCCL 3; libcu++'s ``cuda::maximum`` and ``cuda::ptx`` and
  Thrust's iterators replace them (softmax, the depthwise convolution's gradient, ``jt.where``).
* ``cudnn9-libraries``: Jittor preloads cuDNN 8's sub-libraries, which cuDNN 9 renamed.
* ``cudnn9-no-rnn``: Jittor builds every file of its cuDNN module; the RNN ones use the RNN API that
  cuDNN 9 removed, which breaks the whole module. They are left out (``nn.RNN``/``LSTM``/``GRU`` on CUDA
  then lack cuDNN; goldyolo uses none of them).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

from ..errors import GoldYoloError, InputError

SUPPORTED_VERSION = "1.3.11"
STAMP = "goldyolo_cuda_patches.json"


class UnknownJittorError(InputError):
    """The Jittor sources are not those the fixes were written for."""


@dataclass(frozen=True)
class Patch:
    name: str
    path: str    # relative to the jittor package folder
    old: str
    new: str


PATCHES = (
    Patch("nvcc-cxx17", "compiler.py",
          '        if nvcc_version >= [11,4]:\n'
          '            nvcc_flags = nvcc_flags.replace("-std=c++17", "-std=c++14 -Xcompiler -std:c++14")\n',
          '        if nvcc_version >= [13,0]:  # goldyolo: CCCL 3 (CUDA 13) needs C++17\n'
          '            nvcc_flags = nvcc_flags.replace("-std=c++14", "-std=c++17")\n'
          '        elif nvcc_version >= [11,4]:\n'
          '            nvcc_flags = nvcc_flags.replace("-std=c++17", "-std=c++14 -Xcompiler -std:c++14")\n'),
    Patch("helper-cuda-device-prop", "extern/cuda/inc/helper_cuda.h",
          "#ifdef __CUDA_RUNTIME_H__\n",
          "#if defined(__CUDA_RUNTIME_H__) && CUDART_VERSION < 13000  // goldyolo: CUDA 13 removed computeMode\n"),
    Patch("softmax-cub-max", "other/code_softmax.py",
          "    auto tmp = BlockReduce(temp_storage).Reduce(v1, cub::Max());\n",
          "    auto tmp = BlockReduce(temp_storage).Reduce(v1, ::cuda::maximum<>());\n"),
    Patch("depthwise-lane-id", "depthwise_conv.py",
          "    if (cub::LaneId() == 0) \n",
          "    if (::cuda::ptx::get_sreg_laneid() == 0) \n"),
    Patch("where-iterators", "extern/cuda/cub/ops/cub_where_op.cc",
          "    cub::CountingInputIterator<To> counting_itr(0);\n"
          "    cub::TransformInputIterator<bool, NonZeroOp<Ti>, Ti*> itr(cond->ptr<Ti>(), NonZeroOp<Ti>());\n",
          "    thrust::counting_iterator<To> counting_itr(0);\n"
          "    thrust::transform_iterator<NonZeroOp<Ti>, Ti*, bool> itr(cond->ptr<Ti>(), NonZeroOp<Ti>());\n"),
    Patch("cudnn9-libraries", "compile_extern.py",
          '                libs = ["libcudnn_ops_infer.so", "libcudnn_ops_train.so", "libcudnn_cnn_infer.so", '
          '"libcudnn_cnn_train.so"]\n',
          '                libs = ["libcudnn_ops_infer.so", "libcudnn_ops_train.so", "libcudnn_cnn_infer.so", '
          '"libcudnn_cnn_train.so"]\n'
          '                if nvcc_version >= (13,0,0):  # goldyolo: cuDNN 9 names its libraries so\n'
          '                    prefer_version = ("9",)\n'
          '                    libs = ["libcudnn_graph.so", "libcudnn_ops.so", "libcudnn_cnn.so"]\n'),
    Patch("cudnn9-no-rnn", "compile_extern.py",
          "        for fname in f:\n"
          "            culib_src_files.append(os.path.join(r, fname))\n",
          "        for fname in f:\n"
          "            if lib_name == \"cudnn\" and \"rnn\" in fname:  # goldyolo: cuDNN 9 removed the RNN API\n"
          "                continue\n"
          "            culib_src_files.append(os.path.join(r, fname))\n"),
)


def jittor_root() -> Path:
    """The installed jittor package folder, found without importing it."""
    spec = importlib.util.find_spec("jittor")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("Jittor is not installed (python -m pip install jittor==1.3.11)")
    return Path(list(spec.submodule_search_locations)[0])


def jittor_version(root: Path) -> str:
    """``__version__`` of the Jittor sources in ``root``, read from ``__init__.py``."""
    found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", (root / "__init__.py").read_text(), re.MULTILINE)
    if not found:
        raise UnknownJittorError(f"{root / '__init__.py'}: no __version__, so this is not a Jittor package")
    return found.group(1)


def patch_state(root: Path, patch: Patch) -> str:
    """``applied``, ``pending`` (the original text is there once) or ``unknown`` (neither)."""
    text = (root / patch.path).read_text()
    if text.count(patch.new) == 1:
        return "applied"
    return "pending" if text.count(patch.old) == 1 else "unknown"


def status(root: Path | None = None) -> Dict[str, str]:
    root = root or jittor_root()
    return {p.name: patch_state(root, p) for p in PATCHES}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically, keeping its permissions."""
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _check(root: Path) -> Dict[str, str]:
    version = jittor_version(root)
    if not version.startswith(SUPPORTED_VERSION):
        raise UnknownJittorError(f"Jittor {version} in {root}: goldyolo's CUDA fixes are written for Jittor "
                                 f"{SUPPORTED_VERSION} and are not applied to another version")
    states = status(root)
    unknown = [p for p in PATCHES if states[p.name] == "unknown"]
    if unknown:
        raise UnknownJittorError("; ".join(f"{root / p.path}: neither the original nor the fixed text of "
                                           f"{p.name} is there (edited by hand?)" for p in unknown)
                                 + "; nothing was changed")
    return states


def apply(root: Path | None = None) -> List[str]:
    """Apply the pending fixes (all checked first); returns the names of those applied now."""
    root = root or jittor_root()
    states = _check(root)
    pending = [p for p in PATCHES if states[p.name] == "pending"]
    before = {p.path: _sha256(root / p.path) for p in pending}
    for patch in pending:
        path = root / patch.path
        _write(path, path.read_text().replace(patch.old, patch.new, 1))
    stamp = root / STAMP
    record = json.loads(stamp.read_text()) if stamp.is_file() else {"jittor": jittor_version(root), "files": {}}
    record["applied"] = [p.name for p in PATCHES]
    record["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for path, sha in before.items():
        record["files"].setdefault(path, {"sha256_original": sha})["sha256_fixed"] = _sha256(root / path)
    stamp.write_text(json.dumps(record, indent=1))
    return [p.name for p in pending]


def undo(root: Path | None = None) -> List[str]:
    """Put the original texts back and remove the stamp; returns the names of the fixes undone."""
    root = root or jittor_root()
    states = _check(root)
    done = []
    for patch in reversed(PATCHES):
        if states[patch.name] == "applied":
            path = root / patch.path
            _write(path, path.read_text().replace(patch.new, patch.old, 1))
            done.append(patch.name)
    (root / STAMP).unlink(missing_ok=True)
    if any(patch_state(root, p) != "pending" for p in PATCHES):
        raise GoldYoloError(f"undo left {root} in an unexpected state: {status(root)}")
    return done
