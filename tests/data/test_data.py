"""COCO reading with bad inputs, the sample pipeline, and preprocessing against the reference."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from goldyolo.config import get_config
from goldyolo.data import CocoSource, DetectionDataset
from goldyolo.data.augment import letterbox

from conftest import COCO_SUBSET


def write_image(path: Path, size=(64, 48), mode="RGB"):
    Image.new(mode, size, color=100 if mode in ("L", "CMYK") else (120, 60, 30)).save(path)


@pytest.fixture
def messy(tmp_path):
    """A folder with one example of every problem the data check must name."""
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "good.jpg")
    write_image(images / "gray.png", mode="L")
    write_image(images / "cmyk.jpg", mode="CMYK")
    write_image(images / "really_png.jpg".replace(".jpg", ".png"))
    shutil.copy(images / "really_png.png", images / "wrong_ext.jpg")
    (images / "empty.jpg").write_bytes(b"")
    data = (images / "good.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (images / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00garbage" * 50)
    files = ["good.jpg", "gray.png", "cmyk.jpg", "wrong_ext.jpg", "empty.jpg", "truncated.jpg", "corrupt.jpg",
             "missing.jpg"]
    coco = {"images": [{"id": i + 1, "file_name": f, "width": 64, "height": 48} for i, f in enumerate(files)]
            + [{"id": 100, "file_name": "good.jpg", "width": 64, "height": 48},
               {"id": 100, "file_name": "gray.png", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0, "area": 400},
                {"id": 2, "image_id": 1, "category_id": 3, "bbox": [50, 40, 30, 30], "iscrowd": 0, "area": 900},
                {"id": 3, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 0, "area": 25},
                {"id": 4, "image_id": 1, "category_id": 1, "bbox": [100, 100, 5, 5], "iscrowd": 0, "area": 25},
                {"id": 5, "image_id": 2, "category_id": 1, "bbox": [5, 5, 0, 10], "iscrowd": 0, "area": 0},
                {"id": 6, "image_id": 2, "category_id": 3, "bbox": [5, 5, 10, 10], "iscrowd": 1, "area": 100},
            ]}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    return tmp_path


def test_every_problem_is_named_skipped_and_counted(messy):
    source = CocoSource(messy / "ann.json", messy / "images")
    counts = source.report.counts
    assert {Path(r.path).name for r in source.records} == {"good.jpg", "gray.png", "cmyk.jpg", "wrong_ext.jpg"}
    assert counts["missing_image"] == 1 and counts["duplicate_image_id"] == 1
    assert counts["unreadable_image"] == 3  # empty, truncated, corrupt
    assert counts["converted_grayscale"] == 1 and counts["converted_cmyk"] == 1
    assert counts["unknown_category"] == 1 and counts["box_outside_image"] == 1
    assert counts["box_zero_area"] == 1 and counts["crowd_box_ignored"] == 1 and counts["box_clipped"] == 1
    messages = " ".join(m for ms in source.report.messages.values() for m in ms)
    assert "missing.jpg: file not found" in messages and "empty.jpg" in messages and "category id 7" in messages
    good = next(r for r in source.records if r.path.name == "good.jpg")
    np.testing.assert_allclose(good.labels, [[0, 20 / 64, 20 / 48, 20 / 64, 20 / 48],
                                             [1, 57 / 64, 44 / 48, 14 / 64, 8 / 48]], rtol=1e-6)
    assert source.category_of_class(1) == 3 and source.names == ["person", "car"]


def test_the_valid_rest_loads_into_batches(messy):
    source = CocoSource(messy / "ann.json", messy / "images")
    dataset = DetectionDataset(source, img_size=64, augment=True, hyp=get_config("gold_yolo-s").augment,
                               batch_size=4, shuffle=True)
    images, targets, metas = next(iter(dataset))
    assert images.shape == (4, 3, 64, 64) and images.dtype == np.float32 and 0 <= images.min() <= images.max() <= 1
    assert targets.shape[1] == 6 and set(targets[:, 0]) <= {0, 1, 2, 3}
    assert len(metas) == 4


def test_malformed_json_is_reported(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        CocoSource(tmp_path / "bad.json", tmp_path)


@pytest.mark.needs_coco_subset
def test_letterbox_reproduces_the_reference_input(parity):
    ref = parity("n")
    for i, name in enumerate(ref["input_names"]):
        image = cv2.imread(str(COCO_SUBSET / "images" / str(name)))
        boxed, ratio, _ = letterbox(image, (320, 320), scaleup=True)
        x = boxed.transpose(2, 0, 1)[::-1].astype(np.float32) / 255.0
        assert ratio == 0.5
        np.testing.assert_array_equal(x, ref["input"][i])


@pytest.mark.needs_coco_subset
def test_eval_targets_match_the_reference_targets(parity):
    ref = parity("n")
    ids = [int(Path(str(n)).stem) for n in ref["input_names"]]
    source = CocoSource(COCO_SUBSET / "instances.json", COCO_SUBSET / "images", image_ids=ids)
    dataset = DetectionDataset(source, img_size=320, augment=False, batch_size=2)
    _, targets, metas = next(iter(dataset))
    assert [m["image_id"] for m in metas] == ids
    np.testing.assert_allclose(targets, ref["targets"], atol=2e-6)


@pytest.mark.needs_coco_subset
def test_samples_are_a_function_of_seed_epoch_and_index():
    source = CocoSource(COCO_SUBSET / "instances.json", COCO_SUBSET / "images", image_ids=None)
    source.records = source.records[:8]
    hyp = get_config("gold_yolo-s").augment

    def first_batch(workers, epoch):
        dataset = DetectionDataset(source, img_size=128, augment=True, hyp=hyp, batch_size=4, shuffle=True,
                                   num_workers=workers, seed=3)
        dataset.set_epoch(epoch)
        return next(iter(dataset))[:2]

    a, b, c = first_batch(0, 1), first_batch(2, 1), first_batch(0, 2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
