"""Detections drawn on images (official drawing thresholds: conf 0.25, IoU 0.45)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

from .inference import detect_file, load_model


def draw(image: np.ndarray, detections: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Boxes and 'name score' labels on a copy of the image."""
    out = image.copy()
    for x1, y1, x2, y2, conf, cls in detections:
        color = tuple(int(c) for c in np.random.default_rng(int(cls)).integers(40, 255, 3))
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(out, p1, p2, color, 2)
        label = f"{names[int(cls)] if int(cls) < len(names) else int(cls)} {conf:.2f}"
        cv2.putText(out, label, (p1[0], max(p1[1] - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out


def predict_files(model, paths: Sequence[Path], out_dir: Path, names: Sequence[str], img_size: int = 640,
                  conf_thres: float = 0.25, iou_thres: float = 0.45) -> List[Path]:
    """Draw detections for each image into ``out_dir``; returns the written files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        image, det = detect_file(model, Path(path), img_size, conf_thres, iou_thres)
        target = out_dir / Path(path).name
        cv2.imwrite(str(target), draw(image, det, names))
        written.append(target)
    return written


def predict_command(weights: str, images: Sequence[str], out: str, model: Optional[str] = None, img_size: int = 640,
                    conf_thres: float = 0.25, iou_thres: float = 0.45, data: str = "",
                    precision: str = "float32") -> str:
    """``predict``: draw the detections of ``weights`` on each image file into ``out``; class names from
    ``data`` (a data.yaml or COCO json) when given, else from the checkpoint."""
    from ..data.sources import class_names
    from ..errors import InputError
    names = class_names(data) if data else None
    net, saved = load_model(weights, model, names)
    if names is not None and len(names) != len(saved):
        raise InputError(f"{data} names {len(names)} classes, {weights} was trained on {len(saved)}")
    names = names or saved
    from ..ops.conv import use_precision
    with use_precision(precision):
        written = predict_files(net, images, out, names, img_size, conf_thres, iou_thres)
    return f"{len(written)} images written to {out}"
