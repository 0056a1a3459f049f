"""Per-size configuration values after depth and width scaling."""
from __future__ import annotations

import pytest

from goldyolo import get_config


def test_scaled_channels_and_repeats():
    n = get_config("gold_yolo-n")
    assert n.channels == [16, 32, 64, 128, 256, 64, 32, 32, 64, 64, 128]
    assert n.num_repeats == [1, 2, 4, 6, 2, 4, 4, 4, 4]
    m = get_config("gold_yolo-m")
    assert m.channels == [48, 96, 192, 384, 768, 192, 96, 96, 192, 192, 384]
    assert m.num_repeats == [1, 4, 7, 11, 4, 7, 7, 7, 7]
    large = get_config("gold_yolo-l")
    assert (large.training_mode, large.neck, large.neck_extra.depths, large.neck_extra.num_heads) == (
        "conv_silu", "GDNeck2", 3, 8)


def test_head_settings():
    assert (get_config("gold_yolo-n").use_dfl, get_config("gold_yolo-n").iou_type) == (False, "siou")
    assert all(get_config(f"gold_yolo-{s}").reg_max == 16 for s in "sml")


@pytest.mark.parametrize("alias", ["gold_yolo-s", "Gold-YOLO-S", "gold-yolo-s"])
def test_aliases(alias):
    assert get_config(alias).name == "gold_yolo-s"


def test_unknown_name_lists_choices():
    with pytest.raises(KeyError, match="gold_yolo-n, gold_yolo-s, gold_yolo-m, gold_yolo-l"):
        get_config("yolov6-s")
