"""COCO-format data read through pycocotools, checked image by image and box by box.

No bad image or box stops a run: each problem is reported with the file it concerns, the image or box is
skipped (or converted, for grayscale / CMYK / palette / alpha images) and counted, and the counts
form a summary that is printed and saved. A missing or malformed json and a missing images
folder do stop it, at once (:class:`~goldyolo.errors.InputError`, naming the path). Category ids map to
contiguous class indices (their rank in the sorted id list) and back.
"""
from __future__ import annotations

import contextlib
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
from PIL import Image

from ..errors import InputError, InputNotFoundError

# the 80 category ids of COCO's detection task (of 1-90), in order: class k of an 80-class model is COCO80_IDS[k]
COCO80_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]

SKIPPED_IMAGE = ("missing_image", "unreadable_image", "duplicate_image_id")
CONVERTED_MODES = {"L": "grayscale", "LA": "grayscale", "CMYK": "cmyk", "P": "palette", "RGBA": "alpha",
                   "I;16": "grayscale", "I": "grayscale"}
MAX_MESSAGES_PER_KIND = 20


@dataclass
class ImageRecord:
    """One usable image: labels are (n, 5) float32 [class, cx, cy, w, h] normalised to the image."""
    image_id: int
    path: Path
    width: int
    height: int
    labels: np.ndarray


def counts_in_words(counts: Dict[str, int]) -> str:
    """A data report's counts (live or read back from ``data_report.json``) in words; "nothing skipped" when none."""
    return ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in sorted(counts.items())) or "nothing skipped"


@dataclass
class DataReport:
    """Counts of what was skipped or converted, with the first messages of each kind."""
    counts: Counter = field(default_factory=Counter)
    messages: Dict[str, List[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if len(self.messages[kind]) < MAX_MESSAGES_PER_KIND:
            self.messages[kind].append(message)

    def summary(self, examples: int = 1) -> str:
        """The counts, then the first ``examples`` messages of each kind (they name the file, and the line of a
        label file)."""
        if not self.counts:
            return "data check: nothing skipped"
        lines = ["data check: " + ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))]
        lines += [f"  {message}" for kind in sorted(self.messages) for message in self.messages[kind][:examples]]
        return "\n".join(lines)

    def in_words(self) -> str:
        """The counts for a reader, e.g. ``converted grayscale: 4, crowd box ignored: 2``."""
        return counts_in_words(self.counts)

    def to_json(self) -> dict:
        return {"counts": dict(self.counts), "examples": dict(self.messages)}

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))


def load_coco(annotation_file: Path):
    """pycocotools COCO object for a json file; a clear error names the file when it is malformed."""
    from pycocotools.coco import COCO
    annotation_file = Path(annotation_file)
    if not annotation_file.is_file():
        raise InputNotFoundError(f"annotation file not found: {annotation_file}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(annotation_file))
    except (ValueError, KeyError, TypeError, AssertionError) as err:
        raise InputError(f"{annotation_file}: not a valid COCO annotation file ({type(err).__name__}: {err})") from None


def check_image(path: Path, report: DataReport) -> Optional[tuple]:
    """(width, height) of a decodable image, or None after reporting why not; notes conversions."""
    if not path.is_file():
        report.add("missing_image", f"{path}: file not found")
        return None
    try:
        with Image.open(path) as im:
            mode = im.mode
            im.verify()
    except Exception as err:  # PIL raises many types for broken files
        report.add("unreadable_image", f"{path}: cannot be decoded ({type(err).__name__}: {err})")
        return None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        report.add("unreadable_image", f"{path}: OpenCV cannot decode it")
        return None
    if mode in CONVERTED_MODES:
        report.add(f"converted_{CONVERTED_MODES[mode]}", f"{path}: {mode} image read as 3-channel colour")
    return image.shape[1], image.shape[0]


class CocoSource:
    """Images and boxes of one COCO json + image folder, validated."""

    def __init__(self, annotation_file: Path, image_dir: Path, image_ids: Optional[List[int]] = None):
        self.annotation_file = Path(annotation_file)
        self.image_dir = Path(image_dir)
        self.coco = load_coco(self.annotation_file)
        if not self.image_dir.is_dir():
            raise InputNotFoundError(f"images folder not found: {self.image_dir} "
                                     f"(the images of {self.annotation_file})")
        self.category_ids = sorted(self.coco.getCatIds())
        self.class_of_category = {cid: i for i, cid in enumerate(self.category_ids)}
        self.names = [self.coco.cats[cid]["name"] for cid in self.category_ids]
        self.report = DataReport()
        self.records = self._read(image_ids)

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)

    def category_of_class(self, cls: int) -> int:
        """COCO category id of contiguous class index ``cls``."""
        return self.category_ids[int(cls)]

    def _read(self, image_ids: Optional[List[int]]) -> List[ImageRecord]:
        raw_images = json.loads(self.annotation_file.read_text()).get("images", [])
        seen = Counter(int(im["id"]) for im in raw_images if "id" in im)
        for image_id, count in seen.items():
            if count > 1:
                self.report.add("duplicate_image_id",
                                f"{self.annotation_file}: image id {image_id} appears {count} times; "
                                "all copies skipped")
        ids = sorted(self.coco.getImgIds()) if image_ids is None else list(image_ids)
        records = []
        for image_id in ids:
            if seen.get(image_id, 0) > 1:
                continue
            info = self.coco.imgs[image_id]
            path = self.image_dir / info["file_name"]
            size = check_image(path, self.report)
            if size is None:
                continue
            width, height = size
            labels = self._labels(image_id, path, width, height)
            records.append(ImageRecord(image_id, path, width, height, labels))
        return records

    def _labels(self, image_id: int, path: Path, width: int, height: int) -> np.ndarray:
        rows = []
        for ann in self.coco.imgToAnns.get(image_id, []):
            if ann.get("iscrowd", 0):
                self.report.add("crowd_box_ignored", f"{path}: annotation {ann.get('id')} is a crowd region")
                continue
            if ann.get("category_id") not in self.class_of_category:
                self.report.add("unknown_category",
                                f"{path}: annotation {ann.get('id')} has category id {ann.get('category_id')}")
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            x1, y1 = max(x, 0.0), max(y, 0.0)
            x2, y2 = min(x + w, float(width)), min(y + h, float(height))
            if w <= 0 or h <= 0:
                self.report.add("box_zero_area", f"{path}: annotation {ann.get('id')} box {ann['bbox']} has no area")
                continue
            if x2 <= x1 or y2 <= y1:
                self.report.add("box_outside_image",
                                f"{path}: annotation {ann.get('id')} box {ann['bbox']} lies outside the "
                                f"{width}x{height} image")
                continue
            if (x1, y1, x2, y2) != (x, y, x + w, y + h):
                self.report.add("box_clipped",
                                f"{path}: annotation {ann.get('id')} box {ann['bbox']} clipped to the image")
            rows.append([self.class_of_category[ann["category_id"]], (x1 + x2) / 2 / width, (y1 + y2) / 2 / height,
                         (x2 - x1) / width, (y2 - y1) / height])
        return np.array(rows, dtype=np.float32).reshape(-1, 5)
