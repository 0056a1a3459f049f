"""The training / evaluation dataset on ``jittor.dataset``: official sample pipeline, ragged collate.

A sample is a pure function of (seed, epoch, index): the epoch and the mosaic switch travel
inside the index list Jittor hands to its workers, so runs repeat exactly with any number of
workers, and a resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import random
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import InputError
from ..runtime import jt
from .augment import augment_hsv, letterbox, mixup, mosaic, normalised_to_pixels, pixels_to_normalised, random_affine
from .coco import CocoSource, ImageRecord


def rect_batches(heights: Sequence[int], widths: Sequence[int], batch_size: int, img_size: int, stride: int = 32,
                 pad: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """The official evaluator's aspect-ratio batches: the order of the images and each batch's input shape.

    Images are ordered by h / w with numpy's default (unstable) ``argsort``, as the official dataset does,
    so equal ratios are ordered as there with the same numpy on the same CPU; the shapes depend only on
    the sorted ratios. A batch of landscape images gets ``[max ratio, 1]``, of portrait ones
    ``[1, 1 / min ratio]``, else ``[1, 1]``, times ``img_size / stride``, plus ``pad``, rounded up, times ``stride``.

    Returns:
        order: (n,) image indices in batch order.
        shapes: (number of batches, 2) int [H, W] of the inputs.
    """
    ratio = np.asarray(heights, np.float64) / np.asarray(widths, np.float64)
    order = ratio.argsort()
    ratio = ratio[order]
    batch = np.arange(len(ratio)) // batch_size
    shapes = []
    for i in range(int(batch[-1]) + 1 if len(ratio) else 0):
        lowest, highest = ratio[batch == i].min(), ratio[batch == i].max()
        shapes.append([highest, 1] if highest < 1 else [1, 1 / lowest] if lowest > 1 else [1, 1])
    shapes = np.ceil(np.array(shapes).reshape(-1, 2) * img_size / stride + pad).astype(int) * stride
    return order, shapes


class DetectionDataset(jt.dataset.Dataset):
    """Batches of ``(images (B, 3, S, S) float32 in [0, 1] RGB, targets (n, 6), metas)``.

    ``targets`` rows are [image index in batch, class, cx, cy, w, h] normalised to the S x S input,
    the official layout. ``metas`` hold what evaluation needs to map boxes back to the image.

    For evaluation, the official evaluator's options: ``rect`` (aspect-ratio batches of
    :func:`rect_batches`, images ordered by file path first, as the official folder listing), ``load_size``
    (the long side images are loaded at, default ``img_size``), ``return_int`` (the pad recorded as the
    integer offset of the image instead of the half-pixel float) and ``exact_scale`` (boxes mapped back
    with each axis' own gain, not the y gain for both).
    """

    def __init__(self, source: CocoSource, img_size: int = 640, augment: bool = False,
                 hyp: Optional[dict] = None, batch_size: int = 16, shuffle: bool = False,
                 num_workers: int = 0, seed: int = 0, drop_last: bool = False, rect: bool = False,
                 pad: float = 0.5, stride: int = 32, load_size: int = 0, return_int: bool = False,
                 exact_scale: bool = False):
        super().__init__()
        if not source.records:
            raise InputError(f"{source.annotation_file}: no usable image ({source.report.summary()})")
        if rect and (augment or shuffle):
            raise ValueError("rect batches are for evaluation: no augmentation, no shuffling")
        self.source = source
        self.records: List[ImageRecord] = source.records
        self.batch_shapes = None
        if rect:
            by_path = sorted(self.records, key=lambda r: str(r.path))
            order, self.batch_shapes = rect_batches([r.height for r in by_path], [r.width for r in by_path],
                                                    batch_size, img_size, stride, pad)
            self.records = [by_path[i] for i in order]
        self.load_size = load_size or img_size
        self.return_int, self.exact_scale = return_int, exact_scale
        self.img_size = img_size
        self.augment = augment
        self.hyp = dict(hyp or {})
        self.seed = seed
        self.epoch = 0
        self.use_mosaic = augment and self.hyp.get("mosaic", 0) > 0
        self.set_attrs(total_len=len(self.records), batch_size=batch_size, shuffle=shuffle,
                       num_workers=num_workers, drop_last=drop_last, keep_numpy_array=True)

    def input_shape(self, index: int) -> Tuple[int, int]:
        """(H, W) of the input that record ``index`` is letterboxed into (evaluation)."""
        if self.batch_shapes is None:
            return self.img_size, self.img_size
        return tuple(int(v) for v in self.batch_shapes[index // self.batch_size])

    def set_epoch(self, epoch: int, use_mosaic: Optional[bool] = None) -> None:
        """Choose the epoch (shuffle order and augmentation draws) and whether mosaic is on."""
        self.epoch = epoch
        if use_mosaic is not None:
            self.use_mosaic = self.augment and use_mosaic and self.hyp.get("mosaic", 0) > 0

    def _get_index_list(self):
        self._shuffle_rng = np.random.default_rng([self.seed, self.epoch])
        order = np.asarray(super()._get_index_list(), dtype=np.int64)
        code = self.epoch * 2 + int(self.use_mosaic)
        return (order + code * len(self.records)).astype(np.int32)

    def load_image(self, index: int) -> Tuple[np.ndarray, Tuple[int, int], Tuple[int, int]]:
        """BGR image resized so that its long side is ``img_size`` (``load_size`` in evaluation);
        original and new (h, w)."""
        record = self.records[index]
        image = cv2.imread(str(record.path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"{record.path}: image became unreadable after the data check")
        h0, w0 = image.shape[:2]
        r = (self.img_size if self.augment else self.load_size) / max(h0, w0)
        if r != 1:
            interpolation = cv2.INTER_AREA if r < 1 and not self.augment else cv2.INTER_LINEAR
            image = cv2.resize(image, (int(w0 * r), int(h0 * r)), interpolation=interpolation)
        return image, (h0, w0), image.shape[:2]

    def _mosaic(self, index: int, rng: random.Random):
        indices = [index] + rng.choices(range(len(self.records)), k=3)
        rng.shuffle(indices)
        images = [self.load_image(i)[0] for i in indices]
        return mosaic(self.img_size, images, [self.records[i].labels for i in indices], rng, self.hyp)

    def __getitem__(self, key):
        code, index = divmod(int(key), len(self.records))
        epoch, use_mosaic = divmod(code, 2)
        rng = random.Random(f"{self.seed}/{epoch}/{index}")
        np_rng = np.random.default_rng([self.seed, epoch, index])
        record, hyp, size = self.records[index], self.hyp, self.img_size
        meta = {"image_id": record.image_id, "path": str(record.path), "shape": (record.height, record.width)}
        if self.augment and use_mosaic and rng.random() < hyp["mosaic"]:
            image, labels = self._mosaic(index, rng)
            if rng.random() < hyp.get("mixup", 0.0):
                image2, labels2 = self._mosaic(rng.randint(0, len(self.records) - 1), rng)
                image, labels = mixup(image, labels, image2, labels2, np_rng)
        else:
            image, (h0, w0), (h, w) = self.load_image(index)
            image, ratio, pad = letterbox(image, self.input_shape(index), scaleup=self.augment)
            offset = (int(round(pad[0] - 0.1)), int(round(pad[1] - 0.1)))  # where the image really starts
            meta.update(ratio=(h * ratio / h0, w * ratio / w0), pad=offset if self.return_int else pad,
                        exact=self.exact_scale)
            labels = normalised_to_pixels(record.labels.astype(np.float64), w * ratio, h * ratio, pad[0], pad[1])
            if self.augment:
                image, labels = random_affine(image, labels, rng, hyp["degrees"], hyp["translate"], hyp["scale"],
                                              hyp["shear"], new_shape=(size, size))
        labels = pixels_to_normalised(labels, image.shape[1], image.shape[0])
        if self.augment:
            augment_hsv(image, np_rng, hyp["hsv_h"], hyp["hsv_s"], hyp["hsv_v"])
            if rng.random() < hyp["flipud"]:
                image = np.flipud(image)
                labels[:, 2] = 1 - labels[:, 2]
            if rng.random() < hyp["fliplr"]:
                image = np.fliplr(image)
                labels[:, 1] = 1 - labels[:, 1]
        targets = np.zeros((len(labels), 6), dtype=np.float32)
        targets[:, 1:] = labels
        return np.ascontiguousarray(image.transpose(2, 0, 1)[::-1]), targets, meta

    def collate_batch(self, batch):
        images, targets, metas = zip(*batch)
        for i, t in enumerate(targets):
            t[:, 0] = i
        stacked = np.stack(images).astype(np.float32) / 255.0
        return stacked, np.concatenate(targets, 0), list(metas)
