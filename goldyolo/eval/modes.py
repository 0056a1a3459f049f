"""The official evaluator's modes: how test images become inputs and boxes go back.

* ``square`` (goldyolo's default, and its trainer's): every image loaded at ``img_size`` and letterboxed
  to a square; the official ``tools/eval.py --not_infer_on_rect`` at ``--test_load_size`` = ``img_size``.
* ``rect`` (the official ``tools/eval.py`` default): aspect-ratio batches padded by half a stride
  (:func:`~goldyolo.data.dataset.rect_batches`; the long side can exceed ``img_size``: 672 at 640),
  images loaded at ``test_load_size`` (640 whatever ``img_size`` is, as the official default).
* ``reproduce_640`` (``--reproduce_640_eval``): square inputs, images loaded at the profile's
  ``test_load_size``, the integer pad and each axis' own gain. The profile is chosen, as the official
  ``tools/eval.py`` does, by the exact stem of the weights file name (``Gold_n_dist.pt`` -> 636), any
  other name taking ``default`` (638); ``eval_profile`` names one explicitly. Score threshold 0.03 and
  IoU 0.65 are forced, as there.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict

from ..errors import InputError

# configs/experiment/eval_640_repro.py: the load size of each released weights file
REPRO_640_LOAD_SIZE = {"default": 638, "yolov6n": 636, "yolov6t": 634, "yolov6s": 634, "yolov6m": 636,
                       "yolov6l": 636, "Gold_n_dist": 636, "Gold_s_pre_dist": 634, "Gold_m_pre_dist": 636,
                       "Gold_l_pre_dist": 636}
OFFICIAL_LOAD_SIZE = 640  # tools/eval.py's --test_load_size default


@dataclass
class EvalMode:
    """The dataset options of one mode (see :class:`~goldyolo.data.dataset.DetectionDataset`)."""
    name: str = "square"
    rect: bool = False
    pad: float = 0.5
    load_size: int = 0  # 0: img_size
    return_int: bool = False
    exact_scale: bool = False
    profile: str = ""

    def dataset_options(self) -> Dict:
        options = asdict(self)
        for key in ("name", "profile"):
            options.pop(key)
        return options


def eval_mode(weights: str = "", rect: bool = False, reproduce_640_eval: bool = False, eval_profile: str = "",
              test_load_size: int = 0, force_no_pad: bool = False) -> EvalMode:
    """The mode the ``eval`` options ask for (official flag names in the module docstring)."""
    if rect and reproduce_640_eval:
        raise InputError("--rect and --reproduce-640-eval exclude each other (the latter evaluates square inputs)")
    if eval_profile and not reproduce_640_eval:
        raise InputError("--eval-profile chooses a --reproduce-640-eval profile: give that option too")
    if reproduce_640_eval:
        profile = eval_profile or Path(weights).stem
        if eval_profile and eval_profile not in REPRO_640_LOAD_SIZE:
            raise InputError(f"--eval-profile {eval_profile!r} is not one of {sorted(REPRO_640_LOAD_SIZE)}")
        profile = profile if profile in REPRO_640_LOAD_SIZE else "default"
        return EvalMode("reproduce_640", load_size=REPRO_640_LOAD_SIZE[profile], return_int=True,
                        exact_scale=True, profile=profile)
    if rect:
        return EvalMode("rect", rect=True, pad=0.0 if force_no_pad else 0.5,
                        load_size=test_load_size or OFFICIAL_LOAD_SIZE)
    return EvalMode("square", load_size=test_load_size)
