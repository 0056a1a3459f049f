"""What the tests share: where their data lives, the guards that skip a test when something it needs is
missing, and models with the official reference weights.

Paths (import them: ``from conftest import SAMPLE``):

* ``ROOT``: the repository.
* ``SHARED``: ``../shared`` beside the repository, not part of it.
* ``REFERENCE``: ``$GOLDYOLO_REFERENCE``, else ``SHARED/reference``: numbers and fixtures made with the
  official PyTorch code (``models.json``, ``parity_{n,s}.npz``, ``keys_*.json``, ``weights.py``, timings).
* ``COCO_SUBSET``: ``SHARED/coco_subset``: 1,000 COCO images and their annotations.
* ``SAMPLE``: ``data/sample``, the committed 32-image sample (always present).
* ``FIXTURES``: ``tests/fixtures``, committed outputs of the official model (always present).
* ``OFFICIAL_CODE``: ``$GOLDYOLO_OFFICIAL_CODE``, else ``SHARED/official/Gold-YOLO``: the official Gold-YOLO code
  (commit 225ddd2), run as the oracle.

Guards: a test (or a module, through ``pytestmark``) marked with one of these is skipped, with the reason
saying what is missing and how to get it, where that is absent:

* ``@pytest.mark.needs_reference("models.json", ...)``: the reference folder (``README.md``) or the files named;
* ``@pytest.mark.needs_coco_subset``: ``COCO_SUBSET`` (annotations and images);
* ``@pytest.mark.needs_torch``: PyTorch;
* ``@pytest.mark.needs_official_code``: PyTorch and ``OFFICIAL_CODE``;
* ``@pytest.mark.needs_mpi``: Open MPI's ``mpirun`` and ``mpicc``;
* ``@pytest.mark.needs_chromium``, ``@pytest.mark.needs_pdftotext``: the programs.

The same checks as calls: ``missing(guard, *args)`` (the reason, or None), ``need_reference(*files)`` (for
fixtures whose files depend on a parameter) and ``import_torch()`` (for modules that need torch to import).
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import pytest

# The notebook and several-process tests run training and benchmark processes beside this one: OpenMP threads
# that spin while waiting would slow them down many times on a small machine (docs/install.md).
# Set before Jittor (and its OpenMP runtime) loads; the children inherit it. An explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# On a GPU machine, GOLDYOLO_TEST_DEVICE=cuda runs the tests' Jittor work on the GPU (after python -m goldyolo
# setup cuda; add use_tensorcore=0 for float32 math within the parity tolerances).
if os.environ.get("GOLDYOLO_TEST_DEVICE") == "cuda":
    from goldyolo.runtime import use_cuda
    use_cuda()

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = Path(os.environ.get("GOLDYOLO_REFERENCE", SHARED / "reference"))
COCO_SUBSET = SHARED / "coco_subset"
SAMPLE = ROOT / "data" / "sample"
FIXTURES = ROOT / "tests" / "fixtures"
OFFICIAL_CODE = Path(os.environ.get("GOLDYOLO_OFFICIAL_CODE") or SHARED / "official" / "Gold-YOLO")

SIZES = ("n", "s", "m", "l")
CONV_GAIN = {"n": 0.65, "s": 0.65, "m": 0.6, "l": 1.0}  # weights.py docstring

GET_SHARED = "put the shared data folder beside the repository as ../shared"
GET_TORCH = "python -m pip install -e '.[torch]'"


# ----------------------------------------------------------------- guards: the reason a need is not met, or None
def _missing_reference(*files: str) -> Optional[str]:
    absent = [REFERENCE] if not REFERENCE.is_dir() else [REFERENCE / n for n in files or ("README.md",)
                                                          if not (REFERENCE / n).exists()]
    if absent:
        return (f"official reference data not found: {', '.join(map(str, absent))} ({GET_SHARED}, "
                f"or set GOLDYOLO_REFERENCE to a copy of shared/reference)")
    return None


def _missing_coco_subset() -> Optional[str]:
    for path in (COCO_SUBSET / "instances.json", COCO_SUBSET / "images"):
        if not path.exists():
            return f"COCO subset not found: {path} ({GET_SHARED}; it holds coco_subset/)"
    return None


@functools.lru_cache(maxsize=None)
def _missing_torch() -> Optional[str]:
    return None if importlib.util.find_spec("torch") else f"PyTorch not installed ({GET_TORCH})"


def _missing_official_code() -> Optional[str]:
    code = None if (OFFICIAL_CODE / "tools" / "train.py").is_file() else (
        f"official Gold-YOLO code not found at {OFFICIAL_CODE} ({GET_SHARED}, or set GOLDYOLO_OFFICIAL_CODE="
        "<checkout of huawei-noah/Efficient-Computing>/Detection/Gold-YOLO)")
    return "; ".join(filter(None, (_missing_torch(), code))) or None


def _missing_program(*names: str, install: str) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        absent = [name for name in names if shutil.which(name) is None]
        return f"{' and '.join(absent)} not installed ({install})" if absent else None
    return check


GUARDS: Dict[str, Callable[..., Optional[str]]] = {
    "needs_reference": _missing_reference,
    "needs_coco_subset": _missing_coco_subset,
    "needs_torch": _missing_torch,
    "needs_official_code": _missing_official_code,
    "needs_mpi": _missing_program("mpirun", "mpicc",
                                  install="Open MPI: apt-get install openmpi-bin libopenmpi-dev"),
    "needs_chromium": _missing_program("chromium", install="apt-get install chromium"),
    "needs_pdftotext": _missing_program("pdftotext", install="apt-get install poppler-utils"),
}


def missing(guard: str, *args: str) -> Optional[str]:
    """What ``guard`` (a key of ``GUARDS``) finds missing, with how to get it; None when nothing is."""
    return GUARDS[guard](*args)


def need_reference(*files: str) -> Path:
    """The reference folder; skips the calling test when it (its ``README.md``) or one of ``files`` is absent."""
    reason = _missing_reference(*files)
    if reason:
        pytest.skip(reason)
    return REFERENCE


def import_torch():
    """The ``torch`` module; skips the calling test, or the whole module at import, where it is not installed."""
    return pytest.importorskip("torch", reason=_missing_torch())


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long checks, run with `pytest -m slow`")
    config.addinivalue_line("markers", "needs_reference(*files): skipped without the official reference data")
    config.addinivalue_line("markers", "needs_coco_subset: skipped without ../shared/coco_subset")
    config.addinivalue_line("markers", "needs_torch: skipped without PyTorch")
    config.addinivalue_line("markers", "needs_official_code: skipped without PyTorch and the official code")
    config.addinivalue_line("markers", "needs_mpi: skipped without Open MPI (mpirun, mpicc)")
    config.addinivalue_line("markers", "needs_chromium: skipped without chromium")
    config.addinivalue_line("markers", "needs_pdftotext: skipped without pdftotext")
    # The session starts children that die by signals (on purpose, and notebook kernels). Jittor's SIGCHLD
    # handler, loaded with a test module, would end pytest at once: exit status 1 and no output at all.
    from goldyolo.runtime import tolerate_child_deaths
    tolerate_child_deaths()   # also for Jittor loaded later through goldyolo.runtime.jt


def pytest_collection_finish(session):
    """Collection may have imported Jittor directly, which installs its SIGCHLD handler again."""
    from goldyolo.runtime import tolerate_child_deaths
    tolerate_child_deaths()


def pytest_collection_modifyitems(config, items):
    """Skip each test marked with a guard whose need is not met (before its fixtures are set up), saying
    everything that is missing."""
    for item in items:
        reasons = [check(*mark.args) for guard, check in GUARDS.items() for mark in item.iter_markers(guard)]
        reasons = list(dict.fromkeys(filter(None, reasons)))
        if reasons:
            item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))


# ----------------------------------------------------------------- the reference models and files
@pytest.fixture(scope="session")
def reference_weights():
    """``weights.gen_state_dict`` loaded from the reference folder."""
    path = need_reference("weights.py") / "weights.py"
    spec = importlib.util.spec_from_file_location("reference_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_keys(size: str) -> dict:
    return json.loads((need_reference(f"keys_{size}.json") / f"keys_{size}.json").read_text())


def reference_state(reference_weights, size: str, salt: str | None = None) -> dict:
    """Deterministic float32 weights for model ``size`` (the parity fixtures' weights for N and S)."""
    keys = reference_keys(size)["training"]
    state = reference_weights.gen_state_dict([(k, s) for k, s, _ in keys],
                                             salt=salt if salt is not None else f"parity_{size}:",
                                             conv_gain=CONV_GAIN[size])
    return {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in state.items()}


def model_with_reference_weights(reference_weights, size: str, salt: str | None = None):
    from goldyolo import build_model, load_state_dict_strict
    model = build_model(f"gold_yolo-{size}")
    load_state_dict_strict(model, reference_state(reference_weights, size, salt))
    return model


@pytest.fixture(scope="session")
def parity():
    """``parity_{n,s}.npz`` loaded once."""
    cache = {}

    def get(size: str):
        if size not in cache:
            cache[size] = dict(np.load(need_reference(f"parity_{size}.npz") / f"parity_{size}.npz"))
        return cache[size]
    return get


@pytest.fixture(scope="session")
def official_outputs():
    """``tests/fixtures/official_outputs.npz``: outputs of the official model (committed)."""
    return dict(np.load(FIXTURES / "official_outputs.npz"))


def tiny_train_config(out, **overrides):
    """The tests' small training run: Gold-YOLO-N on 4 sample images at 64 px, one epoch, batch 4, no augmentation,
    no warm-up, no evaluation, the lr not rescaled; ``overrides`` change any field."""
    from goldyolo.engine.trainer import TrainConfig
    settings = dict(model="gold_yolo-n", data=str(SAMPLE / "train.json"), images=str(SAMPLE / "images"), out=str(out),
                    img_size=64, epochs=1, batch_size=4, augment=False, subset=4, eval_interval=0, nominal_batch=4,
                    bs_per_gpu=4, min_warmup_steps=0, solver={"warmup_epochs": 0.0})
    settings.update(overrides)
    return TrainConfig(**settings)
