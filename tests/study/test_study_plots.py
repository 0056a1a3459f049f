"""The report's figures (``goldyolo_study.plots``) draw what they are given."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from goldyolo.data import CocoSource, ImageRecord  # noqa: E402
from goldyolo_study import plots  # noqa: E402
from goldyolo_study.anomaly_tables import SHUFFLED, TRUE  # noqa: E402

from conftest import SAMPLE


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines_of(ax):
    """Label -> y values of the labelled lines (reference lines such as axhline have no label)."""
    return {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def test_category_bars_and_box_sizes():
    boxes = pd.DataFrame({"split": ["train", "train", "test"], "category": ["cat", "dog", "cat"],
                          "area": [100.0, 400.0, 2500.0], "w": [10, 20, 50], "h": [10, 20, 50]})
    counts = boxes.groupby(["category", "split"]).size().unstack(fill_value=0)
    fig = plots.category_bars(counts)
    assert sorted(p.get_width() for p in fig.axes[0].patches) == [0, 1, 1, 1]  # horizontal bars
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[0].get_xlabel() == "boxes"
    wide = pd.DataFrame({"test": [1, 300], "train": [2, 900]}, index=["cat", "person"])
    assert plots.category_bars(wide).axes[0].get_xscale() == "log"
    many = pd.DataFrame({"train": range(80, 0, -1), "test": range(40, -40, -1)}, index=[f"c{i}" for i in range(80)])
    many["test"] = many["test"].clip(lower=1)
    fig = plots.category_bars(many)  # 80 categories: four columns of 20, every name a tick label
    assert [len(ax.get_yticklabels()) for ax in fig.axes] == [20] * 4
    assert fig.axes[0].get_yticklabels()[-1].get_text() == "c0"  # most boxes at the top
    fig = plots.box_sizes(boxes)
    assert len(fig.axes[1].collections[0].get_offsets()) == 3
    assert fig.axes[0].get_xlabel() == "sqrt(area) (pixels)"


def test_labelled_images_draw_every_box():
    source = CocoSource(SAMPLE / "test.json", SAMPLE / "images")
    fig = plots.labelled_images(source, 6)
    for ax, record in zip(fig.axes, source.records[:6]):
        count = len(record.labels)
        assert ax.get_title() == f"{record.path.name} ({count} box{'' if count == 1 else 'es'})"
        assert len(ax.patches) == count
        names = iter(source.names[int(c)] for c in record.labels[:, 0])
        texts = [t.get_text() for t in ax.texts]  # in box order, those that cover no other
        assert all(text in names for text in texts) and (len(texts) > 0) == (count > 0)


def test_a_label_never_covers_another_or_leaves_the_image():
    placed = []
    # at the top edge the label goes below the box; the next box's label, where both would cover it, is left out
    assert plots._label_spot("person", (10, 0, 60, 40), placed, (640, 480)) == (10, 40, False)
    assert plots._label_spot("person", (12, 1, 60, 42), placed, (640, 480)) is None
    # the same label is larger in pixels on a portrait image (drawn narrower): it covers more of it
    wide, tall = [], []
    plots._label_spot("dog", (100, 200, 150, 250), wide, (640, 480))
    plots._label_spot("dog", (100, 200, 150, 250), tall, (480, 640))
    assert (tall[0][2] - tall[0][0]) > 1.3 * (wide[0][2] - wide[0][0])


def runs(loss, shuffled_loss, **columns):
    return {TRUE: pd.DataFrame(dict(step=range(len(loss)), loss=loss, **columns)),
            SHUFFLED: pd.DataFrame(dict(step=range(len(loss)), loss=shuffled_loss, **columns))}


def test_anomaly_curves():
    fig = plots.fixed_target_curves(runs([0.9, 0.1], [0.9, 0.1]))
    assert lines_of(fig.axes[0]) == {TRUE: [0.9, 0.1], SHUFFLED: [0.9, 0.1]}
    assert [t.get_text() for t in fig.axes[0].texts] == ["original: 0.85 ", "original: 0.01 "]
    parts = dict(reg=[0.0, 0.0], cls=[0.8, 0.7], obj=[0.5, 0.1], noobj=[0.4, 0.02], num_pos=[0, 0])
    fig = plots.synthetic_target_curves(runs([2.5, 0.8], [2.5, 0.8], **parts))
    assert lines_of(fig.axes[0]) == {f"total, {TRUE}": [2.5, 0.8], f"total, {SHUFFLED}": [2.5, 0.8]}
    # the all-zero reg would lie on the axis: the legend says it instead of an unseen line
    assert lines_of(fig.axes[1]) == {"reg: 0 at every step": [], **{k: parts[k] for k in ("cls", "obj", "noobj")}}
    assert [t.get_text() for t in fig.axes[0].texts] == ["original: 2.48 ", "original: 0.78 "]
    assert "→" in fig.axes[0].get_title()
    assert fig.axes[1].get_ylim()[0] == 0  # no negative ticks on a loss axis
    labels = {t.get_text().strip(): t.get_va() for t in fig.axes[1].texts}
    assert labels == {"ln 2: best constant answer": "bottom", "0.5: every target reproduced": "top"}
    fig = plots.real_loss_curves(runs([3.0, 2.0], [3.0, 2.9], iou=[1.0, 0.5], dfl=[0.0, 0.0], cls=[2.0, 1.5],
                                      num_pos=[10, 12]))
    assert lines_of(fig.axes[0]) == {TRUE: [3.0, 2.0], SHUFFLED: [3.0, 2.9]}
    assert lines_of(fig.axes[1]) == {"iou": [1.0, 0.5], "cls": [2.0, 1.5]}  # the all-zero DFL is left out
    assert lines_of(fig.axes[2]) == {TRUE: [10, 12], SHUFFLED: [10, 12]}


def test_training_curves():
    history = pd.DataFrame({"epoch": [0, 1], "loss": [3.0, 2.0], "iou_loss": [1.0, 0.8], "dfl_loss": [0.0, 0.0],
                            "cls_loss": [2.0, 1.2], "lr": [[0.1, 0.1, 0.2], [0.05, 0.05, 0.1]], "AP50": [0.01, 0.02],
                            "AP": [0.005, 0.01], "time_s": [60.0, 70.0]})
    fig = plots.training_curves(history, "test.json")
    assert lines_of(fig.axes[0]) == {"total": [3.0, 2.0], "IoU loss": [1.0, 0.8], "class loss": [2.0, 1.2]}
    # groups on one schedule share a line: every line is seen, every group named
    assert lines_of(fig.axes[1]) == {"batch-norm weights = conv weights": [0.1, 0.05], "biases": [0.2, 0.1]}
    assert fig.axes[2].get_title() == "COCO AP on test.json (EMA weights)"
    assert [p.get_height() for p in fig.axes[3].patches] == [60.0, 70.0]


def test_per_class_and_pr():
    metrics = {"per_class_AP": {f"c{i}": i / 100 for i in range(40)},
               "pr_curve": {"recall": [0.0, 1.0], "IoU=0.50": [1.0, 0.2], "IoU=0.50:0.95": [0.5, 0.1]}}
    fig = plots.per_class_and_pr(metrics)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert len(heights) == 30 and heights[0] == 0.39 and heights[-1] == 0.10
    assert fig.axes[0].get_title() == "per-class AP, the 30 best of 40 classes"
    assert lines_of(fig.axes[1]) == {"IoU=0.50": [1.0, 0.2], "IoU=0.50:0.95": [0.5, 0.1]}
    fig = plots.per_class_and_pr(dict(metrics, per_class_AP={f"c{i}": max(0, i - 30) / 100 for i in range(40)}))
    assert len(fig.axes[0].patches) == 9  # the nine above 0
    assert fig.axes[0].get_title() == "per-class AP: 9 of 40 classes above 0, the others at 0"
    fig = plots.per_class_and_pr({"per_class_AP": {}})
    assert fig.axes[0].texts[0].get_text() == "no detections above the confidence threshold"
    fig = plots.per_class_and_pr({"per_class_AP": {"person": 0.1093}, "pr_curve": metrics["pr_curve"]})
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "precision-recall of person (AP 0.1093)"
    assert lines_of(fig.axes[0]) == {"IoU=0.50": [1.0, 0.2], "IoU=0.50:0.95": [0.5, 0.1]}


def test_detections_draw_predictions_over_labelled_boxes_with_a_legend():
    record = ImageRecord(1, Path("a.jpg"), 64, 32, np.array([[0, 0.5, 0.5, 0.5, 0.5]], dtype=np.float32))
    det = np.array([[4, 4, 20, 20, 0.9, 0], [30, 2, 60, 30, 0.5, 1]], dtype=np.float32)
    fig = plots.detections([record], [(np.zeros((32, 64, 3), np.uint8), det)], ["cat", "dog"], 0.1)
    ax = fig.axes[0]
    assert len(fig.axes) == 2 and ax.get_title() == "a.jpg: 2 predictions"
    truth, first, second = ax.patches
    assert (truth.get_x(), truth.get_y(), truth.get_width(), truth.get_height()) == (16.0, 8.0, 32.0, 16.0)
    assert (first.get_x(), first.get_y(), first.get_width()) == (4.0, 4.0, 16.0)
    assert [t.get_text() for t in ax.texts] == ["cat 0.90", "dog 0.50"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["prediction (score ≥ 0.1, at most 10 per image; a label is left out where it would cover "
                      "another)", "ground truth"]
    fig = plots.detections([record], [(np.zeros((32, 64, 3), np.uint8), det)], ["cat", "dog"], 0.1, top=1)
    assert fig.axes[0].get_title() == "a.jpg: 2 predictions, the 1 best drawn"
    assert [t.get_text() for t in fig.axes[0].texts] == ["cat 0.90"]


def test_detection_labels_do_not_cover_each_other():
    record = ImageRecord(1, Path("a.jpg"), 640, 480, np.zeros((0, 5), dtype=np.float32))
    same = [[100, 100, 200, 200, 0.9 - 0.1 * i, 0] for i in range(3)]  # three boxes, one corner
    fig = plots.detections([record], [(np.zeros((480, 640, 3), np.uint8), np.array(same, np.float32))], ["cat"], 0.1)
    texts = fig.axes[0].texts
    assert [t.get_text() for t in texts] == ["cat 0.90", "cat 0.80"]  # above, then below; the third left out
    assert [t.get_position() for t in texts] == [(100.0, 100.0), (100.0, 200.0)]
    assert [t.get_va() for t in texts] == ["bottom", "top"]
    assert len(fig.axes[0].patches) == 3  # every box is drawn
