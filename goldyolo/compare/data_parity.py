"""Data parity: what goldyolo's training pipeline and the official one hand to the loss, compared as
distributions over the same images.

The two pipelines draw their random augmentation from different generators (goldyolo from (seed, epoch,
index), the official code from the global ``random`` and numpy states), so single samples cannot be
matched; each is seeded per sample and run over every image several times, and the statistics of what
reaches the loss are set side by side with their standard errors: boxes per image, box sizes and
positions, boxes clipped at the border, and the image content (mean and spread of each channel, share
of gray pixels, which the padding is). ``mosaic`` chooses the phase compared (the official trainer's last
15 epochs run without it).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from ..errors import InputError
from .samples import sample_records

BORDER = 0.5  # a box edge within this many pixels of the image edge counts as clipped


@dataclass
class DataParityConfig:
    """A data-parity run."""
    torch_reference: str = ""
    model: str = "gold_yolo-n"
    data: str = "data/splits/train.json"
    images: str = "../shared/coco_subset/images"
    img_size: int = 320
    passes: int = 3
    mosaic: bool = False
    seed: int = 0
    out: str = "runs/data_parity"


def goldyolo_records(source, img_size: int, hyp: dict, passes: int, mosaic: bool, seed: int) -> Dict[str, np.ndarray]:
    """:func:`sample_records` of goldyolo's training dataset (pass p is epoch p)."""
    from ..data import DetectionDataset
    dataset = DetectionDataset(source, img_size, augment=True, hyp=hyp, seed=seed)
    count = len(source.records)

    def draw(pass_index, index):
        key = (pass_index * 2 + int(mosaic)) * count + index
        image, targets, meta = dataset[key]
        return image, targets[:, 1:], Path(meta["path"]).name
    return sample_records(draw, count, passes)


def statistics(records: Dict[str, np.ndarray], img_size: int) -> Dict[str, Tuple[float, float]]:
    """(mean, standard error) of each quantity: per image (box count, channel means and spreads, padding share)
    and per box (width, height, area, centre, share clipped at a border)."""
    def summary(values) -> Tuple[float, float]:
        values = np.asarray(values, np.float64)
        return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    boxes = records["boxes"]
    x1, x2 = (boxes[:, 1] - boxes[:, 3] / 2) * img_size, (boxes[:, 1] + boxes[:, 3] / 2) * img_size
    y1, y2 = (boxes[:, 2] - boxes[:, 4] / 2) * img_size, (boxes[:, 2] + boxes[:, 4] / 2) * img_size
    clipped = (x1 < BORDER) | (y1 < BORDER) | (x2 > img_size - BORDER) | (y2 > img_size - BORDER)
    stats = records["image_stats"]
    result = {"boxes per image": summary(records["box_counts"]), "images without boxes":
              summary(records["box_counts"] == 0)}
    names = ("mean R", "mean G", "mean B", "spread R", "spread G", "spread B", "gray share (padding)")
    for i, name in enumerate(names):
        result[name] = summary(stats[:, i])
    result.update({"box width (px)": summary(boxes[:, 3] * img_size),
                   "box height (px)": summary(boxes[:, 4] * img_size),
                   "box area (px^2)": summary(boxes[:, 3] * boxes[:, 4] * img_size ** 2),
                   "box centre x": summary(boxes[:, 1]), "box centre y": summary(boxes[:, 2]),
                   "boxes under 8 px": summary(np.minimum(boxes[:, 3], boxes[:, 4]) * img_size < 8),
                   "boxes clipped": summary(clipped)})
    return result


def compare(gold: Dict[str, Tuple[float, float]], official: Dict[str, Tuple[float, float]]) -> Dict[str, Dict]:
    """Per quantity: both means, the difference and how many standard errors of the difference it is."""
    rows = {}
    for name, (mean, error) in gold.items():
        other, other_error = official[name]
        spread = float(np.hypot(error, other_error))
        rows[name] = {"goldyolo": mean, "official": other, "difference": mean - other,
                      "z": (mean - other) / spread if spread else 0.0}
    return rows


def data_parity(cfg: DataParityConfig) -> str:
    """Both training pipelines over the same images; writes ``data_parity.json``."""
    from ..config import get_config
    from ..data import CocoSource
    from ..data.yolo_format import write_yolo_dataset
    from ..utils.machine import environment, portable_path
    from .train_compare import check_official, run_official
    if cfg.passes < 1:
        raise InputError("--passes must be positive")
    root = check_official(cfg.torch_reference, cfg.model)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    source = CocoSource(Path(cfg.data), Path(cfg.images))
    hyp = get_config(cfg.model).augment
    data_yaml = write_yolo_dataset(source, source, out / "data")
    spec = {"mode": "data", "data_yaml": str(data_yaml.resolve()), "img_size": cfg.img_size, "batch_size": 16,
            "hyp": hyp, "mosaic": cfg.mosaic, "passes": cfg.passes, "seed": cfg.seed,
            "out": str((out / "official.npz").resolve())}
    run_official(cfg, root, spec, out / "official.log")
    official = dict(np.load(out / "official.npz"))
    gold = goldyolo_records(source, cfg.img_size, hyp, cfg.passes, cfg.mosaic, cfg.seed)
    np.savez(out / "goldyolo.npz", **gold)
    if sorted(official["names"].tolist()) != sorted(gold["names"].tolist()):
        raise InputError(f"the two pipelines read different images from {cfg.data}")
    rows = compare(statistics(gold, cfg.img_size), statistics(official, cfg.img_size))
    config = dict(asdict(cfg), torch_reference=portable_path(cfg.torch_reference), out=portable_path(cfg.out),
                  images=portable_path(cfg.images))
    result = {"config": config, "environment": environment(), "samples": int(len(gold["names"])),
              "boxes": {"goldyolo": int(len(gold["boxes"])), "official": int(len(official["boxes"]))},
              "statistics": rows}
    (out / "data_parity.json").write_text(json.dumps(result, indent=1))
    lines = [f"{name:22s} goldyolo {r['goldyolo']:10.4f}  official {r['official']:10.4f}  z {r['z']:+6.2f}"
             for name, r in rows.items()]
    return "\n".join(lines + [f"written: {out / 'data_parity.json'}"])
