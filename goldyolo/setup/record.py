"""What ``setup cuda`` chose for this machine (``~/.cache/goldyolo/cuda.json``), read and applied before Jittor
loads; standard library only, so that :mod:`goldyolo.runtime` can use it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional


def goldyolo_cache() -> Path:
    return Path(os.environ.get("GOLDYOLO_CACHE", Path.home() / ".cache" / "goldyolo"))


def setup_record() -> Optional[Dict]:
    """``cuda.json`` written by ``setup cuda``, or None."""
    path = goldyolo_cache() / "cuda.json"
    return json.loads(path.read_text()) if path.is_file() else None


def apply_record(record: Dict, environ=os.environ) -> None:
    """The environment ``setup cuda`` chose (variables already set are kept)."""
    environ.setdefault("nvcc_path", record["nvcc_path"])
    for key, value in record["environment"].items():
        environ.setdefault(key, value)
