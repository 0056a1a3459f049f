"""A CUDA home laid out as Jittor expects it, assembled from the CUDA toolkit and the libraries found here.

Jittor takes the CUDA home from ``nvcc_path`` (the real file's ``../``), loads ``lib64/libcudart.so``,
looks for cuDNN, cuBLAS, cuRAND, cuFFT and cuSPARSE only in that home and in /usr, and accepts only
unversioned library names on CUDA >= 12. PyPI's NVIDIA wheels (``nvidia/cu13/...``, ``nvidia/cudnn/...``)
and system packages place these elsewhere with versioned names only. :func:`assemble` builds a folder of
symbolic links (``include/``, ``lib64/`` with the unversioned names) and a ``bin/nvcc`` that runs the real
nvcc, so that folder is the home Jittor derives; nothing of the toolkit is copied or changed.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import InputNotFoundError

LIBRARIES = ("cudart", "cublas", "cublasLt", "cudnn", "curand", "cufft", "cusparse")
HEADERS = ("cuda_runtime.h", "cudnn.h", "cublas_v2.h", "curand.h", "cufft.h", "cusparse.h")


def site_dirs() -> List[Path]:
    """The Python package folders, where PyPI's NVIDIA wheels install (``nvidia/...``)."""
    found = [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path if p]
    return list(dict.fromkeys(p for p in found if (p / "nvidia").is_dir()))


def wheel_dirs(sites: Iterable[Path], sub: str) -> List[Path]:
    """``nvidia/*/<sub>`` of every site folder (``cu13``, ``cudnn``, ``cublas``, ... wheels)."""
    return [Path(p) for s in sites for p in sorted(glob.glob(str(Path(s) / "nvidia" / "*" / sub)))]


def find_nvcc(sites: Iterable[Path] = ()) -> Optional[Path]:
    """``nvcc`` on PATH, in /usr/local/cuda*, or from the nvidia-cuda-nvcc wheel, in that order."""
    candidates = [shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc",
                  *sorted(glob.glob("/usr/local/cuda-*/bin/nvcc"), reverse=True),
                  *[str(d / "nvcc") for d in wheel_dirs(sites, "bin")]]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return real_nvcc(Path(candidate))
    return None


def real_nvcc(path: Path) -> Path:
    """``path`` with symbolic links and ``exec .../nvcc "$@"`` wrapper scripts (such as the one
    :func:`assemble` writes, or a ``/usr/local/bin/nvcc`` of that kind) followed to the real nvcc."""
    import re
    path = path.resolve()
    for _ in range(8):
        head = path.read_bytes()[:4096] if path.stat().st_size < 4096 else b""
        found = re.search(rb'^\s*exec\s+"?([^"\s]*nvcc)"?\s', head, re.MULTILINE) if head.startswith(b"#!") else None
        if not found:
            return path
        path = Path(found.group(1).decode()).resolve()
    return path


def nvcc_version(nvcc: Path) -> str:
    """``major.minor.patch`` from ``nvcc --version`` (its ``V13.0.88``)."""
    import re
    output = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=60).stdout
    found = re.search(r"V([0-9]+\.[0-9]+\.[0-9]+)", output)
    if not found:
        raise InputNotFoundError(f"{nvcc} --version printed no version")
    return found.group(1)


def search_dirs(nvcc: Path, sites: Iterable[Path], kind: str) -> List[Path]:
    """Where headers (``kind`` include) or libraries (``lib``) are looked for: the toolkit, the wheels, /usr."""
    toolkit = nvcc.parent.parent
    if kind == "include":
        own = [toolkit / "include", toolkit / "targets" / "x86_64-linux" / "include"]
        system = [Path("/usr/include"), Path("/usr/include/x86_64-linux-gnu")]
    else:
        own = [toolkit / "lib64", toolkit / "lib", toolkit / "targets" / "x86_64-linux" / "lib"]
        system = [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib")]
    return list(dict.fromkeys(d for d in own + wheel_dirs(sites, kind) + system if d.is_dir()))


def find_library(name: str, dirs: Iterable[Path]) -> Optional[Path]:
    """The first ``lib<name>.so`` or ``lib<name>.so.<N>`` (highest version) in ``dirs``."""
    for folder in dirs:
        plain = folder / f"lib{name}.so"
        if plain.exists():
            return plain
        versioned = sorted(folder.glob(f"lib{name}.so.[0-9]*"), key=lambda p: [int(x) for x in
                           p.name.split(".so.")[1].split(".") if x.isdigit()], reverse=True)
        if versioned:
            return versioned[0]
    return None


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def assemble(home: Path, nvcc: Optional[Path] = None, sites: Optional[Iterable[Path]] = None) -> Dict:
    """Build the CUDA home in ``home`` (replacing an earlier one); returns its manifest (also ``manifest.json``).

    Raises InputNotFoundError naming what is missing: nvcc, a library or a header."""
    sites = list(site_dirs() if sites is None else sites)
    nvcc = real_nvcc(Path(nvcc)) if nvcc else find_nvcc(sites)
    if nvcc is None:
        raise InputNotFoundError("no nvcc found (PATH, /usr/local/cuda*/bin, or the nvidia-cuda-nvcc wheel: "
                                 "python -m pip install nvidia-cuda-nvcc nvidia-cuda-runtime)")
    lib_dirs, include_dirs = search_dirs(nvcc, sites, "lib"), search_dirs(nvcc, sites, "include")
    libraries = {name: find_library(name, lib_dirs) for name in LIBRARIES}
    headers = {name: next((d / name for d in include_dirs if (d / name).is_file()), None) for name in HEADERS}
    missing = [f"lib{k}.so" for k, v in libraries.items() if v is None] + [k for k, v in headers.items() if v is None]
    if missing:
        raise InputNotFoundError(f"for CUDA with nvcc {nvcc}: missing {', '.join(missing)} (searched "
                                 f"{', '.join(map(str, lib_dirs + include_dirs))}); the PyPI wheels nvidia-cudnn-cu13, "
                                 "nvidia-cublas, nvidia-curand, nvidia-cufft, nvidia-cusparse provide them")
    if home.exists():
        shutil.rmtree(home)
    for sub in ("bin", "include", "lib64"):
        (home / sub).mkdir(parents=True)
    wrapper = home / "bin" / "nvcc"
    wrapper.write_text(f'#!/bin/sh\nexec "{nvcc}" "$@"\n')
    wrapper.chmod(0o755)
    for folder in include_dirs:  # the first folder providing a name wins
        if folder.parts[:2] == ("/", "usr"):
            continue  # the compilers search /usr/include themselves
        for entry in sorted(folder.iterdir()):
            if not (home / "include" / entry.name).exists():
                _link(home / "include" / entry.name, entry)
    for name, path in libraries.items():
        # every file of the library's folder that belongs to it (cuDNN 9 is several libcudnn_*.so.9)
        for member in sorted(path.parent.glob(f"lib{name}*.so*")):
            if member.name.startswith(f"lib{name}.so") or (name == "cudnn" and member.name.startswith("libcudnn_")):
                _link(home / "lib64" / member.name, member)
                stem = member.name.split(".so")[0]
                if not (home / "lib64" / f"{stem}.so").exists():
                    _link(home / "lib64" / f"{stem}.so", member)
    manifest = {"home": str(home), "nvcc": str(nvcc), "nvcc_version": nvcc_version(nvcc),
                "libraries": {k: str(v) for k, v in libraries.items()},
                "headers": {k: str(v) for k, v in headers.items()}}
    (home / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
