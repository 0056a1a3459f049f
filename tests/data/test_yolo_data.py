"""YOLO-format data (data.yaml, images/, labels/): reading with the checks, conversion both ways, and a
made-up 3-class set that trains, evaluates and predicts."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from goldyolo.data.coco import CocoSource
from goldyolo.data.yolo_source import YoloSource, label_path, read_data_yaml, yolo_to_coco
from goldyolo.errors import InputError

from conftest import SAMPLE, tiny_train_config

NAMES = ["disc", "block", "bar"]
COLOURS = [(40, 40, 220), (40, 200, 40), (220, 60, 40)]


def draw_image(path: Path, boxes, width=96, height=80):
    """A grey image with one filled shape per box [cls, cx, cy, w, h] (normalised)."""
    image = np.full((height, width, 3), 128, np.uint8)
    for cls, cx, cy, w, h in boxes:
        x1, y1 = int((cx - w / 2) * width), int((cy - h / 2) * height)
        x2, y2 = int((cx + w / 2) * width), int((cy + h / 2) * height)
        cv2.rectangle(image, (x1, y1), (x2, y2), COLOURS[int(cls)], -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def three_class_set(root: Path, n_train: int = 8, n_val: int = 4) -> Path:
    """root/data.yaml with train and val splits of clean shapes; returns the yaml."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n_train), ("val", n_val)):
        for i in range(count):
            boxes = [[k, *rng.uniform(0.3, 0.7, 2), *rng.uniform(0.2, 0.35, 2)] for k in range(3)][: 1 + i % 3]
            draw_image(root / "images" / split / f"shape_{split}_{i}.png", boxes)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split / f"shape_{split}_{i}.txt").write_text(
                "".join(f"{int(b[0])} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f} {b[4]:.6f}\n" for b in boxes))
    path = root / "data.yaml"
    path.write_text("path: .\ntrain: images/train\nval: images/val\nnc: 3\n"
                    "names:\n  0: disc\n  1: block\n  2: bar\n")
    return path


def test_labels_are_read_with_each_bad_line_named_and_counted(tmp_path):
    data = three_class_set(tmp_path, n_train=3, n_val=1)
    bad = tmp_path / "labels" / "train" / "shape_train_0.txt"
    bad.write_text("0 0.5 0.5 0.2 0.2\n"      # kept
                   "0 0.5 0.5 0.2 0.2\n"      # repeated: kept once
                   "5 0.5 0.5 0.2 0.2\n"      # class 5 of 3
                   "1 0.5 1.2 0.2 0.2\n"      # outside [0, 1]
                   "2 0.5 0.5 0.2\n"          # four fields
                   "x 0.5 0.5 0.2 0.2\n"      # not a number
                   "1.5 0.5 0.5 0.2 0.2\n"    # not a class index
                   "2 0.95 0.5 0.2 0.3\n"     # sticks out on the right: clipped
                   "\n")
    (tmp_path / "labels" / "train" / "shape_train_1.txt").unlink()  # background image
    source = YoloSource(data, "train")
    counts = dict(source.report.counts)
    assert counts == {"duplicate_label": 1, "bad_class": 2, "box_out_of_range": 1, "bad_label_line": 2,
                      "box_clipped": 1, "no_label_file": 1}
    assert f"{bad}:3: class 5 is not one of the 3 classes" in source.report.messages["bad_class"]
    assert any(m.startswith(f"{bad}:4:") for m in source.report.messages["box_out_of_range"])
    first = source.records[0]
    assert first.path.name == "shape_train_0.png" and first.labels.shape == (2, 5)
    np.testing.assert_allclose(first.labels[1], [2, 0.925, 0.5, 0.15, 0.3], atol=1e-6)  # [0.85, 1.0] wide
    assert source.records[1].labels.shape == (0, 5)
    assert source.names == NAMES and source.category_ids == [0, 1, 2] and source.num_classes == 3
    assert [r.image_id for r in source.records] == [0, 1, 2]  # names are not numbers: the sorted position
    assert (first.width, first.height) == (96, 80)


def test_data_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "data.yaml"
    cases = {"train: a\nnc: 2\nnames: [a, b, c]\n": "nc is 2 but names has 3",
             "train: a\nnames: {0: a, 2: b}\n": "names must number the classes",
             "train: a\n": "needs names",
             "[1, 2]\n": "expected a mapping",
             "train: [a\n": "not valid YAML"}
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(InputError, match=message) as err:
            read_data_yaml(path)
        assert str(path) in str(err.value)
    path.write_text("train: images/train\nnames: [a]\n")
    with pytest.raises(InputError, match="has no 'val' split"):
        YoloSource(path, "val")
    with pytest.raises(InputError, match="neither an image folder"):
        YoloSource(path, "train")


def test_labels_are_found_under_the_last_images_folder_or_beside_the_image():
    assert label_path(Path("/d/images/x/images/train/a.jpg")) == Path("/d/images/x/labels/train/a.txt")
    assert label_path(Path("/d/pics/a.png")) == Path("/d/pics/a.txt")


def test_a_split_listed_in_a_text_file(tmp_path):
    data = three_class_set(tmp_path, n_train=3, n_val=1)
    (tmp_path / "train.txt").write_text("images/train/shape_train_2.png\nimages/train/shape_train_0.png\n")
    data.write_text(data.read_text().replace("train: images/train", "train: train.txt"))
    source = YoloSource(data, "train")
    assert [r.path.name for r in source.records] == ["shape_train_2.png", "shape_train_0.png"]


