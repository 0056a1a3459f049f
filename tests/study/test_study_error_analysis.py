"""Notebook 04's error analysis (``goldyolo_study.error_analysis``) on a made-up test split."""
from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd

from goldyolo_study import error_analysis, plots

matplotlib.use("Agg")

ANNOTATIONS = {
    "images": [{"id": 1}, {"id": 2}, {"id": 3}],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 5, "name": "boat"}],
    "annotations": [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
        {"image_id": 1, "category_id": 3, "bbox": [50, 50, 20, 20], "iscrowd": 0},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
        {"image_id": 2, "category_id": 1, "bbox": [100, 100, 10, 10], "iscrowd": 1},  # crowd: left out
    ]}
DETECTIONS = [
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},    # correct
    {"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.8},    # duplicate of it
    {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.7},  # on the car: wrong class
    {"image_id": 1, "category_id": 3, "bbox": [60, 60, 20, 20], "score": 0.6},  # car, IoU 1/7: poor localisation
    {"image_id": 2, "category_id": 3, "bbox": [200, 200, 5, 5], "score": 0.5},  # background
    {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.01},   # below the threshold
]


def test_error_kinds_of_confident_detections():
    kinds = error_analysis.error_kinds(DETECTIONS, ANNOTATIONS, score_thres=0.1)
    assert kinds == {"correct": 1, "duplicate": 1, "wrong class": 1, "poor localisation": 1, "background": 1,
                     "missed": 2}  # the car of image 1 and the person of image 2 (its detection is too weak)
    assert error_analysis.error_kinds(DETECTIONS, ANNOTATIONS, score_thres=0.0)["correct"] == 2


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [5, 0, 10, 10]], dtype=float)
    ious = error_analysis.iou_matrix(a, a[:1])
    assert np.allclose(ious[:, 0], [1.0, 50 / 150])
    assert error_analysis.iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)


def test_counts_and_per_class_table(tmp_path):
    counts = error_analysis.per_image_counts(DETECTIONS, [1, 2, 3])
    assert counts.tolist() == [4, 2, 0]
    table = error_analysis.per_class_table({"person": 0.5, "car": 0.0, "boat": 0.0}, ANNOTATIONS)
    assert table.to_dict("list") == {"class": ["person", "car"], "test instances": [2, 1], "AP": [0.5, 0.0]}
    (tmp_path / "p.json").write_text(json.dumps(DETECTIONS))
    (tmp_path / "a.json").write_text(json.dumps(ANNOTATIONS))
    detections, annotations = error_analysis.read(tmp_path / "p.json", tmp_path / "a.json")
    assert len(detections) == 6 and annotations["images"][0]["id"] == 1
    fig = plots.scores_and_counts(detections, counts, 300, 0.03)
    assert fig.axes[0].get_ylabel() == "detections" and fig.axes[1].get_legend() is not None
    capped = pd.Series([300, 300, 300])
    fig = plots.scores_and_counts(detections, capped, 300, 0.03)
    assert len(fig.axes) == 1 and fig.axes[0].get_title().endswith("every image keeps 300 (the cap of 300)")
    nearly = pd.Series([300] * 18 + [120, 250])
    fig = plots.scores_and_counts(detections, nearly, 300, 0.03)
    assert len(fig.axes) == 1
    assert fig.axes[0].get_title().endswith("18 of 20 images keep 300 (the cap of 300), the others 120-250")
    assert len(plots.scores_and_counts(detections, pd.Series([300] * 17 + [1, 2, 3]), 300, 0.03).axes) == 2
