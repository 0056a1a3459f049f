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