def test_coco_to_yolo_and_back_keeps_the_boxes_and_ids(tmp_path):
    from goldyolo.data.yolo_format import coco_to_yolo
    coco_to_yolo(str(SAMPLE / "train.json"), str(SAMPLE / "test.json"), str(tmp_path / "yolo"),
                 images=str(SAMPLE / "images"), val_images=str(SAMPLE / "images"), copy=True)
    assert not (tmp_path / "yolo" / "images" / "val").iterdir().__next__().is_symlink()
    coco = CocoSource(SAMPLE / "test.json", SAMPLE / "images")
    yolo = YoloSource(tmp_path / "yolo" / "data.yaml", "val")
    assert yolo.category_ids == coco.category_ids and yolo.names == coco.names  # is_coco: COCO's ids
    assert [r.image_id for r in yolo.records] == [r.image_id for r in coco.records]  # ids from the file names
    for a, b in zip(yolo.records, coco.records):
        assert np.array_equal(a.labels, b.labels) and (a.width, a.height) == (b.width, b.height)
    assert not yolo.report.counts.get("box_clipped")

    message = yolo_to_coco(str(tmp_path / "yolo" / "data.yaml"), "val", str(tmp_path / "back.json"))
    assert "--images" in message
    back = CocoSource(tmp_path / "back.json", tmp_path / "yolo")
    assert [r.image_id for r in back.records] == [r.image_id for r in coco.records]
    for a, b in zip(back.records, coco.records):
        np.testing.assert_allclose(a.labels, b.labels, atol=1e-6)
    # the ground truth pycocotools sees: the same boxes in pixels
    assert len(yolo.coco.getAnnIds()) == sum(len(r.labels) for r in coco.records)


def test_val_images_default_to_the_training_images_when_none_are_beside_the_json(tmp_path):
    from goldyolo.data.sources import val_images_for
    from goldyolo.data.yolo_format import coco_to_yolo
    for name in ("train.json", "test.json"):  # a split kept apart from its image folder, as data/person
        (tmp_path / name).write_text((SAMPLE / name).read_text())
    images = str(SAMPLE / "images")
    assert val_images_for(str(tmp_path / "test.json"), "", images) == images
    assert val_images_for(str(tmp_path / "test.json"), "elsewhere", images) == "elsewhere"
    assert val_images_for(str(SAMPLE / "test.json"), "", "elsewhere") == ""  # 'images' beside the json wins
    message = coco_to_yolo(str(tmp_path / "train.json"), str(tmp_path / "test.json"), str(tmp_path / "yolo"),
                           images=images)
    val = YoloSource(tmp_path / "yolo" / "data.yaml", "val")
    assert len(val.records) == len(CocoSource(SAMPLE / "test.json", SAMPLE / "images").records) > 0
    assert "written" in message


def test_to_coco_keeps_boxes_that_touch_the_border_inside_the_image(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    import cv2
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((333, 517, 3), np.uint8))
    # spans that end on the border in float32 (0.9 + 0.2 / 2 and 1 - 0.3 / 2 + 0.3 / 2 round past 1)
    (tmp_path / "labels" / "a.txt").write_text("0 0.9 0.85 0.2 0.3\n0 0.15 0.5 0.3 0.7\n0 0.5 0.5 1.0 1.0\n")
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnc: 1\nnames: [thing]\n")
    yolo_to_coco(str(tmp_path / "data.yaml"), "val", str(tmp_path / "back.json"))
    boxes = [a["bbox"] for a in json.loads((tmp_path / "back.json").read_text())["annotations"]]
    assert all(x >= 0 and y >= 0 and x + w <= 517 and y + h <= 333 for x, y, w, h in boxes)
    assert boxes[2] == [0.0, 0.0, 517.0, 333.0]
    back = CocoSource(tmp_path / "back.json", tmp_path)
    assert not back.report.counts.get("box_clipped") and len(back.records[0].labels) == 3


def test_three_class_set_trains_evaluates_and_predicts(tmp_path, capsys):
    from goldyolo.cli import main
    from goldyolo.engine.trainer import Trainer
    data = three_class_set(tmp_path / "shapes")
    bad = tmp_path / "shapes" / "labels" / "val" / "shape_val_1.txt"  # a bad line in the evaluation split
    bad.write_text(bad.read_text() + "7 0.5 0.5 0.1 0.1\n")
    config = tiny_train_config(tmp_path / "run", data=str(data), images="", epochs=2, subset=0, eval_interval=1)
    trainer = Trainer(config)
    assert trainer.model.num_classes == 3 and len(trainer.val_source.records) == 4  # the yaml's val split
    where = f"{bad}:3: class 7 is not one of the 3 classes"
    assert where in capsys.readouterr().out  # named when the run starts, not only counted
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert report["counts"] == {} and report["val"]["counts"] == {"bad_class": 1}
    assert report["val"]["examples"]["bad_class"] == [where]
    trainer.run()
    assert main(["eval", "--weights", str(tmp_path / "run" / "last.pkl"), "--data", str(data),
                 "--img-size", "64", "--out", str(tmp_path / "eval")]) == 0
    assert where in capsys.readouterr().out
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_images"] == 4 and set(metrics["per_class_AP"]) <= set(NAMES)
    predictions = json.loads((tmp_path / "eval" / "predictions.json").read_text())
    assert {p["category_id"] for p in predictions} <= {0, 1, 2}
    image = tmp_path / "shapes" / "images" / "val" / "shape_val_0.png"
    assert main(["predict", "--weights", str(tmp_path / "run" / "last.pkl"), str(image), "--out",
                 str(tmp_path / "drawn"), "--img-size", "64", "--conf-thres", "0.0", "--data", str(data)]) == 0
    assert (tmp_path / "drawn" / image.name).is_file()
