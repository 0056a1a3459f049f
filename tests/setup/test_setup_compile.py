"""The Jittor code the CUDA fixes touch, compiled with this machine's nvcc 13 (C++17) and g++ as Jittor
compiles it, before and after the fixes (``goldyolo.setup.compile_check``; no GPU needed)."""
from __future__ import annotations

import shutil

import pytest

from goldyolo.setup import compile_check, patches, toolkit

NVCC = toolkit.find_nvcc()
pytestmark = pytest.mark.skipif(NVCC is None or not toolkit.nvcc_version(NVCC).startswith("13."),
                                reason="needs a CUDA 13 nvcc (e.g. /usr/local/cuda-13.0; pip install nvidia-cuda-nvcc)")


@pytest.fixture(scope="module")
def jittor_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("jittor") / "jittor"
    shutil.copytree(patches.jittor_root(), root, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.o"))
    if set(patches.status(root).values()) == {"applied"}:
        patches.undo(root)  # an installed Jittor already set up by goldyolo: start from the original texts
    return root


def cudnn_headers(tmp_path):
    """A folder with cudnn.h: the toolkit's or the system's, else the headers of a local nvidia-cudnn-cu13
    wheel (pip's find-links folders), else None."""
    import glob
    import zipfile
    for folder in toolkit.search_dirs(NVCC, toolkit.site_dirs(), "include"):
        if (folder / "cudnn.h").is_file():
            return folder
    for wheel in sorted(glob.glob("/opt/*/files/nvidia_cudnn_cu13-9*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.startswith("nvidia/cudnn/include/")]
            archive.extractall(tmp_path, names)
        return tmp_path / "nvidia" / "cudnn" / "include"
    return None


def test_the_generated_kernels_are_jittors():
    kernels = compile_check.render_kernels(patches.jittor_root())
    softmax, depthwise = kernels["softmax_kernel.cu"], kernels["depthwise_grad_header.cu"]
    assert "__global__ void kernel(in0_type* x, out0_type* y, int len)" in softmax and "<<<" not in softmax
    assert "typedef cub::BlockReduce<float, 128> BlockReduce;" in softmax  # a 128-wide row: 128 threads
    assert "CudaAtomicAddWithWarp" in depthwise and "KernelDepthwiseConvInputGradCFilter" in depthwise


def test_cuda_13_fails_on_the_original_and_compiles_the_fixed_code(jittor_copy, tmp_path):
    before = compile_check.compile_all(jittor_copy, NVCC, tmp_path / "before")
    expected = {"cuda_device_allocator.cc": "computeMode", "nan_checker.cu": "computeMode",
                "softmax_kernel.cu": '"cub" has no member "Max"',
                "depthwise_grad_header.cu": '"cub" has no member "LaneId"'}
    for name, (ok, log) in before.items():
        assert not ok and expected[name.split(" ")[0]] in log, (name, log[-1500:])
    patches.apply(jittor_copy)
    after = compile_check.compile_all(jittor_copy, NVCC, tmp_path / "after")
    failed = {name: log[-1500:] for name, (ok, log) in after.items() if not ok}
    assert not failed, failed


def test_the_cudnn_module_builds_against_cudnn_9_without_its_rnn_sources(jittor_copy, tmp_path):
    include = cudnn_headers(tmp_path / "headers")
    if include is None:
        pytest.skip("no cuDNN 9 headers here (pip install nvidia-cudnn-cu13)")
    patches.apply(jittor_copy)
    results = compile_check.compile_all(jittor_copy, NVCC, tmp_path / "out", cudnn_include=include)
    cudnn = {name: result for name, result in results.items() if name.startswith("cudnn/")}
    assert cudnn["cudnn/src/cudnn_wrapper.cc (g++, cuDNN 9)"][0]
    assert cudnn["cudnn/ops/cudnn_conv_op.cc (g++, cuDNN 9)"][0]
    ok, log = cudnn["cudnn/src/cudnn_rnn_descriptor.cc (g++, cuDNN 9)"]
    assert not ok and "cudnnGetRNNLinLayerMatrixParams" in log  # the API cuDNN 9 removed: left out by the fix
    module = [p.name for p in (jittor_copy / "extern/cuda/cudnn").rglob("*") if p.is_file() and "rnn" not in p.name]
    assert "cudnn_conv_op.cc" in module and len(module) == 18  # of 24 files, the 6 RNN ones are left out
