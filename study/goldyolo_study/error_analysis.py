"""Notebook 04's error analysis of the detections ``evaluate`` wrote (``predictions.json``, COCO results format)
against the test split's labels: scores, detections per image against the cap, per-class AP with instance
counts, and what kind of error each confident detection is."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

KINDS = ("correct", "duplicate", "wrong class", "poor localisation", "background")


def read(predictions: Path | str, annotations: Path | str) -> Tuple[List[dict], dict]:
    """The detections and the COCO annotation json of the test split."""
    return json.loads(Path(predictions).read_text()), json.loads(Path(annotations).read_text())


def per_image_counts(detections: List[dict], image_ids: List[int]) -> pd.Series:
    """Detections kept per image (images without any count 0)."""
    counts = Counter(d["image_id"] for d in detections)
    return pd.Series([counts.get(i, 0) for i in image_ids], index=image_ids, name="detections")


def per_class_table(per_class_ap: Dict[str, float], annotations: dict) -> pd.DataFrame:
    """Per class: instances in the test split (crowd boxes left out) and AP; classes without an instance are
    left out (their AP is undefined), sorted by AP then instances."""
    names = {c["id"]: c["name"] for c in annotations["categories"]}
    instances = Counter(names[a["category_id"]] for a in annotations["annotations"] if not a.get("iscrowd", 0))
    rows = [{"class": name, "test instances": instances[name], "AP": per_class_ap.get(name, float("nan"))}
            for name in names.values() if instances[name]]
    return pd.DataFrame(rows).sort_values(["AP", "test instances"], ascending=False).reset_index(drop=True)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (n, 4) against (m, 4) boxes in COCO [x, y, w, h]."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    a1, a2 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    return inter / np.maximum(union, 1e-12)


def error_kinds(detections: List[dict], annotations: dict, score_thres: float, iou_hit: float = 0.5,
                iou_near: float = 0.1) -> Dict[str, int]:
    """Each detection with a score of at least ``score_thres``, best first per image, as one of :data:`KINDS`:
    *correct* (IoU >= ``iou_hit`` with an unmatched box of its class), *duplicate* (that box already matched),
    *wrong class* (IoU >= ``iou_hit`` only with boxes of other classes), *poor localisation* (its class, IoU in
    [``iou_near``, ``iou_hit``)), *background* (the rest: no box of its class within ``iou_near``, no box of any
    class within ``iou_hit``); plus the labelled boxes no correct detection found (``missed``). Crowd boxes are
    left out."""
    truth: Dict[int, List[dict]] = {}
    for a in annotations["annotations"]:
        if not a.get("iscrowd", 0):
            truth.setdefault(a["image_id"], []).append(a)
    kept: Dict[int, List[dict]] = {}
    for d in detections:
        if d["score"] >= score_thres:
            kept.setdefault(d["image_id"], []).append(d)
    counts = dict.fromkeys(KINDS, 0)
    missed = 0
    for image in annotations["images"]:
        boxes = truth.get(image["id"], [])
        gt = np.array([b["bbox"] for b in boxes], dtype=np.float64).reshape(-1, 4)
        gt_cls = np.array([b["category_id"] for b in boxes])
        found = sorted(kept.get(image["id"], []), key=lambda d: -d["score"])
        ious = iou_matrix(np.array([d["bbox"] for d in found], dtype=np.float64).reshape(-1, 4), gt)
        matched = np.zeros(len(gt), dtype=bool)
        for row, d in zip(ious, found):
            same = gt_cls == d["category_id"]
            if same.any() and row[same].max() >= iou_hit:
                free = same & ~matched & (row >= iou_hit)
                if free.any():
                    matched[np.flatnonzero(free)[np.argmax(row[free])]] = True
                    counts["correct"] += 1
                else:
                    counts["duplicate"] += 1
            elif len(row) and row.max() >= iou_hit:
                counts["wrong class"] += 1
            elif same.any() and row[same].max() >= iou_near:
                counts["poor localisation"] += 1
            else:
                counts["background"] += 1
        missed += int((~matched).sum())
    return dict(counts, missed=missed)
