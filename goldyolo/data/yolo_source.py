"""YOLO-format data (the official and Ultralytics layout) read into the same records as COCO json.

A ``data.yaml`` names the splits (``train``, ``val``, ``test``: a folder of images, a ``.txt`` list of
image paths, or a list of either; relative to ``path`` when given, else to the yaml's folder) and
the classes (``names`` as a list or an ``{index: name}`` mapping, ``nc``). An image's labels are
found by replacing the last ``images`` folder of its path with ``labels`` (``.txt``), or beside the
image when its path has no ``images`` folder. One ``class cx cy w h`` line per box, normalised.

No bad line stops a run: a line that is not five numbers, a class that is not one of ``nc``, a box
with a value outside [0, 1] or no area is named (file and line) and counted, and the line skipped;
repeated lines are kept once and counted; a box sticking out of the image is clipped and counted.
An image without a label file is a background image (counted). Image ids are the file names' numbers
when every name is a distinct number (COCO's files keep their ids), else the position in sorted order;
category ids are COCO's when the yaml says ``is_coco``, else the class indices.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError, InputNotFoundError
from .coco import COCO80_IDS, DataReport, ImageRecord, check_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo"}
SPLITS = ("train", "val", "test")


def is_yaml(path) -> bool:
    return Path(path).suffix.lower() in (".yaml", ".yml")


def read_data_yaml(path: Path) -> Dict:
    """The checked content of a data.yaml: ``names`` (list), ``nc``, the split entries and ``root``."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"data file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with train/val and names, found {type(data).__name__}")
    names = data.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise InputError(f"{path}: names keys must be class indices, found {list(names)}") from None
        if keys != list(range(len(keys))):
            raise InputError(f"{path}: names must number the classes 0..{len(keys) - 1}, found {keys}")
        names = [str(names[k] if k in names else names[str(k)]) for k in keys]
    nc = data.get("nc")
    if names is None and nc is None:
        raise InputError(f"{path}: needs names (or nc)")
    if names is None:
        names = [str(i) for i in range(int(nc))]
    if not isinstance(names, list) or not names:
        raise InputError(f"{path}: names must be a non-empty list or mapping")
    if nc is not None and int(nc) != len(names):
        raise InputError(f"{path}: nc is {nc} but names has {len(names)} entries")
    root = Path(data["path"]) if data.get("path") else path.parent
    if not root.is_absolute():
        root = path.parent / root
    return {"names": [str(n) for n in names], "nc": len(names), "root": root, "is_coco": bool(data.get("is_coco")),
            **{split: data[split] for split in SPLITS if data.get(split)}}


