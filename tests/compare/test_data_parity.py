"""Data parity: the statistics of what each training pipeline hands to the loss, and both pipelines over the
committed sample."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.compare.data_parity import DataParityConfig, compare, data_parity, sample_records, statistics
from goldyolo.compare.train_compare import portable_path

from conftest import OFFICIAL_CODE, SAMPLE


def fake_draw(pass_index, index):
    """A 3x8x8 image (half padding gray) and one or two boxes, the second at the left border."""
    image = np.zeros((3, 8, 8), np.uint8)
    image[:, :4] = 114
    image[0, 4:] = 200
    boxes = [[0, 0.5, 0.5, 0.25, 0.5]] + ([[1, 0.125, 0.5, 0.25, 0.25]] if index else [])
    return image, np.array(boxes), f"{index}.jpg"


def test_statistics_of_the_samples_and_their_comparison():
    records = sample_records(fake_draw, count=2, passes=2)
    assert records["names"].tolist() == ["0.jpg", "1.jpg"] * 2 and records["box_counts"].tolist() == [1, 2] * 2
    stats = statistics(records, img_size=8)
    assert stats["boxes per image"] == (1.5, pytest.approx(np.std([1, 2, 1, 2], ddof=1) / 2))
    assert stats["gray share (padding)"][0] == 0.5 and stats["mean R"][0] == pytest.approx((114 + 200) / 2)
    assert stats["box width (px)"][0] == pytest.approx(2.0) and stats["boxes clipped"][0] == pytest.approx(2 / 6)
    rows = compare(stats, dict(stats, **{"box width (px)": (3.0, 0.0)}))
    assert rows["boxes per image"]["z"] == 0.0 and rows["box width (px)"]["difference"] == pytest.approx(-1.0)


def test_records_keep_paths_that_mean_something_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert portable_path(tmp_path / "shared" / "x") == "../shared/x"
    assert portable_path("runs/a") == "runs/a"
    assert portable_path("/work/runs/pilot") == "OUTSIDE/pilot"  # far away: its name only
    assert portable_path("/") == "OUTSIDE"


@pytest.mark.needs_official_code
def test_both_pipelines_over_the_sample_hand_the_loss_alike(tmp_path):
    data_parity(DataParityConfig(torch_reference=str(OFFICIAL_CODE), data=str(SAMPLE / "train.json"),
                                 images=str(SAMPLE / "images"), img_size=96, passes=4, out=str(tmp_path)))
    result = json.loads((tmp_path / "data_parity.json").read_text())
    assert result["samples"] == 4 * 24
    rows = result["statistics"]
    # the same boxes survive the augmentation in both (24 images, 4 draws each: a broken conversion or
    # filter moves these by far more than the draws do)
    assert abs(rows["boxes per image"]["z"]) < 4 and abs(rows["box width (px)"]["z"]) < 4
    assert abs(rows["mean G"]["z"]) < 4 and abs(rows["gray share (padding)"]["z"]) < 4
    assert rows["boxes per image"]["goldyolo"] > 1
