"""``setup cuda`` on the CPU: fixes on a copy of Jittor, the CUDA home from made-up wheels, the settings
``import goldyolo`` applies, and ``--undo`` (the GPU check itself runs in scripts/gpu_check.sh)."""
from __future__ import annotations

import json

from test_setup_patches import contents, copy  # noqa: F401  (fixture)
from test_setup_toolkit import fake_site

from goldyolo.setup import command, patches, toolkit


def test_setup_and_undo_without_a_gpu(copy, tmp_path, monkeypatch):  # noqa: F811
    original = contents(copy)
    nvcc = fake_site(tmp_path / "site")
    monkeypatch.setattr(patches, "jittor_root", lambda: copy)
    monkeypatch.setattr(toolkit, "site_dirs", lambda: [tmp_path / "site"])
    monkeypatch.setenv("GOLDYOLO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("goldyolo.runtime.cuda_driver_available", lambda: False)
    report = command.setup_cuda(nvcc=str(nvcc))
    assert "not checked: no CUDA driver here" in report and "nvcc 13.0.88" in report
    record = json.loads((tmp_path / "cache" / "cuda.json").read_text())
    assert record["nvcc_path"] == str(tmp_path / "cache" / "cuda_home" / "bin" / "nvcc")
    assert set(record["jittor_fixes"].values()) == {"applied"} and record["cudnn_cache"] == command.CUDNN_CACHE
    assert command.setup_record() == record
    environ = {"use_nccl": "1"}
    command.apply_record(record, environ)
    assert environ == {"use_nccl": "1", "nvcc_path": record["nvcc_path"], "use_cutt": "0", "use_cutlass": "0",
                       "use_tensorcore": "1"}  # a variable the user set is kept
    assert "already applied" in command.setup_cuda(nvcc=str(nvcc))  # a second run changes nothing in Jittor
    assert "undone: " in command.setup_cuda(undo=True)
    assert contents(copy) == original and command.setup_record() is None
    assert not (tmp_path / "cache" / "cuda_home").exists()


def test_device_cuda_without_cuda_is_a_clear_input_error():
    import pytest

    from goldyolo.errors import InputError
    from goldyolo.runtime import jt, use_cuda
    if jt.has_cuda:
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="--device cuda: Jittor has no CUDA here: no CUDA driver"):
        use_cuda()
    assert jt.flags.use_cuda == 0
