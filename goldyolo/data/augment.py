"""The official YOLOv6 augmentations (``yolov6/data/data_augment.py``), with explicit RNGs.

Every random draw comes from the ``random.Random`` / ``numpy.random.Generator`` passed in, so a
sample is a pure function of (seed, epoch, index) and runs repeat exactly, with or without workers.
Labels are (n, 5) [cls, x1, y1, x2, y2] in pixels unless said otherwise.
"""
from __future__ import annotations

import math
import random
from typing import List, Sequence, Tuple

import cv2
import numpy as np

PAD_COLOR = (114, 114, 114)


def mosaic_in_epoch(epoch: int, epochs: int, stop_aug_last_n_epoch: int) -> bool:
    """Whether mosaic (and mixup) are on in ``epoch`` of a run of ``epochs``, as the official trainer decides.

    The official ``Trainer.prepare_for_steps`` switches them off when ``epoch == epochs - stop_aug_last_n_epoch``
    and never back on, so a run of fewer than ``stop_aug_last_n_epoch`` epochs never reaches that epoch and
    keeps mosaic on throughout (docs/quirks.md, Q24)."""
    switch = epochs - stop_aug_last_n_epoch
    return not 0 <= switch <= epoch


def letterbox(image: np.ndarray, new_shape: Tuple[int, int], scaleup: bool = True):
    """Resize keeping the aspect ratio and pad with gray to ``new_shape`` (h, w) (``auto=False``).

    Returns the image, the ratio and the (dw, dh) padding per side.
    """
    h, w = image.shape[:2]
    r = min(new_shape[0] / h, new_shape[1] / w)
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = int(round(w * r)), int(round(h * r))
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if (w, h) != new_unpad:
        image = cv2.resize(image, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=PAD_COLOR)
    return image, r, (dw, dh)


def augment_hsv(image: np.ndarray, rng: np.random.Generator, hgain: float, sgain: float, vgain: float) -> None:
    """Random gains on hue, saturation and value through lookup tables, in place (BGR uint8)."""
    if not (hgain or sgain or vgain):
        return
    gains = rng.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    x = np.arange(0, 256, dtype=gains.dtype)
    lut_hue = ((x * gains[0]) % 180).astype(np.uint8)
    lut_sat = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    merged = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    cv2.cvtColor(merged, cv2.COLOR_HSV2BGR, dst=image)


