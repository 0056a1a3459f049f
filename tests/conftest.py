"""Shared fixtures: the official reference data in ``../shared/reference`` and models with its weights."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("GOLDYOLO_REFERENCE", ROOT.parent / "shared" / "reference"))
SIZES = ("n", "s", "m", "l")
CONV_GAIN = {"n": 0.65, "s": 0.65, "m": 0.6, "l": 1.0}  # weights.py docstring


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long checks, run with `pytest -m slow`")


def need_reference(*names: str) -> Path:
    """The reference folder, or skip (with the reason shown) when it or a file is absent."""
    for name in names or ("README.md",):
        if not (REFERENCE / name).exists():
            pytest.skip(f"reference data not found: {REFERENCE / name} (clone with ../shared beside it)")
    return REFERENCE


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
