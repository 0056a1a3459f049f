"""Notebook 01's tables: the split's checks, its counts beside the original report's, its boxes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import pandas as pd

from .style import plural

SPLITS = ("train", "test")
# the original report's (images, boxes) per split; it drew its own 1,000 images, so its boxes differ
ORIGINAL_COUNTS = {"train": (800, 6270), "test": (200, 1524)}
# COCO's size ranges by annotation area: small < 32², medium < 96², large above
SIZE_EDGES = [0, 32 ** 2, 96 ** 2, float("inf")]
SIZE_NAMES = ["small", "medium", "large"]


def load_splits(split_dir: Path | str) -> Dict[str, dict]:
    """``train.json`` and ``test.json`` of ``split_dir`` as COCO dicts, by split name."""
    return {name: json.loads((Path(split_dir) / f"{name}.json").read_text()) for name in SPLITS}


# how the shared subset's annotation sources read in a table
SOURCE_NAMES = {"coco_json": "official COCO json", "yolo_labels_converted": "converted from YOLO labels"}


def split_summary_table(summary: Dict[str, dict]) -> pd.DataFrame:
    """``write_splits``' summary as one row per split: images, boxes, crowd regions, where the boxes come from."""
    return pd.DataFrame([{"split": name, "images": summary[name]["images"], "boxes": summary[name]["annotations"],
                          "crowd regions": summary[name]["crowd_annotations"],
                          # each source kept on one line (non-breaking spaces): a cell breaks between sources
                          "box source (images)": ", ".join(f"{SOURCE_NAMES.get(source, source)}: {count}".replace(
                              " ", "\u00a0") for source, count in summary[name]["ann_source"].items())}
                         for name in SPLITS])


def split_checks_line(checks: Dict[str, int]) -> str:
    """:func:`split_checks` in one sentence: the images the splits share, and the test images with official
    COCO annotations."""
    both = checks["in_both"]
    shared = "no image is in both splits" if not both else \
        f"{plural(both, 'image')} {'is' if both == 1 else 'are'} in both splits"
    return (f"{shared}; {checks['test_from_coco_json']:,} of the {checks['test_images']:,} test images have official "
            "COCO annotations")


def split_checks(splits: Dict[str, dict]) -> Dict[str, int]:
    """Image ids per split, ids in both, and test images whose boxes are COCO's own json."""
    ids = {name: {im["id"] for im in splits[name]["images"]} for name in SPLITS}
    return {"train_images": len(ids["train"]), "test_images": len(ids["test"]),
            "in_both": len(ids["train"] & ids["test"]),
            "test_from_coco_json": sum(im["ann_source"] == "coco_json" for im in splits["test"]["images"])}


def count_table(checks: Dict[str, int], summary: Dict[str, dict]) -> pd.DataFrame:
    """Images and (non-crowd) boxes per split, ours from ``write_splits``' summary, then the original's."""
    rows = [{"split": f"{name} (ours)", "images": checks[f"{name}_images"], "boxes": summary[name]["annotations"]}
            for name in SPLITS]
    rows += [{"split": f"{name} (original report)", "images": images, "boxes": boxes}
             for name, (images, boxes) in ORIGINAL_COUNTS.items()]
    return pd.DataFrame(rows)


def box_table(splits: Dict[str, dict]) -> pd.DataFrame:
    """One row per non-crowd box: split, category name, area, w, h (pixels)."""
    names = {c["id"]: c["name"] for c in splits["train"]["categories"]}
    rows = [{"split": name, "category": names[a["category_id"]], "area": a["area"], "w": a["bbox"][2],
             "h": a["bbox"][3]}
            for name, coco in splits.items() for a in coco["annotations"] if not a.get("iscrowd", 0)]
    return pd.DataFrame(rows)


def category_counts(boxes: pd.DataFrame) -> pd.DataFrame:
    """Boxes per category (rows) and split (columns), most frequent in training first."""
    return boxes.groupby(["category", "split"]).size().unstack(fill_value=0).sort_values("train", ascending=False)


def missing_in_test(counts: pd.DataFrame) -> List[str]:
    """Categories of ``category_counts`` without a test box."""
    return [c for c in counts.index if counts.loc[c, "test"] == 0]


def size_counts(boxes: pd.DataFrame) -> pd.DataFrame:
    """Boxes per split (rows) and COCO size range (columns: small, medium, large)."""
    size = pd.cut(boxes["area"], SIZE_EDGES, labels=SIZE_NAMES, include_lowest=True)
    return boxes.assign(size=size).groupby(["split", "size"], observed=False).size().unstack()


def task_counts(ann_file: Path | str) -> Dict[str, object]:
    """A COCO json's images, the images with a (non-crowd) box, its boxes and crowd regions, and class names."""
    data = json.loads(Path(ann_file).read_text())
    boxes = [a for a in data["annotations"] if not a.get("iscrowd")]
    return {"images": len(data["images"]), "images_with_boxes": len({a["image_id"] for a in boxes}),
            "boxes": len(boxes), "crowd": len(data["annotations"]) - len(boxes),
            "classes": [c["name"] for c in data["categories"]]}


def task_line(train_file: Path | str, test_file: Path | str) -> str:
    """One sentence for a task's two splits: classes, images (with a box), boxes and crowd regions."""
    train, test = task_counts(train_file), task_counts(test_file)
    parts = [f"{name}: {c['images']} images ({c['images_with_boxes']} with a box), {c['boxes']:,} boxes "
             f"(+{c['crowd']} crowd)" for name, c in (("training", train), ("test", test))]
    return f"classes: {', '.join(train['classes'])}; " + "; ".join(parts)
