"""Train/test splits of a COCO json: the study's 800/200 split of the 1,000-image subset.

The test images are drawn (fixed seed) from the images whose annotations are the official COCO
json ones (``ann_source == "coco_json"``: official ids, areas and crowd regions, so COCOeval's
small/medium/large and ignore regions are right); every other image goes to training, and no
image is in both. Each split is written as a complete COCO json (info, licenses, images,
annotations, categories) with the images' own fields kept.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from ..errors import InputError


def split_coco(annotations: dict, n_test: int = 200, seed: int = 0,
               test_source: Optional[str] = "coco_json") -> Dict[str, dict]:
    """Return {"train": coco_dict, "test": coco_dict}; test images come from ``test_source`` images."""
    images = sorted(annotations["images"], key=lambda im: im["id"])
    pool = [im for im in images if test_source is None or im.get("ann_source") == test_source]
    if len(pool) < n_test:
        raise InputError(f"only {len(pool)} images have ann_source={test_source!r}; cannot draw {n_test} test images")
    order = np.random.default_rng(seed).permutation(len(pool))
    test_ids = {pool[i]["id"] for i in order[:n_test]}
    splits = {}
    for name, keep in (("train", lambda i: i not in test_ids), ("test", lambda i: i in test_ids)):
        chosen = [im for im in images if keep(im["id"])]
        ids = {im["id"] for im in chosen}
        splits[name] = {key: annotations[key] for key in ("info", "licenses", "categories") if key in annotations}
        splits[name]["images"] = chosen
        splits[name]["annotations"] = [a for a in annotations["annotations"] if a["image_id"] in ids]
    return splits


def split_summary(splits: Dict[str, dict]) -> Dict[str, dict]:
    """Images, annotations (crowd counted apart) and annotation sources per split."""
    summary = {}
    for name, coco in splits.items():
        summary[name] = {"images": len(coco["images"]),
                         "annotations": sum(1 for a in coco["annotations"] if not a.get("iscrowd", 0)),
                         "crowd_annotations": sum(1 for a in coco["annotations"] if a.get("iscrowd", 0)),
                         "ann_source": dict(Counter(im.get("ann_source", "unknown") for im in coco["images"]))}
    return summary


def write_splits(annotation_file: Path, out_dir: Path, n_test: int = 200, seed: int = 0,
                 test_source: Optional[str] = "coco_json") -> Dict[str, dict]:
    """Split ``annotation_file`` into ``out_dir/{train,test}.json`` and ``summary.json``; returns the summary."""
    annotation_file, out_dir = Path(annotation_file), Path(out_dir)
    try:
        annotations = json.loads(annotation_file.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{annotation_file}: cannot read COCO json ({err})") from None
    try:
        splits = split_coco(annotations, n_test, seed, test_source)
    except InputError as err:
        raise InputError(f"{annotation_file}: {err}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, coco in splits.items():
        (out_dir / f"{name}.json").write_text(json.dumps(coco))
    summary = split_summary(splits)
    summary["settings"] = {"source": str(annotation_file), "n_test": n_test, "seed": seed, "test_source": test_source}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def split_command(ann: str, out: str = "data/splits", test: int = 200, seed: int = 0, any_source: bool = False) -> str:
    """``data split``: write the split and return what it holds, a line per part."""
    summary = write_splits(Path(ann), Path(out), test, seed, None if any_source else "coco_json")
    lines = [f"{name}: {summary[name]['images']} images, {summary[name]['annotations']} boxes "
             f"(+{summary[name]['crowd_annotations']} crowd), sources {json.dumps(summary[name]['ann_source'])}"
             for name in ("train", "test")]
    return "\n".join(lines + [f"written to {out}/train.json, test.json and summary.json"])
