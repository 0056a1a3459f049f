"""The official loss: parity with ``parity_{n,s}.npz`` and with the official code on unseen batches,
edge cases, and the assigners on hand-built cases."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from goldyolo.engine.assigners import ATSSAssigner, TaskAlignedAssigner
from goldyolo.engine.loss import ComputeLoss, pad_targets
from goldyolo.runtime import jt

from conftest import FIXTURES

sys.path.insert(0, str(FIXTURES))
from make_official_fixtures import LOSS_CASES, synthetic_head_outputs  # noqa: E402

CONFIG = {"n": dict(use_dfl=False, reg_max=0, iou_type="siou"), "s": dict(use_dfl=True, reg_max=16, iou_type="giou")}
REL = 1e-4


def run_loss(ref, size, warmup_epoch):
    feats = [jt.array(ref[f"feat{i}"]) for i in range(3)]
    cls, reg = jt.array(ref["train_cls"]), jt.array(ref["train_reg"])
    loss_fn = ComputeLoss(num_classes=80, ori_img_size=320, warmup_epoch=warmup_epoch, **CONFIG[size])
    loss, items = loss_fn((feats, cls, reg), ref["targets"], 0, 1)
    grad_cls, grad_reg = jt.grad(loss, [cls, reg])
    assignment, _, _ = loss_fn.assign((feats, cls, reg), ref["targets"], 0)
    return loss, items, grad_cls.numpy(), grad_reg.numpy(), assignment


@pytest.mark.parametrize("size", ["n", "s"])
@pytest.mark.parametrize("prefix,warmup", [("", 0), ("atss_", 4)])
def test_loss_matches_official(size, prefix, warmup, parity):
    ref = parity(size)
    loss, items, grad_cls, grad_reg, assignment = run_loss(ref, size, warmup)
    assert float(loss) == pytest.approx(float(ref[prefix + "loss"]), rel=REL)
    np.testing.assert_allclose(items.numpy(), ref[prefix + "loss_items"], rtol=REL, atol=1e-7)
    assert assignment.num_fg == int(ref[prefix + "num_fg"])
    assert list(assignment.fg_mask.sum(1)) == list(ref[prefix + "num_fg_per_image"])
    np.testing.assert_array_equal(assignment.fg_mask, ref[prefix + "fg_mask"].astype(bool))
    np.testing.assert_array_equal(assignment.target_labels, ref[prefix + "target_labels"])
    np.testing.assert_allclose(assignment.target_scores.max(-1), ref[prefix + "target_score_value"], atol=1e-5)
    assert assignment.target_scores_sum == pytest.approx(float(ref[prefix + "target_scores_sum"]), rel=REL)
    for name, grad in (("cls", grad_cls), ("reg", grad_reg)):
        if (size, prefix) != ("s", "atss_"):  # the reference stores S's ATSS gradients as stats only (its README)
            expected = ref[f"{prefix}grad_{name}"]
            assert np.abs(grad - expected).max() <= 1e-4 * np.abs(expected).max(), name
        stats = [np.abs(grad).sum(), np.sqrt((grad.astype(np.float64) ** 2).sum()), np.abs(grad).max()]
        np.testing.assert_allclose(stats, ref[f"{prefix}grad_{name}_stats"], rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_loss_on_unseen_batches_matches_official(case, official_outputs):
    batch, h, w, use_dfl, iou_type, warmup = LOSS_CASES[case]
    feats, cls, reg = synthetic_head_outputs(batch, h, w, 68 if use_dfl else 4)
    cls_v, reg_v = jt.array(cls), jt.array(reg)
    targets = official_outputs["loss_targets"][official_outputs["loss_targets"][:, 0] < batch]
    loss_fn = ComputeLoss(num_classes=80, ori_img_size=h, warmup_epoch=warmup, use_dfl=use_dfl,
                          reg_max=16 if use_dfl else 0, iou_type=iou_type)
    loss, items = loss_fn(([jt.array(f) for f in feats], cls_v, reg_v), targets, 0, 1)
    assert float(loss) == pytest.approx(float(official_outputs[f"loss_{case}_value"]), rel=REL)
    np.testing.assert_allclose(items.numpy(), official_outputs[f"loss_{case}_items"], rtol=REL, atol=1e-7)
    grad_cls, grad_reg = jt.grad(loss, [cls_v, reg_v])
    assert np.abs(grad_cls.numpy()).sum() == pytest.approx(
        float(official_outputs[f"loss_{case}_grad_cls_abs_sum"]), rel=1e-4)
    assert np.abs(grad_reg.numpy()).sum() == pytest.approx(
        float(official_outputs[f"loss_{case}_grad_reg_abs_sum"]), rel=1e-4)


@pytest.mark.parametrize("size", ["n", "s"])
@pytest.mark.parametrize("targets", [
    np.zeros((0, 6)),                                                          # no boxes at all
    np.array([[0, 5, 0.5, 0.5, 0.4, 0.3]]),                                    # one box
    np.array([[0, 1, 0.0005, 0.5, 0.001, 0.4], [1, 2, 0.999, 0.999, 0.002, 0.002]]),  # border
    np.array([[0, 3, 0.3, 0.3, 1e-4, 1e-4], [1, 4, 0.6, 0.6, 0.003, 0.001]]),  # tiny
])
def test_loss_is_finite_on_edge_cases(size, targets, parity):
    ref = parity(size)
    feats = [jt.array(ref[f"feat{i}"]) for i in range(3)]
    cls, reg = jt.array(ref["train_cls"]), jt.array(ref["train_reg"])
    loss, items = ComputeLoss(num_classes=80, ori_img_size=320, warmup_epoch=0, **CONFIG[size])(
        (feats, cls, reg), targets, 0, 1)
    grads = jt.grad(loss, [cls, reg])
    assert np.isfinite(float(loss)) and np.all(np.isfinite(items.numpy()))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    if len(targets) == 0:
        assert items.numpy()[0] == 0 and items.numpy()[1] == 0 and items.numpy()[2] > 0


def test_pad_targets_layout():
    targets = np.array([[1, 7, 0.5, 0.5, 0.5, 0.25]])
    padded = pad_targets(targets, batch_size=2, img_size=100)
    assert padded.shape == (2, 1, 5)
    np.testing.assert_allclose(padded[0, 0], [-1, 0, 0, 0, 0])
    np.testing.assert_allclose(padded[1, 0], [7, 25, 37.5, 75, 62.5])


def _one_image(gt_box, label=2):
    return (np.array([[[label]]], np.float64), np.array([[gt_box]], np.float64), np.ones((1, 1, 1)))


def test_tal_picks_top_k_inside_the_box_by_alignment():
    # 1-D row of 6 anchors at x = 4..44 (stride 8); the gt covers x in (10, 38): anchors 1..4 inside.
    points = np.array([[4.0 + 8 * i, 4.0] for i in range(6)], np.float32)
    scores = np.full((1, 6, 3), 0.1, np.float32)
    scores[0, :, 2] = [0.9, 0.2, 0.9, 0.5, 0.4, 0.9]
    boxes = np.array([[[x - 12, -10, x + 12, 18] for x, _ in points]], np.float32)
    labels, gt, mask = _one_image([10, -6, 38, 14])
    out_labels, out_boxes, out_scores, fg = TaskAlignedAssigner(topk=2, num_classes=3)(
        scores, boxes, points, labels, gt, mask)
    # Anchor 0 and 5 have high scores but lie outside; inside, anchors 2 and 3 align best.
    assert list(np.flatnonzero(fg[0])) == [2, 3]
    assert set(out_labels[0][fg[0]]) == {2}
    assert out_scores[0, 2, 2] == pytest.approx(out_scores[0, :, 2].max())
    np.testing.assert_allclose(out_boxes[0, 2], [10, -6, 38, 14])


def test_tal_resolves_an_anchor_claimed_by_two_boxes_by_iou():
    points = np.array([[20.0, 20.0]], np.float32)
    scores = np.full((1, 1, 2), 0.5, np.float32)
    boxes = np.array([[[10, 10, 30, 30]]], np.float32)
    labels = np.array([[[0], [1]]], np.float64)
    gt = np.array([[[0, 0, 40, 40], [9, 9, 31, 31]]], np.float64)  # the second overlaps the prediction more
    out_labels, _, _, fg = TaskAlignedAssigner(topk=1, num_classes=2)(
        scores, boxes, points, labels, gt, np.ones((1, 2, 1)))
    assert fg[0, 0] and out_labels[0, 0] == 1


def test_atss_threshold_is_mean_plus_unbiased_std():
    # One level of 4 anchor boxes; the gt matches anchor 1 exactly.
    anchors = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 30, 10], [30, 0, 40, 10]], np.float32)
    labels, gt, mask = _one_image([10, 0, 20, 10], label=0)
    out_labels, _, scores, fg = ATSSAssigner(topk=3, num_classes=1)(anchors, [4], labels, gt, mask, None)
    # Candidates (3 nearest) have IoUs 1, 0, 0: threshold 1/3 + std([1,0,0]) = 0.91; only anchor 1 passes.
    assert list(np.flatnonzero(fg[0])) == [1]
    assert out_labels[0, 1] == 0 and out_labels[0, 0] == 1  # background index is num_classes
    assert scores[0, 1, 0] == 1.0


@pytest.mark.slow
def test_parameter_gradients_through_the_network(reference_weights, parity, official_outputs):
    """Backward of the N parity loss through the whole training-mode network (about a minute)."""
    from goldyolo import set_drop_path

    from conftest import model_with_reference_weights
    ref = parity("n")
    model = model_with_reference_weights(reference_weights, "n").train()
    set_drop_path(model, False)
    loss, _ = ComputeLoss(num_classes=80, ori_img_size=320, warmup_epoch=0, **CONFIG["n"])(
        model(jt.array(ref["input"])), ref["targets"], 0, 1)
    names = [str(n) for n in ref["param_grad_names"]]
    state = model.state_dict()
    grads = jt.grad(loss, [state[n] for n in names])
    norms = np.array([np.sqrt((g.numpy().astype(np.float64) ** 2).sum()) for g in grads])
    exact = official_outputs["n_parity_param_grad_norms_f64"]
    stored = ref["param_grad_norms"]   # the official float32 run
    checked = exact > 1e-6 * exact.max()  # exact-zero gradients are pure rounding noise (README)
    # The README's rule: within 5e-3 of the official float32 norms.
    assert (np.abs(norms - stored)[checked] / stored[checked]).max() <= 5e-3
    # Against the exact (float64) norms: within 5e-3, or no further off than the official float32 run is
    # (its worst, 6.6e-3, is the first transformer block's attention BN, where ours is 5.4e-3).
    ours, official_f32 = np.abs(norms - exact) / exact, np.abs(stored - exact) / exact
    assert (ours[checked] <= np.maximum(5e-3, official_f32[checked])).all()


def test_dfl_decode_is_the_expectation_over_bins():
    loss_fn = ComputeLoss(num_classes=80, use_dfl=True, reg_max=16)
    logits = np.full((1, 2, 4, 17), -30.0, np.float32)
    logits[0, 0, [0, 1, 2, 3], [2, 5, 0, 16]] = 30.0          # one-hot bins: distances 2, 5, 0, 16
    logits[0, 1, :, 3] = logits[0, 1, :, 4] = 0.0             # two equal bins: distance 3.5
    points = jt.array(np.array([[10.0, 10.0], [4.0, 6.0]], np.float32))
    boxes = loss_fn.bbox_decode(points, jt.array(logits.reshape(1, 2, 68))).numpy()
    np.testing.assert_allclose(boxes[0, 0], [8, 5, 10, 26], atol=1e-4)        # x1=x-l, y1=y-t, x2=x+r, y2=y+b
    np.testing.assert_allclose(boxes[0, 1], [0.5, 2.5, 7.5, 9.5], atol=1e-4)
    plain = ComputeLoss(num_classes=80, use_dfl=False, reg_max=0)
    raw = plain.bbox_decode(points, jt.array(np.array([[[1, 2, 3, 4], [0, 0, 0, 0]]], np.float32))).numpy()
    np.testing.assert_allclose(raw[0], [[9, 8, 13, 14], [4, 6, 4, 6]])


@pytest.mark.parametrize("name", ["gold_yolo-n", "gold_yolo-s"])
def test_loss_for_a_model_takes_its_config(name):
    from goldyolo.config import get_config
    cfg = get_config(name)
    loss = ComputeLoss.for_model(cfg, 3, 320)
    assert (loss.fpn_strides, loss.num_classes, loss.ori_img_size) == (list(cfg.strides), 3, 320)
    assert (loss.warmup_epoch, loss.use_dfl, loss.reg_max, loss.iou_type) == (
        cfg.atss_warmup_epoch, cfg.use_dfl, cfg.reg_max, cfg.iou_type)
