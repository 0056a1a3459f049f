"""The parity-report command: goldyolo's outputs against the official PyTorch model's on the same weights, for all
four sizes, written to a json (the report's accuracy anchor where the official weights cannot be downloaded).

Inputs (neither is made here): the shared reference folder (``weights.py``, the name-driven weight generator,
and ``keys_{n,s,m,l}.json``, the official state_dict names and shapes) and ``tests/fixtures/official_outputs.npz``
(the official model's eval, deploy and training-mode outputs at 48 sampled anchors, the training ones also in
float64, made by ``tests/fixtures/make_official_fixtures.py``).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Dict

import numpy as np

from ..errors import InputNotFoundError

SIZES = ("n", "s", "m", "l")
MODEL_SIZE = 640  # the image size of the paper's GFLOPs
CONV_GAIN = {"n": 0.65, "s": 0.65, "m": 0.6, "l": 1.0}  # the gains weights.py's docstring gives per size


def reference_model(reference: Path, size: str, salt: str):
    """``gold_yolo-<size>`` with the generator's weights for ``salt``, loaded strictly."""
    from ..models import build_model
    from ..models.checkpoint import load_state_dict_strict
    spec = importlib.util.spec_from_file_location("reference_weights", reference / "weights.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    keys = json.loads((reference / f"keys_{size}.json").read_text())["training"]
    state = generator.gen_state_dict([(k, s) for k, s, _ in keys], salt=salt, conv_gain=CONV_GAIN[size])
    model = build_model(f"gold_yolo-{size}")
    load_state_dict_strict(model, {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in state.items()})
    return model


def size_parity(reference: Path, fixtures: Dict[str, np.ndarray], size: str) -> Dict[str, float]:
    """Largest absolute differences from the official model for one size: eval and deploy boxes (px) and
    scores; training-mode class probabilities and regression outputs against the official float32 and float64
    runs, and the official float32 run's own difference from float64."""
    from ..models.fuse import fuse
    from ..models.yolo import set_drop_path
    from ..runtime import jt
    rows = fixtures[f"{size}_rows"]
    x = jt.array(fixtures[f"{size}_pixels"].astype(np.float32) / 255.0)
    salt = str(fixtures[f"{size}_salt"])
    result: Dict[str, float] = {"input": list(fixtures[f"{size}_pixels"].shape)}
    # a fresh model for each form: training-mode BN updates the running statistics, fuse() changes the model
    for key in ("eval", "deploy"):
        net = reference_model(reference, size, salt).eval()
        got, official = (fuse(net) if key == "deploy" else net)(x).numpy()[:, rows], fixtures[f"{size}_{key}_out"]
        result[f"{key}_box_px"] = float(np.abs(got[..., :4] - official[..., :4]).max())
        result[f"{key}_score"] = float(np.abs(got[..., 4:] - official[..., 4:]).max())
    model = reference_model(reference, size, salt).train()
    set_drop_path(model, False)
    _, cls, reg = model(x)
    for name, got in (("cls", cls.numpy()[:, rows]), ("reg", reg.numpy()[:, rows])):
        official, exact = fixtures[f"{size}_train_{name}"], fixtures[f"{size}_train_{name}_f64"]
        result[f"train_{name}_vs_official"] = float(np.abs(got - official).max())
        result[f"train_{name}_vs_float64"] = float(np.abs(got - exact).max())
        result[f"official_train_{name}_vs_float64"] = float(np.abs(official - exact).max())
    return result


def parity_report(reference: str = "../shared/reference", fixtures: str = "tests/fixtures/official_outputs.npz",
                  out: str = "report/full/parity/parity.json") -> str:
    """``parity-report``: :func:`size_parity` for N, S, M and L, written to ``out``."""
    from ..utils.machine import environment
    reference_dir = Path(reference)
    missing = [str(p) for p in [reference_dir / "weights.py", Path(fixtures)] if not p.is_file()]
    if missing:
        raise InputNotFoundError(f"parity-report needs {', '.join(missing)} (the shared reference data and the "
                                 "committed official fixtures)")
    from ..models.info import model_rows
    data = dict(np.load(fixtures))
    sizes = {size: size_parity(reference_dir, data, size) for size in SIZES}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"sizes": sizes, "models": model_rows(MODEL_SIZE), "model_img_size": MODEL_SIZE,
                                     "fixtures": str(fixtures), **environment()}, indent=1))
    return f"written: {out}"
