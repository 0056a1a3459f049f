"""compare-precision: deploy outputs and COCO metrics with bf16 convolutions against float32."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.compare import precision
from goldyolo.compare.precision import PrecisionConfig, compare_precision, spread
from goldyolo.errors import InputError
from goldyolo.ops.conv import cpu_has_bf16

from conftest import SAMPLE


def test_spread_of_differences():
    s = spread(np.array([-4.0, 1.0, 0.0, 2.0]))
    assert s == {"max": 4.0, "p99": pytest.approx(3.94), "median": 1.5, "mean": 1.75, "n": 4}
    assert spread(np.zeros(0))["n"] == 0


def test_without_bf16_instructions_it_is_refused(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    with pytest.raises(InputError, match="bf16 instructions"):
        compare_precision(PrecisionConfig(weights="x.npz"))


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 instructions (AVX-512 BF16 or AMX)")
def test_bf16_outputs_and_metrics_beside_float32(tmp_path):
    from goldyolo.models import build_model
    from goldyolo.models.checkpoint import save_weights
    from goldyolo.runtime import jt
    model = build_model("gold_yolo-n")
    for name, param in model.named_parameters():
        if "_preds" in name and name.endswith("weight"):  # initialised to zero: give the outputs some work
            param.update(jt.randn(param.shape) * 0.01)
    weights = save_weights(model, tmp_path / "n.npz")
    out = tmp_path / "precision.json"
    summary = compare_precision(PrecisionConfig(weights=str(weights), model="gold_yolo-n",
                                                data=str(SAMPLE / "test.json"), images=str(SAMPLE / "images"),
                                                img_size=64, batch_size=4, conf_thres=0.0, out=str(out)))
    result = json.loads(out.read_text())
    outputs = result["outputs"]
    assert outputs["kept_anchors"] == result["num_images"] * (8 * 8 + 4 * 4 + 2 * 2)  # every anchor at conf 0
    assert outputs["boxes_px"]["median"] <= outputs["boxes_px"]["max"] < 64 and outputs["boxes_px"]["max"] > 0
    assert 0 < outputs["scores"]["max"] < 0.05 * outputs["largest_score"] + 1e-3
    assert 0.9 <= outputs["same_best_class"] <= 1.0
    assert set(result["coco"]) == {"float32", "bf16"} and "AP50" in result["coco_difference"]
    assert result["config"]["out"] == f"OUTSIDE/{out.name}" and "written:" in summary  # no machine path
