"""Gold-YOLO network modules."""
from .yolo import GoldYOLO, build_model, set_drop_path

__all__ = ["GoldYOLO", "build_model", "set_drop_path"]
