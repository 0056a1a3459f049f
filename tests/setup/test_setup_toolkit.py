"""The CUDA home Jittor expects, assembled from a made-up tree of PyPI's NVIDIA wheels (``goldyolo.setup.toolkit``)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from goldyolo.errors import InputNotFoundError
from goldyolo.setup import toolkit

CU13 = {"include": ["cuda_runtime.h", "cublas_v2.h", "curand.h", "cufft.h", "cusparse.h"],
        "lib": ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcufft.so.12",
                "libcusparse.so.12"]}
CUDNN = {"include": ["cudnn.h", "cudnn_graph.h"],
         "lib": ["libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9"]}


def fake_site(root, skip=()):
    """site-packages/nvidia/{cu13,cudnn} as the wheels lay them out: versioned names only, no lib64."""
    for wheel, files in (("cu13", CU13), ("cudnn", CUDNN)):
        for sub, names in files.items():
            folder = root / "nvidia" / wheel / sub
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                if name not in skip:
                    (folder / name).write_text(name)
    nvcc = root / "nvidia" / "cu13" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True, exist_ok=True)
    nvcc.write_text('#!/bin/sh\necho "Cuda compilation tools, release 13.0, V13.0.88"\necho "args: $*" >&2\n')
    nvcc.chmod(0o755)
    return nvcc


def test_home_from_wheels_has_the_names_jittor_accepts(tmp_path):
    nvcc = fake_site(tmp_path / "site")
    home = tmp_path / "home"
    manifest = toolkit.assemble(home, nvcc=nvcc, sites=[tmp_path / "site"])
    assert manifest["nvcc_version"] == "13.0.88" and json.loads((home / "manifest.json").read_text()) == manifest
    # Jittor: cuda home = real nvcc's ../ (the wrapper is a real file), lib64/libcudart.so, unversioned names
    wrapper = home / "bin" / "nvcc"
    assert wrapper.is_file() and not wrapper.is_symlink() and os.access(wrapper, os.X_OK)
    done = subprocess.run([str(wrapper), "-c", "x.cu"], capture_output=True, text=True)
    assert "V13.0.88" in done.stdout and "args: -c x.cu" in done.stderr
    for name in ("libcudart", "libcublas", "libcublasLt", "libcudnn", "libcudnn_graph", "libcudnn_ops",
                 "libcudnn_cnn", "libcurand", "libcufft", "libcusparse"):
        link = home / "lib64" / f"{name}.so"
        assert link.is_symlink() and link.resolve().name.startswith(f"{name}.so."), name
    assert (home / "lib64" / "libcudnn.so.9").resolve() == tmp_path / "site/nvidia/cudnn/lib/libcudnn.so.9"
    for header in ("cuda_runtime.h", "cudnn.h", "cublas_v2.h", "cudnn_graph.h"):
        assert (home / "include" / header).read_text() == header
    toolkit.assemble(home, nvcc=nvcc, sites=[tmp_path / "site"])  # again: replaces the earlier home


def test_a_missing_library_is_named(tmp_path):
    nvcc = fake_site(tmp_path / "site", skip=("libcudnn.so.9", "cufft.h"))
    with pytest.raises(InputNotFoundError, match="missing libcudnn.so, cufft.h"):
        toolkit.assemble(tmp_path / "home", nvcc=nvcc, sites=[tmp_path / "site"])
    assert not (tmp_path / "home").exists()


def test_library_search_prefers_the_unversioned_then_the_highest_version(tmp_path):
    for name in ("libcublas.so.12", "libcublas.so.13", "libcublas.so.13.1.1"):
        (tmp_path / name).write_text("")
    assert toolkit.find_library("cublas", [tmp_path]).name == "libcublas.so.13.1.1"
    (tmp_path / "libcublas.so").write_text("")
    assert toolkit.find_library("cublas", [tmp_path]).name == "libcublas.so"
    assert toolkit.find_library("cudnn", [tmp_path]) is None


def test_wrapper_scripts_are_followed_to_the_real_nvcc(tmp_path):
    nvcc = fake_site(tmp_path / "site")
    wrapper = tmp_path / "bin" / "nvcc"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {nvcc} "$@"\n')
    wrapper.chmod(0o755)
    assert toolkit.real_nvcc(wrapper) == nvcc  # a /usr/local/bin/nvcc of this kind would hide the CUDA home
    manifest = toolkit.assemble(tmp_path / "home", nvcc=wrapper, sites=[tmp_path / "site"])
    assert manifest["nvcc"] == str(nvcc)
    assert toolkit.real_nvcc(tmp_path / "home" / "bin" / "nvcc") == nvcc
    assert toolkit.real_nvcc(nvcc) == nvcc
