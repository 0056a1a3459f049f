"""COCO json -> the official YOLO-format layout (``images/SPLIT``, ``labels/SPLIT``, ``data.yaml``).

The official dataset reads the images of a folder and the labels of ``../labels/SPLIT`` beside it,
one ``class cx cy w h`` line per box (normalised). Written here from the validated records of a
:class:`~goldyolo.data.coco.CocoSource`, so both trainers see the same boxes: the same crowd,
zero-area and outside-image boxes skipped, the same clipping. Numbers are written with ``repr`` of
the float32 value, which reads back to the same float32. Images are symbolic links, not copies.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..errors import InputError
from .coco import COCO80_IDS, CocoSource

# the 80 COCO detection categories, in the official coco80_to_coco91_class order


def label_lines(labels: np.ndarray) -> List[str]:
    """(n, 5) float32 rows [class, cx, cy, w, h] -> text lines that read back to the same float32."""
    return [" ".join([str(int(row[0]))] + [repr(float(v)) for v in row[1:]]) for row in labels]


def write_split(source: CocoSource, root: Path, split: str, copy: bool = False) -> Path:
    """Link (or copy) the images and write the labels of ``source`` as ``root/images/split``; returns that folder."""
    image_dir, label_dir = root / "images" / split, root / "labels" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    for record in source.records:
        link = image_dir / record.path.name
        if link.is_symlink() or link.exists():
            same = (link.resolve() == record.path.resolve() if link.is_symlink() or not copy
                    else link.read_bytes() == record.path.read_bytes())
            if not same:
                raise InputError(f"{link}: already holds another file than {record.path}; two images share "
                                 "a file name or the folder holds another dataset")
        elif copy:
            shutil.copyfile(record.path, link)
        else:
            os.symlink(record.path.resolve(), link)
        text = "".join(line + "\n" for line in label_lines(record.labels))
        label = label_dir / f"{record.path.stem}.txt"
        # unchanged files are left alone: a trainer may be reading this folder (two comparisons at once)
        if not label.is_file() or label.read_text() != text:
            label.write_text(text)
    return image_dir


def official_ground_truth(val: CocoSource, path: Path) -> Path:
    """The val annotations in the keys the official evaluator gives its detections when ``is_coco`` is off
    (image id = file stem, category id = class index), crowd regions and areas kept, written to ``path``.

    Without it the official evaluator scores a dataset that is not COCO's 80 against boxes it rebuilds from
    the label files, which hold no crowd regions: detections on a crowd then count as false positives there
    and are ignored by goldyolo's evaluator, so the two APs differ although the detections are the same.
    """
    coco = val.coco
    ids = {r.image_id: r.path.stem for r in val.records}
    images = [dict(coco.imgs[i], id=stem) for i, stem in ids.items()]
    annotations = [dict(a, image_id=ids[a["image_id"]], category_id=val.class_of_category[a["category_id"]])
                   for i in ids for a in coco.imgToAnns.get(i, []) if a["category_id"] in val.class_of_category]
    categories = [{"id": k, "name": name} for k, name in enumerate(val.names)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def write_yolo_dataset(train: CocoSource, val: CocoSource, root: Path, copy: bool = False,
                       same_ground_truth: bool = False) -> Path:
    """The official layout of a train and a val source under ``root``; returns ``root/data.yaml``.

    When the categories are COCO's 80 and the val files are named by image id, ``is_coco`` is set with
    ``anno_path`` the val json, so the official evaluator maps classes to COCO ids and scores against the
    same annotations as goldyolo. Otherwise the official evaluator scores against what it rebuilds from the
    labels (as it does for a user's YOLO dataset), or, with ``same_ground_truth``, against
    :func:`official_ground_truth` of the val json.
    """
    if train.category_ids != val.category_ids:
        raise InputError(f"{train.annotation_file} and {val.annotation_file} have different categories")
    root = Path(root)
    data: Dict = {"train": str(write_split(train, root, "train", copy).resolve()),
                  "val": str(write_split(val, root, "val", copy).resolve()),
                  "nc": train.num_classes, "names": list(train.names)}
    numbered = all(r.path.stem.isdigit() and int(r.path.stem) == r.image_id for r in val.records)
    if train.category_ids == COCO80_IDS and numbered and val.annotation_file.suffix == ".json":
        data.update(is_coco=True, anno_path=str(val.annotation_file.resolve()))
    elif same_ground_truth:
        data.update(anno_path=str(official_ground_truth(val, root / "annotations" / "same_as_goldyolo.json").resolve()))
    path = root / "data.yaml"
    path.write_text(json.dumps(data, indent=1) + "\n")  # JSON is YAML
    return path


def coco_to_yolo(train_data: str, val_data: str, out: str, images: str = "", val_images: str = "",
                 copy: bool = False) -> str:
    """``data to-yolo``: a train and a val COCO json as the official YOLO layout in ``out`` (images linked,
    or copied with ``copy``), with its data.yaml."""
    from .sources import open_source, val_images_for
    train = open_source(train_data, images)
    val = open_source(val_data, val_images_for(val_data, val_images, images))
    path = write_yolo_dataset(train, val, Path(out), copy)
    return (f"train {train_data}: {len(train.records)} images; {train.report.summary()}\n"
            f"val {val_data}: {len(val.records)} images; {val.report.summary()}\nwritten: {path}")
