"""Detections drawn on images (official drawing thresholds: conf 0.25, IoU 0.45)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from ..ops.conv import frozen_weights, new_period
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


def detection_records(detections: np.ndarray, names: Sequence[str]) -> List[Dict]:
    """Detections (n, 6) [x1, y1, x2, y2, score, class] as json records with the class name."""
    return [{"box_xyxy": [round(float(v), 2) for v in (x1, y1, x2, y2)], "score": round(float(conf), 5),
             "class": int(cls), "name": names[int(cls)] if int(cls) < len(names) else str(int(cls))}
            for x1, y1, x2, y2, conf, cls in detections]


def yolo_lines(detections: np.ndarray, width: int, height: int) -> str:
    """Detections as YOLO label lines with the score: ``class cx cy w h score``, normalised to the image."""
    return "".join(f"{int(cls)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} "
                   f"{(y2 - y1) / height:.6f} {conf:.5f}\n" for x1, y1, x2, y2, conf, cls in detections)


def predict_files(model, paths: Sequence[Path], out_dir: Path, names: Sequence[str], img_size: int = 640,
                  conf_thres: float = 0.25, iou_thres: float = 0.45, save_json: bool = False,
                  save_txt: bool = False) -> List[Path]:
    """Draw detections for each image into ``out_dir``; with ``save_json`` also ``predictions.json`` (every
    image's boxes in pixels, scores, classes and names), with ``save_txt`` ``labels/NAME.txt`` per image (YOLO
    lines with the score). Returns the written files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, records = [], []
    period = new_period()  # the weights do not change between images
    for path in paths:
        with frozen_weights(period):
            image, det = detect_file(model, Path(path), img_size, conf_thres, iou_thres)
        target = out_dir / Path(path).name
        cv2.imwrite(str(target), draw(image, det, names))
        written.append(target)
        records.append({"image": str(path), "width": image.shape[1], "height": image.shape[0],
                        "detections": detection_records(det, names)})
        if save_txt:
            (out_dir / "labels").mkdir(exist_ok=True)
            text = out_dir / "labels" / f"{Path(path).stem}.txt"
            text.write_text(yolo_lines(det, image.shape[1], image.shape[0]))
            written.append(text)
    if save_json:
        (out_dir / "predictions.json").write_text(json.dumps(records, indent=1))
        written.append(out_dir / "predictions.json")
    return written


def predict_command(weights: str, images: Sequence[str], out: str, model: Optional[str] = None, img_size: int = 640,
                    conf_thres: float = 0.25, iou_thres: float = 0.45, data: str = "",
                    precision: str = "float32", save_json: bool = False, save_txt: bool = False) -> str:
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
        written = predict_files(net, images, out, names, img_size, conf_thres, iou_thres, save_json, save_txt)
    drawn = sum(1 for w in written if w.suffix not in (".txt", ".json"))
    extra = (", predictions.json" if save_json else "") + (", labels/*.txt" if save_txt else "")
    return f"{drawn} images written to {out}{extra}"
