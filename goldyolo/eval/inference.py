"""The one inference path: weights to a model, image to input, forward, NMS, boxes in original pixels.

``evaluate`` (batches from the evaluation loader), ``predict`` (image files) and the notebooks all
detect through :func:`detect`, so the three cannot drift apart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..data.augment import letterbox
from ..runtime import jt
from .postprocess import non_max_suppression, scale_to_original


def load_model(weights: str, model: Optional[str] = None, names: Optional[Sequence[str]] = None):
    """(model, class names) from a training checkpoint, or from plain weights of ``model``.

    A training checkpoint carries its model name and class names; plain weights need ``model``, and
    take ``names`` (default: 80 numbered classes)."""
    from ..errors import InputError
    from ..models import build_model
    from ..models.checkpoint import CHECKPOINT_FORMAT, load_weights, read_checkpoint
    from ..models.trained import model_from_checkpoint
    state = None if str(weights).endswith(".npz") else read_checkpoint(weights)  # .npz: plain weights
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        return model_from_checkpoint(state), list(state["names"])
    if not model:
        raise InputError(f"{weights}: plain weights need --model (the model they belong to)")
    names = list(names) if names is not None else [str(i) for i in range(80)]
    return load_weights(build_model(model, num_classes=len(names)), weights), names


def preprocess(image: np.ndarray, img_size: int) -> Tuple[np.ndarray, Dict]:
    """One BGR image letterboxed to a square input.

    Args:
        image: (H, W, 3) uint8, BGR (as ``cv2.imread`` gives).
        img_size: side of the square input.
    Returns:
        (3, img_size, img_size) float32 RGB in [0, 1], and its meta (ratio, pad, original shape) for
        :func:`detect`."""
    h0, w0 = image.shape[:2]
    boxed, ratio, pad = letterbox(image, (img_size, img_size), scaleup=False)
    x = np.ascontiguousarray(boxed.transpose(2, 0, 1)[::-1]).astype(np.float32) / 255.0
    return x, {"ratio": (ratio, ratio), "pad": pad, "shape": (h0, w0)}


def detect(model, images: np.ndarray, metas: Sequence[Dict], conf_thres: float, iou_thres: float,
           max_det: int = 300, multi_label: bool = False) -> List[np.ndarray]:
    """Forward a batch in eval mode, NMS, and boxes mapped back to each original image.

    Args:
        images: (B, 3, H, W) float32 in [0, 1].
        metas: B dicts with ``ratio`` (h, w), ``pad`` (x, y) and ``shape`` (h0, w0) of the letterbox, and
            ``exact`` (optional) for :func:`~goldyolo.eval.postprocess.scale_to_original`.
    Returns:
        B arrays (n, 6): x1, y1, x2, y2 in original pixels, score, class index. The model's
        training/eval state is left as it was."""
    was_training = model.is_training()
    model.eval()
    with jt.no_grad():
        outputs = model(jt.array(images)).numpy()
    if was_training:
        model.train()
    detections = non_max_suppression(outputs, conf_thres, iou_thres, multi_label=multi_label, max_det=max_det)
    for det, meta in zip(detections, metas):
        det[:, :4] = scale_to_original(det[:, :4], meta["ratio"], meta["pad"], meta["shape"], meta.get("exact", False))
    return detections


def detect_file(model, path: Path, img_size: int, conf_thres: float, iou_thres: float,
                max_det: int = 1000) -> Tuple[np.ndarray, np.ndarray]:
    """(image BGR, detections (n, 6) in original pixels) for one image file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        from ..errors import InputError
        raise InputError(f"{path}: cannot read image (missing, or not an image OpenCV decodes)")
    x, meta = preprocess(image, img_size)
    return image, detect(model, x[None], [meta], conf_thres, iou_thres, max_det)[0]
