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


def test_overfit_summary_keeps_paths_relative_and_draws_the_nonzero_losses(tmp_path):
    import json
    from pathlib import Path

    from goldyolo.engine.overfit import LOSS_LABELS

    from conftest import SAMPLE
    config = overfit_config(str(SAMPLE / "train.json"), str(SAMPLE / "images"), str(tmp_path / "run"), epochs=1,
                            images_used=2, img_size=64)
    summary = run_overfit(config)
    assert summary["config"]["data"] == str(Path("data") / "sample" / "train.json")  # the repository's path
    assert summary["config"]["out"] == str(Path("OUTSIDE") / "run")
    assert not any(str(value).startswith("/") for value in summary["config"].values())  # no machine paths
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["config"] == summary["config"]
    assert (tmp_path / "run" / "curves.png").is_file() and (tmp_path / "run" / "invocations.jsonl").is_file()
    assert list(LOSS_LABELS) == ["loss", "iou_loss", "cls_loss", "dfl_loss"]
