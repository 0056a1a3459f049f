"""The data a command names: a COCO json (with its image folder) or a split of a YOLO-format data.yaml."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

from ..errors import InputError, InputNotFoundError
from .coco import CocoSource
from .yolo_source import YoloSource, is_yaml, read_data_yaml


def open_source(data: str, images: str = "", split: str = "train"):
    """A validated source: ``split`` of a data.yaml, or a COCO json whose images are in ``images``
    (default: ``images`` beside the json)."""
    if is_yaml(data):
        return YoloSource(Path(data), split)
    return CocoSource(Path(data), Path(images) if images else Path(data).parent / "images")


def val_images_for(val_data: str, val_images: str, images: str) -> str:
    """The image folder of ``val_data`` when none is named: ``images`` beside its json if that folder exists,
    else the training data's ``images`` (two jsons of one image folder, as in a split of one dataset)."""
    if val_images or is_yaml(val_data) or (Path(val_data).parent / "images").is_dir():
        return val_images
    return images


def has_split(data: str, split: str) -> bool:
    """Whether ``data`` is a data.yaml that names ``split``."""
    return is_yaml(data) and split in read_data_yaml(Path(data))


def class_names(data: str) -> List[str]:
    """The class names of a data.yaml, or of a COCO json's categories (by id), without reading images."""
    if is_yaml(data):
        return read_data_yaml(Path(data))["names"]
    path = Path(data)
    if not path.is_file():
        raise InputNotFoundError(f"data file not found: {path}")
    try:
        categories = json.loads(path.read_text())["categories"]
        return [c["name"] for c in sorted(categories, key=lambda c: c["id"])]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: no COCO categories to name the classes ({type(err).__name__}: {err})") from None
