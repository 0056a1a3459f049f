"""Self-distillation losses against the official ``loss_distill_ns`` (N, S) and ``loss_distill`` (M, L) on the
made-up outputs of ``fixtures/make_distill_fixtures.py`` (fixture ``official_distill.npz``): loss, items and the
gradients with respect to the student's outputs and neck features."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from goldyolo.engine.distill import ComputeLossDistill, distill_decay
from goldyolo.runtime import jt

FIXTURES = Path(__file__).parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_distill_fixtures import CASES, IMG, NC, inputs  # noqa: E402

REL_TOL = 1e-4


@pytest.fixture(scope="module")
def official():
    with np.load(FIXTURES / "official_distill.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("case", sorted(CASES))
def test_distillation_loss_items_and_gradients_match_official(case, official):
    module, iou, weight, feat, epoch, epochs = CASES[case]
    ns = module.endswith("_ns")
    loss_fn = ComputeLossDistill(distill_weight=weight, temperature=20, distill_feat=feat, lrtb=ns, num_classes=NC,
                                 ori_img_size=IMG, warmup_epoch=0, use_dfl=True, reg_max=16, iou_type=iou)
    data = {k: jt.array(v) for k, v in inputs(int(official[f"{case}_seed"])).items()}
    feats = [data[f"feat{i}"] for i in range(3)]
    teacher_feats = [data[f"t_feat{i}"] for i in range(3)]
    student = (feats, data["scores"], data["distri"]) + ((data["lrtb"],) if ns else ())
    teacher = (teacher_feats, None, None, data["t_scores"], data["t_distri"])
    loss, items = loss_fn(student, teacher, feats, teacher_feats, official["targets"], epoch, epochs)
    np.testing.assert_allclose(loss.item(), official[f"{case}_loss"], rtol=REL_TOL)
    np.testing.assert_allclose(items.numpy(), official[f"{case}_items"], rtol=REL_TOL, atol=1e-6)
    names = [n for n in ("scores", "distri", "lrtb", "feat0", "feat2") if f"{case}_grad_{n}_picks" in official]
    assert ("lrtb" in names) == ns and ("feat0" in names) == feat
    grads = jt.grad(loss, [data[n] for n in names])
    for name, grad in zip(names, grads):
        values = grad.numpy().reshape(-1)
        np.testing.assert_allclose(np.abs(values).astype(np.float64).sum(), official[f"{case}_grad_{name}_abs_sum"],
                                   rtol=1e-3, err_msg=name)
        np.testing.assert_allclose(values[official[f"{case}_grad_{name}_picks"]],
                                   official[f"{case}_grad_{name}_values"], rtol=1e-3, atol=1e-7, err_msg=name)


def test_distillation_weight_decays_on_a_cosine_to_one_hundredth():
    assert distill_decay(0, 300) == 1.0
    assert distill_decay(150, 300) == pytest.approx(0.505)
    assert distill_decay(299, 300) == pytest.approx(1 - 0.495 * (1 - math.cos(299 * math.pi / 300)))
    assert distill_decay(300, 300) == pytest.approx(0.01)


@pytest.mark.parametrize("size", ["n", "s"])
def test_student_head_matches_official(size, official, reference_weights):
    """The N/S distillation head (N with DFL, 16 bins, as the recipe sets it): the official names and shapes,
    training outputs (class, DFL logits, plain distances) and the eval output, which uses the distances."""
    from make_distill_fixtures import generator_name

    from goldyolo import build_model, set_drop_path
    from goldyolo.models.checkpoint import load_state_dict_strict
    from goldyolo.models.head import DistillNSDetect
    state = {}
    for key, shape in zip(official[f"head_{size}_keys"], official[f"head_{size}_shapes"]):
        value = reference_weights.gen_tensor(generator_name(str(key)), [int(v) for v in str(shape).split(",") if v],
                                             salt=str(official[f"head_{size}_salt"]), conv_gain=0.65)
        state[str(key)] = value.astype(np.float32) if value.dtype == np.float16 else value

    def fresh():  # a training-mode forward moves the BN running statistics: each check gets its own model
        model = build_model(f"gold_yolo-{size}", distill_ns=True, use_dfl=True, reg_max=16)
        assert isinstance(model.detect, DistillNSDetect)
        load_state_dict_strict(model, state)
        return model
    shape = tuple(int(v) for v in official[f"head_{size}_input_shape"])
    x = jt.array(np.random.default_rng(21).random(shape).astype(np.float32))
    rows = official[f"head_{size}_rows"]
    model = fresh().train()
    set_drop_path(model, False)
    _, cls, reg, lrtb = model(x)
    for name, got, tol in (("cls", cls, 1e-4), ("reg", reg, 2e-3), ("lrtb", lrtb, 2e-3)):
        np.testing.assert_allclose(got.numpy()[:, rows], official[f"head_{size}_{name}"], atol=tol, rtol=0,
                                   err_msg=name)
    out = fresh().eval()(x).numpy()[:, rows]
    ref = official[f"head_{size}_eval"]
    assert np.abs(out[..., :4] - ref[..., :4]).max() <= 1e-2 and np.abs(out[..., 4:] - ref[..., 4:]).max() <= 2e-5


def test_the_two_step_recipe_trains_on_the_sample(tmp_path):
    """Step 1 --fuse-ab, step 2 --distill from its checkpoint (N with DFL and 16 bins, as the recipe sets it);
    the distilled checkpoint evaluates through the student's plain-distance branch."""
    from goldyolo.engine.trainer import Trainer
    from goldyolo.errors import InputError
    from goldyolo.eval.inference import load_model
    from goldyolo.models.head import DistillNSDetect, FuseABDetect

    from conftest import tiny_train_config

    def config(out, **kw):
        return tiny_train_config(tmp_path / out, eval_interval=1, use_dfl=True, reg_max=16, **kw)
    Trainer(config("base", fuse_ab=True)).run()
    student = Trainer(config("distilled", distill=True, teacher=str(tmp_path / "base" / "last.pkl"),
                             distill_feat=True))
    assert isinstance(student.model.detect, DistillNSDetect) and isinstance(student.teacher.detect, FuseABDetect)
    assert student.model.config.use_dfl and student.model.config.reg_max == 16
    metrics = student.run()
    assert metrics["cwd_loss"] > 0 and np.isfinite(metrics["loss"]) and "AP" in metrics
    model, _ = load_model(str(tmp_path / "distilled" / "last.pkl"))
    assert isinstance(model.detect, DistillNSDetect)
    with pytest.raises(InputError, match="--fuse-ab run"):
        Trainer(config("again", distill=True, teacher=str(tmp_path / "distilled" / "last.pkl")))
    with pytest.raises(InputError, match="exclude each other"):
        Trainer(config("both", distill=True, fuse_ab=True, teacher=str(tmp_path / "base" / "last.pkl")))
    # the teacher as a plain .npz weights file (the EMA of step 1) loads like its checkpoint
    from goldyolo.models.checkpoint import read_checkpoint
    ema = read_checkpoint(tmp_path / "base" / "last.pkl")["ema"]
    np.savez(tmp_path / "teacher.npz", **ema)
    from_npz = Trainer(config("from_npz", distill=True, teacher=str(tmp_path / "teacher.npz")))
    assert all(np.array_equal(v.numpy(), ema[k]) for k, v in from_npz.teacher.state_dict().items())


