"""COCO-format data: reading and checking (coco), augmentation (augment), the loader (dataset)."""
from .coco import CocoSource, DataReport, ImageRecord
from .dataset import DetectionDataset

__all__ = ["CocoSource", "DataReport", "DetectionDataset", "ImageRecord"]
