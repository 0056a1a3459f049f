"""A small sample of a train/test split (``data/sample``), for runs and tests without ``../shared``.

From each split it takes the first images by id that have at least one non-crowd box and a file of
at most ``max_bytes``; an image already taken for training is never taken for testing. Images are
copied byte for byte, and each part is written as a complete COCO json (info, licenses, images,
annotations and all categories, so class indices match the full data); ``instances.json`` holds both
parts, from which ``data split`` with 8 test images draws the same test part.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Collection, Dict, List

from ..errors import InputError

MAX_BYTES = 200_000


def pick_images(coco: dict, image_dir: Path, n: int, max_bytes: int = MAX_BYTES,
                exclude: Collection[int] = ()) -> List[dict]:
    """The first ``n`` images by id with a non-crowd box and a file in ``image_dir`` of at most ``max_bytes``."""
    boxed = {a["image_id"] for a in coco["annotations"] if not a.get("iscrowd", 0)}
    chosen = []
    for image in sorted(coco["images"], key=lambda im: im["id"]):
        path = Path(image_dir) / image["file_name"]
        if image["id"] in boxed and image["id"] not in exclude and path.is_file() \
                and path.stat().st_size <= max_bytes:
            chosen.append(image)
            if len(chosen) == n:
                return chosen
    raise InputError(f"only {len(chosen)} images have a non-crowd box and a file of at most {max_bytes} bytes "
                     f"in {image_dir}; {n} are needed")


def subset(coco: dict, images: List[dict]) -> dict:
    """Complete COCO dict of ``images`` with all their annotations and every category."""
    ids = {im["id"] for im in images}
    part = {key: coco[key] for key in ("info", "licenses", "categories") if key in coco}
    part["images"] = images
    part["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    return part


def make_sample(train_json: Path, test_json: Path, image_dir: Path, out_dir: Path, n_train: int = 24,
                n_test: int = 8, max_bytes: int = MAX_BYTES) -> Dict[str, List[int]]:
    """Write ``out_dir/{train,test,instances}.json`` (instances: both parts, what ``data split`` takes) and
    ``out_dir/images``; returns the chosen image ids per part."""
    image_dir, out_dir = Path(image_dir), Path(out_dir)
    parts, taken = {}, set()
    for name, source, n in (("train", train_json, n_train), ("test", test_json, n_test)):
        try:
            coco = json.loads(Path(source).read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"{source}: cannot read COCO json ({err})") from None
        images = pick_images(coco, image_dir, n, max_bytes, taken)
        taken |= {im["id"] for im in images}
        parts[name] = subset(coco, images)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for name, coco in parts.items():
        for image in coco["images"]:
            shutil.copyfile(image_dir / image["file_name"], out_dir / "images" / image["file_name"])
        (out_dir / f"{name}.json").write_text(json.dumps(coco))
    both = subset(parts["train"], parts["train"]["images"] + parts["test"]["images"])
    both["annotations"] = parts["train"]["annotations"] + parts["test"]["annotations"]
    (out_dir / "instances.json").write_text(json.dumps(both))
    return {name: [im["id"] for im in coco["images"]] for name, coco in parts.items()}


def sample_command(images: str, train: str = "data/splits/train.json", test: str = "data/splits/test.json",
                   out: str = "data/sample", n_train: int = 24, n_test: int = 8, max_kb: int = 200) -> str:
    """``data sample``: write the sample and return the ids chosen per part."""
    ids = make_sample(Path(train), Path(test), Path(images), Path(out), n_train, n_test, max_kb * 1000)
    lines = [f"{name}: {len(chosen)} images, ids {chosen}" for name, chosen in ids.items()]
    return "\n".join(lines + [f"written to {out}/train.json, test.json and images/"])
