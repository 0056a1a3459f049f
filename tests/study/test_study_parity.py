"""Model parity: the parity-report command (``goldyolo.compare.model_parity``) and the report's tables of its json
(``goldyolo_study.parity``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.compare import model_parity
from goldyolo.errors import InputNotFoundError
from goldyolo_study import parity

from conftest import FIXTURES, REFERENCE, ROOT


@pytest.mark.needs_reference("weights.py", "keys_n.json")
def test_n_parity_within_the_reference_bounds():
    result = model_parity.size_parity(REFERENCE, dict(np.load(FIXTURES / "official_outputs.npz")), "n")
    assert result["input"] == [3, 3, 96, 160]
    assert result["eval_box_px"] <= 1e-2 and result["deploy_box_px"] <= 1e-2
    assert result["eval_score"] <= 2e-5 and result["deploy_score"] <= 2e-5
    assert result["train_cls_vs_official"] <= 1e-4 and result["train_reg_vs_official"] <= 2e-3
    assert 0 < result["official_train_cls_vs_float64"] < 1e-4  # the official float32 run's own rounding


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(InputNotFoundError, match="weights.py"):
        model_parity.parity_report(str(tmp_path), str(tmp_path / "none.npz"), str(tmp_path / "p.json"))
    assert not (tmp_path / "p.json").exists()
    json.dumps(model_parity.CONV_GAIN)


def _entry(scale):
    keys = [key for _, key in parity.PARITY_KEYS] + ["train_reg_vs_float64", "official_train_reg_vs_float64"]
    return dict({key: scale for key in keys}, input=[2, 3, 96, 128])


def test_report_tables_and_text_come_from_the_json():
    report = {"sizes": {"n": dict(_entry(1e-5), official_train_cls_vs_float64=1e-5),
                        "l": dict(_entry(1e-4), official_train_cls_vs_float64=4e-5, train_cls_vs_float64=1.3e-4)},
              "models": [{"model": "gold_yolo-n", "params": 5622494, "gflops": 12.108, "training_params": 6062590,
                          "paper_params_M": 5.6, "paper_gflops": 12.1, "paper_ap": 39.9}]}
    table = parity.parity_table(report)
    assert list(table["size"]) == ["N", "L"] and list(table["input"]) == ["2x3x96x128"] * 2
    assert table.loc[1, "goldyolo cls vs f64"] == 1.3e-4 and table.loc[0, "official cls vs f64"] == 1e-5
    models = parity.model_table(report)
    assert models.loc[0, "params (M)"] == 5.62 and models.loc[0, "paper COCO AP"] == 39.9
    text = " ".join(parity.parity_sentences(report))
    assert "N, L" in text and "4.0e-05 (L, 4.0 times N's)" in text and "1.3e-04" in text
    assert parity.parity_sentences({}) == ["No parity run is recorded (`python -m goldyolo parity-report`)."]


def test_committed_parity_json_has_every_size_and_model():
    report = json.loads((ROOT / "report" / "full" / "parity" / "parity.json").read_text())
    assert list(report["sizes"]) == list(model_parity.SIZES)
    assert [row["model"] for row in report["models"]] == [f"gold_yolo-{size}" for size in model_parity.SIZES]
    assert all(entry["deploy_score"] <= 2e-5 for entry in report["sizes"].values())
