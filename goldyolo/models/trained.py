"""Models rebuilt from what training wrote: a checkpoint's model (its EMA by default) and the distillation
teacher; above :mod:`goldyolo.models.checkpoint` (files and state dicts) and :mod:`goldyolo.models.yolo`."""
from __future__ import annotations

import os
from pathlib import Path

from jittor import nn

from ..config import get_config
from ..errors import InputError
from .checkpoint import CHECKPOINT_FORMAT, StateDictError, load_state_dict_strict, read_checkpoint, read_state_dict
from .head import plain_head_state
from .yolo import build_model


def model_from_checkpoint(state: dict, use_ema: bool = True, source: str = "checkpoint"):
    """The model a training checkpoint holds (its EMA weights by default); ``source`` names it in errors."""
    if not (isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT):
        raise InputError(f"{source}: not a goldyolo training checkpoint; for converted weights use load_weights")
    config = state["config"]
    model = build_model(config["model"], num_classes=len(state["names"]),
                        distill_ns=bool(config.get("distill")) and is_distill_ns(config["model"]),
                        use_dfl=config.get("use_dfl"), reg_max=config.get("reg_max"))
    weights = state["ema" if use_ema else "model"]
    if config.get("fuse_ab"):  # inference runs the anchor-free branch alone, under the plain names
        weights = plain_head_state(weights)
    load_state_dict_strict(model, weights)
    return model


def is_distill_ns(model: str) -> bool:
    """Whether ``model`` distils through the N/S student head (the official ``distill_ns`` list)."""
    return get_config(model).name in ("gold_yolo-n", "gold_yolo-s")


def load_teacher(teacher: nn.Module, path: str | os.PathLike) -> nn.Module:
    """The distillation teacher's weights: the EMA of a goldyolo ``--fuse-ab`` training checkpoint, or a weights
    file with the anchor-aided head's names (the official teacher loads whatever names and shapes match and
    leaves the rest at their initial values without a word; here any mismatch is refused)."""
    state = read_checkpoint(path) if Path(path).suffix != ".npz" else None  # an .npz holds arrays only
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        if not state["config"].get("fuse_ab"):
            raise InputError(f"{path}: the teacher must be a --fuse-ab run (step 1 of the official recipe); this "
                             "checkpoint was trained without it")
        weights = state["ema"]
    else:
        weights = read_state_dict(path)
    try:
        load_state_dict_strict(teacher, weights)
    except StateDictError as err:
        raise StateDictError(f"{path} does not fit the teacher (the model with the anchor-aided head, "
                             f"--use-dfl/--reg-max as the student's): {err}") from None
    return teacher


def load_trained_model(path: str | Path, use_ema: bool = True):
    """(model, checkpoint state) from a training checkpoint file."""
    state = read_checkpoint(path)
    return model_from_checkpoint(state, use_ema, source=str(path)), state
