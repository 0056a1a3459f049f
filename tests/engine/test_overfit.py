"""The over-fit proof (slow): Gold-YOLO-N from scratch memorises 16 real images."""
from __future__ import annotations

import pytest

from goldyolo.engine.overfit import overfit_config, run_overfit

from conftest import COCO_SUBSET


@pytest.mark.slow
@pytest.mark.needs_coco_subset
def test_overfit_reaches_ap50_half(tmp_path):
    config = overfit_config(str(COCO_SUBSET / "instances.json"), str(COCO_SUBSET / "images"), str(tmp_path),
                            epochs=400)
    summary = run_overfit(config)
    assert summary["final"]["AP50"] >= 0.5, summary["final"]
    assert summary["final"]["loss"] < 0.5 * 3.2  # the from-scratch loss starts near 3.2
    assert (tmp_path / "curves.png").is_file()
