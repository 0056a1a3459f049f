"""Training targets made up for timing a step: valid boxes inside the image, the same for every framework."""
from __future__ import annotations

import numpy as np


def synthetic_targets(batch: int, num_classes: int, boxes_per_image: int = 3, seed: int = 0) -> np.ndarray:
    """Valid training targets (n, 6) [img_idx, cls, cx, cy, w, h], normalised, inside the image."""
    rng = np.random.default_rng(seed)
    n = batch * boxes_per_image
    return np.stack([np.repeat(np.arange(batch), boxes_per_image), rng.integers(0, num_classes, n),
                     rng.uniform(0.3, 0.7, n), rng.uniform(0.3, 0.7, n), rng.uniform(0.1, 0.5, n),
                     rng.uniform(0.1, 0.5, n)], axis=1).astype(np.float64)
