"""Data: COCO json reading and checks (coco), augmentation (augment), the loader (dataset), the
study's split (split), the committed sample (sample) and the COCO download (download)."""
from .coco import CocoSource, DataReport, ImageRecord

__all__ = ["CocoSource", "DataReport", "DetectionDataset", "ImageRecord"]


def __getattr__(name: str):
    """``DetectionDataset`` loads Jittor, so it is imported on first use."""
    if name == "DetectionDataset":
        from .dataset import DetectionDataset
        return DetectionDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