def test_distillation_terms_are_summed_without_float32_drift():
    """At a real batch's size (8 x 8400 anchors x 80 classes; S's 640 px neck outputs) the terms are summed in
    float64: within 1e-6 of the exact value (a float32 running sum drifts by far more)."""
    from goldyolo.engine.distill import channel_distillation, class_distillation

    def log_softmax(x, axis):
        top = x.max(axis, keepdims=True)
        return x - top - np.log(np.exp(x - top).sum(axis, keepdims=True))

    def exact_kl(s, t, axis):
        log_p, log_q = log_softmax(s, axis), log_softmax(t, axis)
        return (np.exp(log_q) * (log_q - log_p)).sum()

    rng = np.random.default_rng(0)
    s, t = (rng.random((8, 8400, 80)).astype(np.float32) for _ in range(2))
    got = class_distillation(jt.array(s), jt.array(t), 80, 20.0).item()
    exact = exact_kl(s.astype(np.float64).reshape(-1, 80) / 20, t.astype(np.float64).reshape(-1, 80) / 20, 1) * 400
    assert abs(got / exact - 1) < 1e-6
    feats = [rng.standard_normal((8, c, h, h)).astype(np.float32) for c, h in ((128, 80), (256, 40), (512, 20))]
    teach = [f + rng.standard_normal(f.shape).astype(np.float32) for f in feats]
    got = channel_distillation([jt.array(f) for f in feats], [jt.array(f) for f in teach]).item()
    exact = sum(exact_kl(f.astype(np.float64).reshape(8, f.shape[1], -1),
                         g.astype(np.float64).reshape(8, f.shape[1], -1), 2) / (8 * f.shape[1])
                for f, g in zip(feats, teach))
    assert abs(got / exact - 1) < 1e-6