def box_candidates(before: np.ndarray, after: np.ndarray, wh_thr: float = 2, ar_thr: float = 20,
                   area_thr: float = 0.1, eps: float = 1e-16) -> np.ndarray:
    """Boxes (4, n) that stay larger than 2 px, keep 10% of their area and an aspect ratio below 20."""
    w1, h1 = before[2] - before[0], before[3] - before[1]
    w2, h2 = after[2] - after[0], after[3] - after[1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def transform_matrix(img_shape, new_shape, rng: random.Random, degrees, scale, shear, translate):
    """Centre, rotate+scale, shear, translate: the official ``get_transform_matrix``."""
    new_h, new_w = new_shape
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -img_shape[1] / 2, -img_shape[0] / 2
    rotate = np.eye(3)
    angle, s = rng.uniform(-degrees, degrees), rng.uniform(1 - scale, 1 + scale)
    rotate[:2] = cv2.getRotationMatrix2D(angle=angle, center=(0, 0), scale=s)
    skew = np.eye(3)
    skew[0, 1] = math.tan(rng.uniform(-shear, shear) * math.pi / 180)
    skew[1, 0] = math.tan(rng.uniform(-shear, shear) * math.pi / 180)
    move = np.eye(3)
    move[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * new_w
    move[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * new_h
    return move @ skew @ rotate @ centre, s


def random_affine(image: np.ndarray, labels: np.ndarray, rng: random.Random, degrees=0.0, translate=0.1,
                  scale=0.5, shear=0.0, new_shape=(640, 640)):
    """Warp the image and its boxes; drop boxes that the warp makes too small or thin."""
    height, width = new_shape
    m, s = transform_matrix(image.shape[:2], (height, width), rng, degrees, scale, shear, translate)
    if (m != np.eye(3)).any():
        image = cv2.warpAffine(image, m[:2], dsize=(width, height), borderValue=PAD_COLOR)
    n = len(labels)
    if n:
        xy = np.ones((n * 4, 3))
        xy[:, :2] = labels[:, [1, 2, 3, 4, 1, 4, 3, 2]].reshape(n * 4, 2)
        xy = (xy @ m.T)[:, :2].reshape(n, 8)
        x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
        new = np.concatenate((x.min(1), y.min(1), x.max(1), y.max(1))).reshape(4, n).T
        new[:, [0, 2]] = new[:, [0, 2]].clip(0, width)
        new[:, [1, 3]] = new[:, [1, 3]].clip(0, height)
        keep = box_candidates(labels[:, 1:5].T * s, new.T, area_thr=0.1)
        labels = labels[keep]
        labels[:, 1:5] = new[keep]
    return image, labels


def mosaic(img_size: int, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], rng: random.Random,
           hyp: dict):
    """Four images around a random centre on a 2s x 2s canvas, then ``random_affine`` back to s x s.

    ``labels`` are (n, 5) [cls, cx, cy, w, h] normalised to each image.
    """
    s = img_size
    yc, xc = (int(rng.uniform(s // 2, 3 * s // 2)) for _ in range(2))
    canvas = np.full((s * 2, s * 2, images[0].shape[2]), 114, dtype=np.uint8)
    placed: List[np.ndarray] = []
    for i, (image, label) in enumerate(zip(images, labels)):
        h, w = image.shape[:2]
        if i == 0:
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
        elif i == 1:
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, s * 2), yc
            x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
        elif i == 2:
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(s * 2, yc + h)
            x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
        else:
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, s * 2), min(s * 2, yc + h)
            x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
        canvas[y1a:y2a, x1a:x2a] = image[y1b:y2b, x1b:x2b]
        placed.append(normalised_to_pixels(label, w, h, x1a - x1b, y1a - y1b))
    merged = np.concatenate(placed, 0)
    merged[:, 1:] = merged[:, 1:].clip(0, 2 * s)
    return random_affine(canvas, merged, rng, hyp["degrees"], hyp["translate"], hyp["scale"], hyp["shear"],
                         new_shape=(s, s))


def normalised_to_pixels(labels: np.ndarray, w: float, h: float, pad_w: float = 0.0, pad_h: float = 0.0) -> np.ndarray:
    """[cls, cx, cy, bw, bh] normalised -> [cls, x1, y1, x2, y2] pixels of a w x h image placed at (pad_w, pad_h)."""
    out = labels.copy()
    if len(labels):
        out[:, 1] = w * (labels[:, 1] - labels[:, 3] / 2) + pad_w
        out[:, 2] = h * (labels[:, 2] - labels[:, 4] / 2) + pad_h
        out[:, 3] = w * (labels[:, 1] + labels[:, 3] / 2) + pad_w
        out[:, 4] = h * (labels[:, 2] + labels[:, 4] / 2) + pad_h
    return out


def pixels_to_normalised(labels: np.ndarray, w: float, h: float) -> np.ndarray:
    """Clip [cls, x1, y1, x2, y2] to the image (minus 1e-3) and convert to normalised centre form."""
    out = labels.copy()
    if len(labels):
        x = labels[:, [1, 3]].clip(0, w - 1e-3)
        y = labels[:, [2, 4]].clip(0, h - 1e-3)
        out[:, 1], out[:, 2] = (x[:, 0] + x[:, 1]) / 2 / w, (y[:, 0] + y[:, 1]) / 2 / h
        out[:, 3], out[:, 4] = (x[:, 1] - x[:, 0]) / w, (y[:, 1] - y[:, 0]) / h
    return out


def mixup(image: np.ndarray, labels: np.ndarray, image2: np.ndarray, labels2: np.ndarray,
          rng: np.random.Generator):
    """MixUp of two mosaics with ratio ~ Beta(32, 32); the boxes of both are kept."""
    r = rng.beta(32.0, 32.0)
    return (image * r + image2 * (1 - r)).astype(np.uint8), np.concatenate((labels, labels2), 0)
