"""What a training pipeline hands to the loss, sample by sample (``compare-data``): used on both sides, by goldyolo's
process and by the official trainer's child (numpy only)."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np


def sample_records(draw: Callable[[int, int], Tuple[np.ndarray, np.ndarray, str]], count: int,
                   passes: int) -> Dict[str, np.ndarray]:
    """Per sample (pass, index): its file name, image statistics and boxes.

    Args:
        draw: (pass, index) -> (image (3, H, W) uint8 RGB, boxes (n, 5) [cls, cx, cy, w, h] normalised, name).
    Returns:
        ``names`` (k,), ``image_stats`` (k, 7) [mean R, G, B, std R, G, B, gray share (padding)], ``box_counts`` (k,),
        ``boxes`` (sum of counts, 5), ``size`` (k, 2) [H, W].
    """
    names, stats, counts, boxes, sizes = [], [], [], [], []
    for pass_index in range(passes):
        for index in range(count):
            image, labels, name = draw(pass_index, index)
            pixels = image.reshape(3, -1).astype(np.float64)
            # padding is gray (114, shifted by the HSV value gain), and gray stays gray under the HSV gains
            padding = float(((image[0] == image[1]) & (image[1] == image[2])).mean())
            names.append(name)
            stats.append([*pixels.mean(1), *pixels.std(1), padding])
            counts.append(len(labels))
            boxes.append(np.asarray(labels, np.float64).reshape(-1, 5))
            sizes.append(image.shape[1:])
    return {"names": np.array(names), "image_stats": np.array(stats), "box_counts": np.array(counts),
            "boxes": np.concatenate(boxes, 0), "size": np.array(sizes)}
