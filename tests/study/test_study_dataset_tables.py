"""Notebook 01's tables (``goldyolo_study.dataset_tables``) on the committed sample and synthetic boxes."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from goldyolo.data.split import write_splits
from goldyolo_study import dataset_tables

from conftest import COCO_SUBSET, SAMPLE

SUBSET = COCO_SUBSET


@pytest.fixture(scope="module")
def sample_split(tmp_path_factory):
    """data/sample split 24/8, as notebook 01 does it in the quick and CI profiles."""
    out = tmp_path_factory.mktemp("splits")
    summary = write_splits(SAMPLE / "instances.json", out, 8, 0)
    return summary, dataset_tables.load_splits(out)


def test_split_checks_and_counts_match_the_json(sample_split):
    summary, splits = sample_split
    coco = json.loads((SAMPLE / "instances.json").read_text())
    checks = dataset_tables.split_checks(splits)
    assert checks == {"train_images": 24, "test_images": 8, "in_both": 0, "test_from_coco_json": 8}
    assert dataset_tables.split_checks_line(checks) == ("no image is in both splits; 8 of the 8 test images have "
                                                        "official COCO annotations")
    assert dataset_tables.split_checks_line(dict(checks, in_both=2)).startswith("2 images are in both splits; ")
    table = dataset_tables.count_table(checks, summary)
    assert table.split.tolist() == ["train (ours)", "test (ours)", "train (original report)", "test (original report)"]
    assert table.images.tolist() == [24, 8, 800, 200]
    boxes = sum(1 for a in coco["annotations"] if not a.get("iscrowd", 0))
    assert table.boxes.iloc[0] + table.boxes.iloc[1] == boxes
    assert table.boxes.iloc[2:].tolist() == [6270, 1524]
    shown = dataset_tables.split_summary_table(summary)
    assert shown.images.tolist() == [24, 8] and shown.boxes.sum() == boxes
    assert shown["box source (images)"].str.replace("\u00a0", " ").tolist() == ["converted from YOLO labels: 24",
                                                                                "official COCO json: 8"]
    assert " " not in shown["box source (images)"][0]  # a source never breaks across lines


def test_split_checks_see_shared_images_and_other_sources():
    image = {"id": 1, "ann_source": "coco_json"}
    splits = {"train": {"images": [image, {"id": 2, "ann_source": "coco_json"}]},
              "test": {"images": [image, {"id": 3, "ann_source": "yolo_labels_converted"}]}}
    checks = dataset_tables.split_checks(splits)
    assert checks["in_both"] == 1 and checks["test_from_coco_json"] == 1 and checks["train_images"] == 2


def test_box_table_and_category_counts(sample_split):
    _, splits = sample_split
    boxes = dataset_tables.box_table(splits)
    assert list(boxes.columns) == ["split", "category", "area", "w", "h"]
    for name in ("train", "test"):
        plain = [a for a in splits[name]["annotations"] if not a.get("iscrowd", 0)]
        assert (boxes.split == name).sum() == len(plain)
        assert boxes[boxes.split == name].w.tolist() == [a["bbox"][2] for a in plain]
    counts = dataset_tables.category_counts(boxes)
    assert counts.values.sum() == len(boxes)
    assert counts["train"].is_monotonic_decreasing
    missing = dataset_tables.missing_in_test(counts)
    assert missing == [c for c in counts.index if c not in set(boxes[boxes.split == "test"].category)]


def test_size_counts_use_coco_ranges_with_closed_upper_edges():
    areas = [0, 32 ** 2, 32 ** 2 + 1, 96 ** 2, 96 ** 2 + 1, 1e6]
    boxes = pd.DataFrame({"split": ["train"] * 5 + ["test"], "area": areas})
    table = dataset_tables.size_counts(boxes)
    assert list(table.columns) == ["small", "medium", "large"]
    assert table.loc["train"].tolist() == [2, 2, 1]
    assert table.loc["test"].tolist() == [0, 0, 1]
    assert "size" not in boxes.columns  # the caller's table is left as it was


@pytest.mark.needs_coco_subset
def test_full_split_counts_of_the_shared_subset(tmp_path):
    summary = write_splits(SUBSET / "instances.json", tmp_path, 200, 0)
    splits = dataset_tables.load_splits(tmp_path)
    checks = dataset_tables.split_checks(splits)
    assert checks == {"train_images": 800, "test_images": 200, "in_both": 0, "test_from_coco_json": 200}
    # the numbers notebook 01 shows for the study's split
    assert dataset_tables.count_table(checks, summary).boxes.tolist() == [7498, 1705, 6270, 1524]
    sizes = dataset_tables.size_counts(dataset_tables.box_table(splits))
    assert sizes.loc["test"].tolist() == [755, 555, 395]
    assert sizes.loc["train"].tolist() == [2583, 2747, 2168]


def test_task_line_counts_images_with_a_box_and_crowd_regions(tmp_path):
    import json

    from goldyolo_study import dataset_tables
    def write(name, images, boxes):
        anns = [{"id": i, "image_id": im, "iscrowd": crowd, "bbox": [0, 0, 1, 1], "category_id": 1}
                for i, (im, crowd) in enumerate(boxes)]
        (tmp_path / name).write_text(json.dumps({"images": [{"id": i} for i in range(images)], "annotations": anns,
                                                 "categories": [{"id": 1, "name": "person"}]}))
    write("train.json", 4, [(0, 0), (0, 0), (1, 0), (2, 1)])
    write("test.json", 2, [(1, 0)])
    assert dataset_tables.task_line(tmp_path / "train.json", tmp_path / "test.json") == (
        "classes: person; training: 4 images (2 with a box), 3 boxes (+1 crowd); "
        "test: 2 images (1 with a box), 1 boxes (+0 crowd)")
