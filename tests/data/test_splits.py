"""The train/test split: sizes, sources, disjointness and repeatability."""
from __future__ import annotations

import json

import pytest

from goldyolo.cli import main
from goldyolo.data.split import split_coco, split_summary

from conftest import COCO_SUBSET

pytestmark = pytest.mark.needs_coco_subset


@pytest.fixture(scope="module")
def annotations():
    return json.loads((COCO_SUBSET / "instances.json").read_text())


def test_split_of_the_subset(annotations):
    splits = split_coco(annotations, n_test=200, seed=0)
    train_ids = {im["id"] for im in splits["train"]["images"]}
    test_ids = {im["id"] for im in splits["test"]["images"]}
    assert len(train_ids) == 800 and len(test_ids) == 200 and not train_ids & test_ids
    assert all(im["ann_source"] == "coco_json" for im in splits["test"]["images"])
    assert all(a["image_id"] in test_ids for a in splits["test"]["annotations"])
    total = len(splits["train"]["annotations"]) + len(splits["test"]["annotations"])
    assert total == len(annotations["annotations"])
    summary = split_summary(splits)
    assert summary["train"]["ann_source"] == {"yolo_labels_converted": 794, "coco_json": 6}
    assert split_coco(annotations, 200, 0)["test"]["images"] == splits["test"]["images"]
    assert split_coco(annotations, 200, 1)["test"]["images"] != splits["test"]["images"]


def test_too_few_official_images_is_an_error(annotations):
    with pytest.raises(ValueError, match="only 206 images have ann_source='coco_json'"):
        split_coco(annotations, n_test=300)


def test_split_command_writes_coco_files(tmp_path, annotations):
    assert main(["data", "split", "--ann", str(COCO_SUBSET / "instances.json"), "--out", str(tmp_path)]) == 0
    test = json.loads((tmp_path / "test.json").read_text())
    assert len(test["images"]) == 200 and len(test["categories"]) == 80
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["seed"] == 0 and summary["test"]["images"] == 200
