"""goldyolo: the Gold-YOLO detector (NeurIPS 2023) re-implemented in Jittor.

Importing the package prepares Jittor (oneDNN on the CPU, CPU fallback without a CUDA driver;
see :mod:`goldyolo.runtime`).
"""
from .runtime import jt  # noqa: F401  (first: prepares the environment Jittor imports into)

from .checkpoint import StateDictError, UnsafeCheckpointError, load_state_dict_strict, load_weights, save_weights
from .config import CONFIGS, ModelConfig, get_config
from .fuse import fuse
from .info import ModelInfo, model_info
from .models import GoldYOLO, build_model, set_drop_path
from .official import load_official_checkpoint

__version__ = "0.1.0"

__all__ = [
    "CONFIGS", "GoldYOLO", "ModelConfig", "ModelInfo", "StateDictError", "UnsafeCheckpointError",
    "build_model", "fuse", "get_config", "load_official_checkpoint", "load_state_dict_strict",
    "load_weights", "model_info", "save_weights", "set_drop_path",
]