def list_images(entry, root: Path, origin: str) -> List[Path]:
    """Image files of a split entry: folder(s), .txt list(s) of paths (relative to the list's folder)."""
    found: List[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        item = Path(str(item))
        item = item if item.is_absolute() else root / item
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file() and item.suffix == ".txt":
            for line in item.read_text().splitlines():
                if line.strip():
                    p = Path(line.strip())
                    found.append(p if p.is_absolute() else (item.parent / p))
        else:
            raise InputNotFoundError(f"{origin}: {item} is neither an image folder nor a .txt list of images")
    return found


def label_path(image: Path) -> Path:
    """``.../images/x/a.jpg`` -> ``.../labels/x/a.txt`` (the last ``images`` folder); beside the image otherwise."""
    parts = list(image.parts)
    folders = [i for i, part in enumerate(parts[:-1]) if part == "images"]
    if folders:
        parts[folders[-1]] = "labels"
    return Path(*parts).with_suffix(".txt")


def read_labels(path: Path, nc: int, report: DataReport) -> np.ndarray:
    """(n, 5) float32 [class, cx, cy, w, h] of a label file after the checks of the module docstring."""
    if not path.is_file():
        report.add("no_label_file", f"{path}: no label file; the image is used as background")
        return np.zeros((0, 5), np.float32)
    rows, seen = [], set()
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        if len(values) != 5:
            report.add("bad_label_line", f"{where}: expected 'class cx cy w h', found {line.strip()!r}")
            continue
        cls, cx, cy, w, h = values
        if cls != int(cls) or not 0 <= cls < nc:
            report.add("bad_class", f"{where}: class {fields[0]} is not one of the {nc} classes")
            continue
        if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
            report.add("box_out_of_range", f"{where}: box {fields[1:]} is not inside [0, 1] with a positive size")
            continue
        if tuple(values) in seen:
            report.add("duplicate_label", f"{where}: repeats an earlier line; kept once")
            continue
        seen.add(tuple(values))
        # an overshoot below 1e-6 is the rounding of a box that touches the border: left as written
        if min(cx - w / 2, cy - h / 2) < -1e-6 or max(cx + w / 2, cy + h / 2) > 1 + 1e-6:
            report.add("box_clipped", f"{where}: box sticks out of the image; clipped")
            x1, y1, x2, y2 = max(cx - w / 2, 0.0), max(cy - h / 2, 0.0), min(cx + w / 2, 1.0), min(cy + h / 2, 1.0)
            cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        rows.append([cls, cx, cy, w, h])
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


class YoloSource:
    """Images and boxes of one split of a YOLO-format ``data.yaml``, validated; the interface of
    :class:`~goldyolo.data.coco.CocoSource` (``records``, ``names``, ``category_ids``, ``coco``...)."""

    def __init__(self, data_yaml: Path, split: str = "train", images: Sequence[Path] = ()):
        self.annotation_file = Path(data_yaml)  # what messages name as the data's origin
        data = read_data_yaml(self.annotation_file)
        if split not in data:
            raise InputError(f"{data_yaml}: has no {split!r} split (has {[s for s in SPLITS if s in data]})")
        self.split = split
        self.names = data["names"]
        self.category_ids = COCO80_IDS[:] if data["is_coco"] and len(self.names) == 80 else list(range(len(self.names)))
        self.class_of_category = {cid: i for i, cid in enumerate(self.category_ids)}
        self.image_dir = data["root"]
        self.report = DataReport()
        paths = list(images) or list_images(data[split], data["root"], f"{data_yaml} ({split})")
        self.records = self._read(paths)
        self._coco = None

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def category_of_class(self, cls: int) -> int:
        return self.category_ids[int(cls)]

    def _read(self, paths: List[Path]) -> List[ImageRecord]:
        stems = [p.stem for p in paths]
        numbered = all(s.isdigit() for s in stems) and len(set(int(s) for s in stems)) == len(stems)
        records = []
        for index, path in enumerate(paths):
            size = check_image(path, self.report)
            if size is None:
                continue
            labels = read_labels(label_path(path), self.num_classes, self.report)
            records.append(ImageRecord(int(path.stem) if numbered else index, path, size[0], size[1], labels))
        return records

    @property
    def coco(self):
        """pycocotools ground truth of the records (boxes in pixels, area = box area), built once."""
        if self._coco is None:
            from pycocotools.coco import COCO
            coco = COCO()
            coco.dataset = coco_dict(self)
            with contextlib.redirect_stdout(io.StringIO()):
                coco.createIndex()
            self._coco = coco
        return self._coco


def _span_inside(centre: float, size: float, extent: int) -> Tuple[float, float]:
    """(start, length) in pixels of a normalised span, inside ``[0, extent]`` also after the float32 rounding of
    the labels: a box that touches the border must not read back as sticking out of the image."""
    start = min(max((centre - size / 2) * extent, 0.0), float(extent))
    length = max(min((centre + size / 2) * extent, float(extent)) - start, 0.0)
    while start + length > extent:
        length = float(np.nextafter(length, 0.0))
    return start, length


def coco_dict(source, image_root: Optional[Path] = None) -> Dict:
    """COCO json content of a source's records; ``file_name`` relative to ``image_root`` when the image
    lies under it, else the full path."""
    images, annotations = [], []
    root = Path(image_root).resolve() if image_root is not None else None
    for record in source.records:
        path = Path(record.path).resolve()
        name = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)
        images.append({"id": record.image_id, "file_name": name, "width": record.width, "height": record.height})
        for cls, cx, cy, w, h in record.labels.astype(np.float64):
            x, bw = _span_inside(cx, w, record.width)
            y, bh = _span_inside(cy, h, record.height)
            box = [x, y, bw, bh]
            annotations.append({"id": len(annotations) + 1, "image_id": record.image_id,
                                "category_id": source.category_of_class(int(cls)), "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
    categories = [{"id": cid, "name": name} for cid, name in zip(source.category_ids, source.names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def yolo_to_coco(data: str, split: str = "val", out: str = "") -> str:
    """``data to-coco``: one split of a data.yaml as a COCO json (``out``, default SPLIT.json beside the
    yaml), image names relative to the yaml's root folder."""
    source = YoloSource(Path(data), split)
    target = Path(out) if out else Path(data).parent / f"{split}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(coco_dict(source, source.image_dir)))
    return (f"{data} ({split}): {len(source.records)} images; {source.report.summary()}\n"
            f"written: {target} (its images: --images {source.image_dir})")
