"""``compare-precision``: a trained model's deploy outputs and COCO AP with bf16 convolutions against float32.

The same weights, fused for deployment, run on the same letterboxed test images twice: convolutions in float32,
then in bf16 (float32 sums; :func:`goldyolo.ops.conv.use_precision`). Compared: the boxes (pixels of the network
input) of the anchors the evaluation keeps (best class score at least ``conf_thres`` in float32), every class
score, whether the kept anchors' best class agrees; then the COCO metrics of each precision by goldyolo's
evaluator (square letterbox, conf 0.03, IoU 0.65).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict

import numpy as np

from ..eval.evaluate import METRIC_NAMES, evaluate, max_stride
from ..eval.inference import load_model
from ..ops.conv import cpu_has_bf16, frozen_weights, use_precision
from ..utils.machine import portable_path


@dataclass
class PrecisionConfig:
    """The settings of one ``compare-precision`` command."""
    weights: str = ""
    data: str = "data/splits/test.json"
    images: str = "../shared/coco_subset/images"
    model: str = ""                # for plain weights (a checkpoint names its model)
    img_size: int = 320
    batch_size: int = 16
    conf_thres: float = 0.03       # the evaluation's: the anchors whose boxes are compared
    out: str = "runs/compare_precision/precision.json"


def spread(values: np.ndarray) -> Dict[str, float]:
    """Largest, 99th percentile, median and mean of absolute differences."""
    values = np.abs(values.ravel())
    if values.size == 0:
        return {"max": 0.0, "p99": 0.0, "median": 0.0, "mean": 0.0, "n": 0}
    return {"max": float(values.max()), "p99": float(np.percentile(values, 99)), "median": float(np.median(values)),
            "mean": float(values.mean()), "n": int(values.size)}


def output_differences(model, dataset, conf_thres: float) -> Dict:
    """bf16 minus float32 on every batch of ``dataset``.

    Returns:
        ``boxes_px`` (cx, cy, w, h of the kept anchors, input pixels), ``scores`` (every class score of every
        anchor), ``kept_anchors``, ``same_best_class`` (share of kept anchors whose best class agrees) and
        ``largest_score`` (the largest float32 score, for scale).
    """
    from ..runtime import jt
    boxes, scores, same, kept, largest = [], [], 0, 0, 0.0
    model.eval()
    with jt.no_grad(), frozen_weights():
        for images, _, _ in dataset:
            x = jt.array(images)
            outputs = {}
            for name in ("float32", "bf16"):
                with use_precision(name):
                    outputs[name] = model(x).numpy()
            full, half = outputs["float32"], outputs["bf16"]
            keep = full[..., 5:].max(-1) >= conf_thres
            boxes.append((half[..., :4] - full[..., :4])[keep])
            scores.append((half[..., 5:] - full[..., 5:]).ravel())
            same += int((half[..., 5:].argmax(-1) == full[..., 5:].argmax(-1))[keep].sum())
            kept += int(keep.sum())
            largest = max(largest, float(full[..., 5:].max()))
    return {"boxes_px": spread(np.concatenate(boxes)), "scores": spread(np.concatenate(scores)),
            "kept_anchors": kept, "same_best_class": same / kept if kept else None, "largest_score": largest}


def compare_precision(cfg: PrecisionConfig) -> str:
    """Run the comparison and write ``cfg.out``; returns a summary."""
    from ..data import DetectionDataset
    from ..data.sources import open_source
    from ..errors import InputError
    from ..models.fuse import fuse
    from ..utils.machine import environment
    if not cpu_has_bf16():
        raise InputError("compare-precision needs a CPU with bf16 instructions (AVX-512 BF16 or AMX): elsewhere "
                         "the bf16 convolutions would fall back to float32")
    source = open_source(cfg.data, cfg.images, "val")
    model, _ = load_model(cfg.weights, cfg.model or None, source.names)
    fuse(model)
    dataset = DetectionDataset(source, img_size=cfg.img_size, augment=False, batch_size=cfg.batch_size,
                               stride=max_stride(model))
    result = {"config": dict(asdict(cfg), weights=portable_path(cfg.weights), out=portable_path(cfg.out)),
              "num_images": len(source.records), "outputs": output_differences(model, dataset, cfg.conf_thres)}
    coco = {}
    for name in ("float32", "bf16"):
        with use_precision(name):
            metrics = evaluate(model, source, cfg.img_size, cfg.batch_size)
        coco[name] = {k: metrics[k] for k in METRIC_NAMES} | {"num_detections": metrics["num_detections"]}
    result["coco"] = coco
    result["coco_difference"] = {k: coco["bf16"][k] - coco["float32"][k] for k in METRIC_NAMES}
    result.update(environment())
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    o = result["outputs"]
    return (f"boxes of {o['kept_anchors']} kept anchors: max {o['boxes_px']['max']:.3g} px, median "
            f"{o['boxes_px']['median']:.3g} px; scores: max {o['scores']['max']:.3g}, "
            f"median {o['scores']['median']:.3g}; same best class {o['same_best_class']}\n"
            f"AP float32 {coco['float32']['AP']:.5f}, bf16 "
            f"{coco['bf16']['AP']:.5f}; AP50 {coco['float32']['AP50']:.5f}, {coco['bf16']['AP50']:.5f}\n"
            f"written: {out}")
