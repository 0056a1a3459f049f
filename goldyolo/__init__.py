"""goldyolo: the Gold-YOLO detector (NeurIPS 2023) re-implemented in Jittor.

``import goldyolo`` prepares the environment Jittor imports into (oneDNN on the CPU, the CPU
fallback without a CUDA driver; :mod:`goldyolo.runtime`) but does not load Jittor: the names below
load it, and their module, on first use.
"""
from __future__ import annotations

import importlib

from . import runtime as _runtime
from .errors import GoldYoloError, InputError

_runtime.prepare(strict=False)  # a missing oneDNN stops only what loads Jittor

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "jt": "goldyolo.runtime",
    "CONFIGS": "goldyolo.config", "ModelConfig": "goldyolo.config", "get_config": "goldyolo.config",
    "GoldYOLO": "goldyolo.models", "build_model": "goldyolo.models", "set_drop_path": "goldyolo.models",
    "fuse": "goldyolo.models.fuse", "ModelInfo": "goldyolo.models.info", "model_info": "goldyolo.models.info",
    "StateDictError": "goldyolo.models.checkpoint", "UnsafeCheckpointError": "goldyolo.models.checkpoint",
    "load_state_dict_strict": "goldyolo.models.checkpoint", "load_weights": "goldyolo.models.checkpoint",
    "save_weights": "goldyolo.models.checkpoint", "load_official_checkpoint": "goldyolo.models.official",
}

__all__ = [
    "CONFIGS", "GoldYOLO", "GoldYoloError", "InputError", "ModelConfig", "ModelInfo", "StateDictError",
    "UnsafeCheckpointError", "build_model", "fuse", "get_config", "jt", "load_official_checkpoint",
    "load_state_dict_strict", "load_weights", "model_info", "save_weights", "set_drop_path",
]


def __getattr__(name: str):
    """Load a public name's module on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'goldyolo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
