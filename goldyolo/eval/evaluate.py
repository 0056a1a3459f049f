"""COCO evaluation: batched inference, official NMS, results json and pycocotools ``COCOeval``."""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..data import CocoSource, DetectionDataset
from ..ops.conv import frozen_weights, use_precision
from .inference import detect, load_model
from .modes import EvalMode, eval_mode
from .postprocess import MAX_DET

METRIC_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl"]


def predict(model, dataset: DetectionDataset, conf_thres: float = 0.03, iou_thres: float = 0.65,
            max_det: int = MAX_DET, progress: bool = False) -> List[dict]:
    """Detections of ``model`` on every image of ``dataset`` as COCO result dicts (original pixels)."""
    results = []
    batches = dataset
    if progress:
        from tqdm import tqdm
        batches = tqdm(dataset, total=len(dataset), desc="eval", leave=False)
    with frozen_weights():
        for images, _, metas in batches:
            for det, meta in zip(detect(model, images, metas, conf_thres, iou_thres, max_det, multi_label=True),
                                 metas):
                for (x1, y1, x2, y2), score, cls in zip(det[:, :4], det[:, 4], det[:, 5]):
                    results.append({"image_id": int(meta["image_id"]),
                                    "category_id": dataset.source.category_of_class(int(cls)),
                                    "bbox": [round(float(v), 3) for v in (x1, y1, x2 - x1, y2 - y1)],
                                    "score": round(float(score), 5)})
    return results


def precision_recall_curve(precision: np.ndarray, recall: np.ndarray) -> Dict[str, List[float]]:
    """Class-averaged precision at each recall threshold, at IoU 0.5 and averaged over IoU 0.5:0.95.

    Args:
        precision: COCOeval's (T=10 IoU, R=101 recall, K classes, A areas, M max-dets) array, -1 where undefined.
        recall: the R recall thresholds.
    """
    curves = {"recall": [float(r) for r in recall]}
    valid = precision[:, :, :, 0, -1]  # area all, 100 detections
    for name, rows in (("IoU=0.50", valid[:1]), ("IoU=0.50:0.95", valid)):
        values = []
        for r in range(valid.shape[1]):
            column = rows[:, r, :]
            column = column[column > -1]
            values.append(float(column.mean()) if column.size else 0.0)
        curves[name] = values
    return curves


def coco_metrics(source: CocoSource, results: List[dict], image_ids: List[int]) -> Dict:
    """pycocotools bbox evaluation restricted to ``image_ids``: AP, AP50, AP75, APs/m/l and per-class AP."""
    from pycocotools.cocoeval import COCOeval
    metrics = {name: 0.0 for name in METRIC_NAMES}
    metrics["per_class_AP"] = {}
    if not results:
        return metrics
    with contextlib.redirect_stdout(io.StringIO()) as log:
        detections = source.coco.loadRes(results)
        evaluator = COCOeval(source.coco, detections, "bbox")
        evaluator.params.imgIds = list(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics.update({name: float(v) for name, v in zip(METRIC_NAMES, evaluator.stats[[0, 1, 2, 3, 4, 5]])})
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # (iou, recall, class) at area all, 100 dets
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k]
        values = values[values > -1]
        if values.size:
            metrics["per_class_AP"][source.coco.cats[cat_id]["name"]] = float(values.mean())
    metrics["pr_curve"] = precision_recall_curve(evaluator.eval["precision"], evaluator.params.recThrs)
    metrics["summary"] = log.getvalue().strip().splitlines()[-12:]
    return metrics


def max_stride(model) -> int:
    """The largest stride of a model's head (32 for every Gold-YOLO); rect batches are multiples of it."""
    config = getattr(model, "config", None)
    return int(max(config.strides)) if config is not None else 32


def evaluate(model, source: CocoSource, img_size: int = 640, batch_size: int = 16, num_workers: int = 0,
             conf_thres: float = 0.03, iou_thres: float = 0.65, out_dir: Optional[Path] = None,
             progress: bool = False, mode: Optional[EvalMode] = None) -> Dict:
    """Evaluate ``model`` on ``source`` in ``mode`` (default square); writes predictions.json and
    metrics.json to ``out_dir`` if given."""
    mode = mode or EvalMode()
    dataset = DetectionDataset(source, img_size=img_size, augment=False, batch_size=batch_size,
                               num_workers=num_workers, stride=max_stride(model),
                               **mode.dataset_options())
    results = predict(model, dataset, conf_thres, iou_thres, progress=progress)
    metrics = coco_metrics(source, results, [r.image_id for r in source.records])
    metrics["num_images"] = len(source.records)
    metrics["num_detections"] = len(results)
    metrics["mode"] = dict(asdict(mode), img_size=img_size, batch_size=batch_size, conf_thres=conf_thres,
                           iou_thres=iou_thres)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "predictions.json").write_text(json.dumps(results))
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def eval_command(weights: str, data: str, images: str = "", model: Optional[str] = None, img_size: int = 640,
                 batch_size: int = 32, workers: int = 0, conf_thres: float = 0.03, iou_thres: float = 0.65,
                 out: str = "", split: str = "val", rect: bool = False, reproduce_640_eval: bool = False,
                 eval_profile: str = "", test_load_size: int = 0, force_no_pad: bool = False,
                 precision: str = "float32") -> str:
    """``eval``: COCO metrics of ``weights`` on ``data`` (a COCO json, or ``split`` of a data.yaml) in the
    chosen mode (:mod:`goldyolo.eval.modes`), written to ``out`` (default: eval/ beside the weights);
    returns the pycocotools summary and the headline numbers."""
    from ..data.sources import open_source
    mode = eval_mode(weights, rect, reproduce_640_eval, eval_profile, test_load_size, force_no_pad)
    if mode.name == "reproduce_640":
        conf_thres, iou_thres = 0.03, 0.65
    print(f"mode {mode.name}: " + ", ".join(f"{k} {v}" for k, v in asdict(mode).items() if k != "name"), flush=True)
    source = open_source(data, images, split)
    print(f"{data}: {len(source.records)} images; {source.report.summary()}", flush=True)
    net, _ = load_model(weights, model, source.names)
    out_dir = Path(out) if out else Path(weights).parent / "eval"
    with use_precision(precision):
        metrics = evaluate(net, source, img_size, batch_size, workers, conf_thres, iou_thres, out_dir=out_dir,
                           progress=True, mode=mode)
    headline = json.dumps({k: metrics[k] for k in METRIC_NAMES} | {"precision": precision})
    return "\n".join(metrics.get("summary", []) + [headline, f"metrics and predictions written to {out_dir}"])
