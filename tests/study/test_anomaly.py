"""The rebuilt loss anomaly: labels never reach the two flawed losses, the real loss depends on them."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo.data import CocoSource
from goldyolo.runtime import jt
from goldyolo_study import anomaly

from conftest import SAMPLE


@pytest.fixture(scope="module")
def batch():
    source = CocoSource(SAMPLE / "train.json", SAMPLE / "images")
    source.records = source.records[:4]
    return anomaly.fixed_batch(source, 4, 64)


def test_shuffle_labels_moves_every_image_and_keeps_boxes():
    targets = np.array([[0, 1, .5, .5, .1, .1], [1, 2, .2, .2, .1, .1], [1, 3, .3, .3, .2, .2], [2, 4, .4, .4, .1, .1]],
                       dtype=np.float32)
    shuffled = anomaly.shuffle_labels(targets, 3, seed=1)
    assert sorted(map(tuple, shuffled[:, 1:].tolist())) == sorted(map(tuple, targets[:, 1:].tolist()))
    for row in targets:
        moved = shuffled[np.all(shuffled[:, 1:] == row[1:], axis=1)]
        assert moved[0, 0] != row[0]
    assert np.all(np.diff(shuffled[:, 0]) >= 0)
    with pytest.raises(ValueError, match="two images"):
        anomaly.shuffle_labels(targets[:1], 1)


def test_bce_matches_formula_and_stays_finite_at_0_and_1():
    p = jt.array(np.array([0.0, 0.25, 1.0], dtype=np.float32))
    value = anomaly.bce(p, 1.0)
    np.testing.assert_allclose(value.numpy(), [-np.log(anomaly.TINY), -np.log(0.25), 0.0], rtol=1e-5, atol=1e-6)
    assert np.isfinite(jt.grad(value.sum(), p).numpy()).all()


def test_fixed_target_loss_value_at_initialisation(batch):
    images, targets = batch
    rows = anomaly.run_curve("fixed_target", images, targets, steps=2)
    # zero prediction weights (official init): class scores 0.01, box outputs sigmoid(1); N has 80 + 4 outputs
    expected = (80 * 0.99 ** 2 + 4 * (1 - 1 / (1 + np.exp(-1.0))) ** 2) / 84
    assert rows[0]["loss"] == pytest.approx(expected, rel=1e-3)
    assert rows[1]["loss"] < rows[0]["loss"]


@pytest.mark.parametrize("kind", ["fixed_target", "synthetic_target"])
def test_flawed_losses_ignore_the_labels(kind, batch):
    images, targets = batch
    true = anomaly.run_curve(kind, images, targets, steps=3)
    shuffled = anomaly.run_curve(kind, images, targets, steps=3, shuffled=True)
    assert [r["loss"] for r in true] == [r["loss"] for r in shuffled]
    gradients = anomaly.output_gradients(kind, images, targets)
    assert gradients["scores whose gradient changes with shuffled labels"] == 0.0


def test_synthetic_loss_has_no_regression_and_cls_near_ln2_floor(batch):
    images, targets = batch
    row = anomaly.run_curve("synthetic_target", images, targets, steps=1)[0]
    assert row["reg"] == 0.0 and row["num_pos"] == 0
    assert row["loss"] == pytest.approx(row["reg"] + row["cls"] + row["obj"] + row["noobj"], rel=1e-5)
    assert row["obj"] == pytest.approx(-np.log(0.01), rel=1e-3)  # highest class score 0.01 at initialisation
    assert row["mean_class_score"] == pytest.approx(0.01, rel=0.05)  # the class prior of the head's bias


def test_real_loss_depends_on_the_labels(batch):
    images, targets = batch
    true = anomaly.run_curve("real", images, targets, steps=2)
    shuffled = anomaly.run_curve("real", images, targets, steps=2, shuffled=True)
    assert true[0]["num_pos"] > 0
    assert true[0]["loss"] != shuffled[0]["loss"]
    gradients = anomaly.output_gradients("real", images, targets)
    assert gradients["scores whose gradient changes with shuffled labels"] > 0.001
    assert gradients["scores pushed down"] > gradients["scores pushed up"]


def test_unknown_loss_and_optimizer_are_refused(batch):
    images, targets = batch
    with pytest.raises(ValueError, match="unknown loss"):
        anomaly.run_curve("made_up", images, targets, steps=1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        anomaly.run_curve("real", images, targets, steps=1, optimizer="lbfgs")


def test_official_agreement_on_parity_fixture(parity):
    rows = anomaly.official_agreement([("N", "gold_yolo-n", parity("n"))])
    assert rows[0]["relative difference"] < 1e-5
    assert rows[0]["goldyolo positives"] == rows[0]["official positives"]
