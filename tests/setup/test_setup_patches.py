"""The Jittor source fixes for CUDA 13 / CCCL 3 / cuDNN 9 (``goldyolo.setup.patches``) on a copy of the
installed Jittor's files: found, applied, idempotent, undone, refused on unknown text or version."""
from __future__ import annotations

import json
import shutil

import pytest

from goldyolo.setup import patches
from goldyolo.setup.patches import PATCHES, UnknownJittorError


@pytest.fixture
def copy(tmp_path):
    """The files the fixes touch, and __init__.py, copied from the installed Jittor."""
    root = patches.jittor_root()
    for path in {p.path for p in PATCHES} | {"__init__.py"}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, tmp_path / path)
    return tmp_path


def contents(root):
    return {p.path: (root / p.path).read_bytes() for p in PATCHES}


def test_the_installed_jittor_has_every_original_text_once():
    root = patches.jittor_root()
    assert patches.jittor_version(root).startswith(patches.SUPPORTED_VERSION)
    assert set(patches.status(root).values()) <= {"pending", "applied"}  # untouched, or fixed by goldyolo


def test_fixes_apply_once_and_undo_restores_the_files(copy):
    original = contents(copy)
    assert set(patches.status(copy).values()) == {"pending"}
    assert patches.apply(copy) == [p.name for p in PATCHES]
    assert set(patches.status(copy).values()) == {"applied"}
    fixed = contents(copy)
    text = (copy / "extern/cuda/inc/helper_cuda.h").read_text()
    assert "#if defined(__CUDA_RUNTIME_H__) && CUDART_VERSION < 13000" in text
    assert "#ifdef __CUDA_RUNTIME_H__" not in text
    assert "cub::Max()" not in (copy / "other/code_softmax.py").read_text()
    assert '"rnn" in fname' in (copy / "compile_extern.py").read_text()
    compile((copy / "compile_extern.py").read_text(), "compile_extern.py", "exec")  # still valid Python
    compile((copy / "compiler.py").read_text(), "compiler.py", "exec")
    stamp = json.loads((copy / patches.STAMP).read_text())
    assert stamp["applied"] == [p.name for p in PATCHES] and stamp["jittor"].startswith("1.3.11")
    assert set(stamp["files"]) == {p.path for p in PATCHES}
    assert patches.apply(copy) == [] and contents(copy) == fixed  # idempotent
    assert patches.undo(copy) == [p.name for p in reversed(PATCHES)]
    assert contents(copy) == original and not (copy / patches.STAMP).exists()


def test_unknown_text_is_refused_and_nothing_changes(copy):
    path = copy / "other/code_softmax.py"
    path.write_text(path.read_text().replace("cub::Max()", "cub::Maximum()"))
    before = contents(copy)
    with pytest.raises(UnknownJittorError, match="code_softmax.py: neither the original nor the fixed text of "
                                                   "softmax-cub-max"):
        patches.apply(copy)
    assert contents(copy) == before and not (copy / patches.STAMP).exists()


def test_another_jittor_version_is_refused(copy):
    init = copy / "__init__.py"
    init.write_text(init.read_text().replace("__version__ = '1.3.11.0'", "__version__ = '1.3.12.0'"))
    with pytest.raises(UnknownJittorError, match="Jittor 1.3.12.0 .* written for Jittor 1.3.11"):
        patches.apply(copy)
