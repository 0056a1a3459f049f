"""The over-fit proof (slow): Gold-YOLO-N from scratch memorises 16 real images."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import need_reference

from goldyolo.engine.overfit import overfit_config, run_overfit

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "coco_subset"


@pytest.mark.slow
def test_overfit_reaches_ap50_half(tmp_path):
    need_reference()
    config = overfit_config(str(SUBSET / "instances.json"), str(SUBSET / "images"), str(tmp_path), epochs=400)
    summary = run_overfit(config)
    assert summary["final"]["AP50"] >= 0.5, summary["final"]
    assert summary["final"]["loss"] < 0.5 * 3.2  # the from-scratch loss starts near 3.2
    assert (tmp_path / "curves.png").is_file()
