"""Table styling shared by the notebooks: cells that must not wrap on the printed page."""
from __future__ import annotations

from typing import Optional, Sequence

import pandas as pd

# the report's print CSS keeps cells with this class on one line (others wrap to fit the page)
NOWRAP_CLASS = "nowrap"


def model_label(name: str) -> str:
    """``gold_yolo-n`` as the document names it: ``Gold-YOLO-N``."""
    return "Gold-YOLO-" + name.rsplit("-", 1)[-1].upper()


def nowrap(styler, columns: Optional[Sequence[str]] = None):
    """``styler`` with the cells of ``columns`` (all when None) kept on one line: numbers such as ``9.2e-05`` or
    names such as ``Gold-YOLO-N`` otherwise break at their hyphens when a table shrinks to the page."""
    data = styler.data
    chosen = list(data.columns) if columns is None else [c for c in columns if c in data.columns]
    classes = pd.DataFrame("", index=data.index, columns=data.columns)
    classes[chosen] = NOWRAP_CLASS
    return styler.set_td_classes(classes)
