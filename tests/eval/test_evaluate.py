"""pycocotools evaluation: perfect predictions score 1, the results use COCO ids and boxes."""
from __future__ import annotations

import pytest

from goldyolo.data import CocoSource
from goldyolo.eval.evaluate import coco_metrics

from conftest import COCO_SUBSET

pytestmark = pytest.mark.needs_coco_subset


@pytest.fixture(scope="module")
def source():
    src = CocoSource(COCO_SUBSET / "instances.json", COCO_SUBSET / "images")
    src.records = src.records[:20]
    return src


def ground_truth_as_results(source, shift=0.0):
    results = []
    for record in source.records:
        for ann in source.coco.imgToAnns[record.image_id]:
            x, y, w, h = ann["bbox"]
            results.append({"image_id": record.image_id, "category_id": ann["category_id"],
                            "bbox": [x + shift, y, w, h], "score": 0.9})
    return results


def test_perfect_predictions_score_one(source):
    metrics = coco_metrics(source, ground_truth_as_results(source), [r.image_id for r in source.records])
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in metrics["per_class_AP"].values())


def test_shifted_predictions_lose_strict_ap_first(source):
    shifted = ground_truth_as_results(source, shift=4.0)
    metrics = coco_metrics(source, shifted, [r.image_id for r in source.records])
    assert metrics["AP50"] > metrics["AP75"] > 0 and metrics["AP"] < 1.0


def test_no_detections_give_zero(source):
    metrics = coco_metrics(source, [], [r.image_id for r in source.records])
    assert metrics["AP"] == 0.0 and metrics["per_class_AP"] == {}
