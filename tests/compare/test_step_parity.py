"""Step parity with the official trainer: goldyolo's steps against the official Trainer's on the same augmented
batches and weights, past the warm-up (``tests/fixtures/step_parity_n.npz``, made by ``compare-steps
--fixture`` with the settings it records), changes planted in goldyolo's trainer that the comparison must
reject, the mosaic switch of the official Trainer, and, with the official code, the long check with its control
run."""
from __future__ import annotations

import json

import numpy as np
import pytest

import goldyolo.engine.trainer as trainer_module
from goldyolo.compare.step_parity import (
    StepParityConfig,
    check,
    compact,
    goldyolo_steps,
    make_batches,
    measures,
    perturbed,
    read_fixture,
    sample,
    schedule_differences,
    step_parity,
)
from goldyolo.config import get_config
from goldyolo.data.augment import mosaic_in_epoch
from goldyolo.data.coco import CocoSource

from conftest import FIXTURES, OFFICIAL_CODE, SAMPLE, tiny_train_config

# The fixture: python -m goldyolo compare-steps --torch-reference PATH --init INIT --img-size 96 --batch-size 16
# --steps 24 --steps-per-epoch 4 --epochs 6 --warmup-steps 6 --ema-start-updates 2000 --augment --lr-scale 0.02
# --fixture tests/fixtures/step_parity_n.npz, INIT from fixture_init(): 6 warm-up steps, then the cosine schedule
# of 6 epochs (with its lag) and accumulation of 4 batches of 16; the EMA's decay past its ramp; mosaic batches.
FIXTURE = FIXTURES / "step_parity_n.npz"


def fixture_init(path):
    """goldyolo's initialisation with every float moved by +-1e-7: exact score ties at the first step (zero
    prediction weights) would make the assignment depend on each framework's top-k order. Jittor's generator is
    seeded with 0 directly, as when the fixture was made."""
    from goldyolo.models import build_model
    from goldyolo.models.checkpoint import state_dict_numpy
    from goldyolo.runtime import jt
    jt.set_seed(0)
    state = perturbed(state_dict_numpy(build_model("gold_yolo-n")), 1e-7, seed=1)
    np.savez(path, **state)
    return state


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The fixture, its settings as a config, its batches and the initial weights (file and sampled)."""
    folder = tmp_path_factory.mktemp("step_parity")
    data = read_fixture(FIXTURE)
    init = fixture_init(folder / "init.npz")
    assert sum(float(np.abs(v).sum()) for v in init.values()) == pytest.approx(data["init_abs_sum"], rel=1e-9), \
        "goldyolo's seeded initialisation changed: remake the fixture with compare-steps --fixture"
    cfg = StepParityConfig(data=str(SAMPLE / "train.json"), images=str(SAMPLE / "images"),
                           **{k: v for k, v in data["settings"].items() if k != "control"})
    source = CocoSource(SAMPLE / "train.json", SAMPLE / "images")
    batches = make_batches(source, cfg.img_size, cfg.batch_size, cfg.steps, cfg.augment, cfg.steps_per_epoch,
                           get_config(cfg.model).augment)
    return dict(data, cfg=cfg, batches=batches, init_file=folder / "init.npz", folder=folder)


def failures(official, plant=None, name="run"):
    steps, state = goldyolo_steps(official["cfg"], official["init_file"], official["batches"],
                                  official["folder"] / name, plant)
    run = compact(steps, state)
    found = measures(run, official["official"], official["init"], official["init"], official["kinds"])
    return check(found, official["control"], schedule_differences(steps, official["official"]["steps"])), steps


def test_goldyolo_steps_follow_the_official_trainer_past_the_warmup(official):
    cfg = official["cfg"]
    assert cfg.augment and cfg.warmup_steps < cfg.steps and cfg.ema_start_updates >= 2000
    failed, steps = failures(official)
    assert failed == []  # schedule equal; loss items, weights and EMA within 3x the control's drift
    reference = official["official"]["steps"]
    # what the comparison covered: steps after the warm-up in three epochs of the cosine schedule, optimizer
    # steps of 4 accumulated batches, an EMA whose decay is past its ramp, mosaic batches
    after = [s for s in reference if s["step"] > cfg.warmup_steps]
    assert len({round(s["lr"][1], 12) for s in after}) >= 3
    updates = [s["step"] for s in reference if s["optimizer_step"]]
    assert any(b - a == 4 for a, b in zip(updates, updates[1:]))
    assert min(s["ema_decay"] for s in reference) > 0.6
    assert all(s["mosaic"] for s in reference) and all(s["mosaic"] for s in steps)


def _ema_decay(trainer):
    base = trainer.ema.decay
    trainer.ema.decay = lambda: 0.9 * base()


def _weight_decay(trainer):
    trainer.optimizer.param_groups[1]["weight_decay"] *= 1.1


def _weight_decay_on_bn(trainer):
    trainer.optimizer.param_groups[0]["weight_decay"] = trainer.optimizer.param_groups[1]["weight_decay"]


def _iou_weight(trainer):
    trainer.criterion.loss.loss_weight["iou"] = 2.75


PLANTED = {"EMA decay x0.9": (_ema_decay, "ema_gap/weight"),
           "weight decay x1.1": (_weight_decay, "model/weight"),
           "weight decay on BN weights": (_weight_decay_on_bn, "model/bn_weight"),
           "IoU loss weight 2.75": (_iou_weight, "loss/iou"),
           "schedule one epoch late": (None, "schedule: lr")}


@pytest.mark.parametrize("change", list(PLANTED))
def test_the_comparison_rejects_a_planted_change(official, change, monkeypatch):
    plant, expected = PLANTED[change]
    if plant is None:
        late = trainer_module.cosine_factor
        monkeypatch.setattr(trainer_module, "cosine_factor", lambda e, epochs, lrf: late(e + 1, epochs, lrf))
    failed, _ = failures(official, plant, name=change.replace(" ", "_"))
    assert any(f.startswith(expected) for f in failed), failed


def test_sampled_coordinates_and_measures_see_a_change():
    state = {"a.weight": np.arange(200, dtype=np.float32).reshape(10, 20), "a.bias": np.ones(3, np.float32),
             "bn.weight": np.ones(4, np.float32), "bn.running_var": np.ones(4, np.float32),
             "bn.num_batches_tracked": np.array(3)}
    picked = sample(state, count=16)
    assert set(picked) == {"a.weight", "a.bias", "bn.weight", "bn.running_var"} and picked["a.weight"].size == 16
    assert np.array_equal(picked["a.weight"], sample(state, count=16)["a.weight"])  # the same coordinates each time
    kinds = {"a.weight": "weight", "a.bias": "bias", "bn.weight": "bn_weight", "bn.running_var": "bn_stat"}
    steps = [{"step": 0, "items": [1.0, 0.0, 2.0]}]
    ref = {"steps": steps, "model": {k: v + 1.0 for k, v in picked.items()},
           "ema": {k: v + 0.5 for k, v in picked.items()}}
    same = measures(ref, ref, picked, picked, kinds)
    assert max(same.values()) == 0.0
    moved = dict(ref, model=dict(ref["model"], **{"a.weight": ref["model"]["a.weight"] + 0.1}))
    found = measures(moved, ref, picked, picked, kinds)
    assert found["model/weight"] == pytest.approx(0.1) and found["model/bias"] == 0.0
    assert check(found, {k: 0.01 for k in found}, []) == [
        "model/weight: 0.1 > 3 x control 0.01", "ema_gap/weight: 0.2 > 3 x control 0.01"]


def test_goldyolo_switches_mosaic_off_as_the_official_rule():
    # prepare_for_steps: off at epoch == epochs - n and after; a run shorter than n never reaches that epoch
    assert [mosaic_in_epoch(e, 2, 15) for e in range(2)] == [True, True]
    assert [mosaic_in_epoch(e, 20, 15) for e in range(20)] == [True] * 5 + [False] * 15
    assert [mosaic_in_epoch(e, 15, 15) for e in range(15)] == [False] * 15
    assert [mosaic_in_epoch(e, 3, 0) for e in range(3)] == [True] * 3


@pytest.mark.needs_official_code
@pytest.mark.parametrize("epochs", [2, 20])
def test_mosaic_switch_per_epoch_equals_the_official_trainer(tmp_path, epochs):
    """The official Trainer's prepare_for_steps (one 2-image step per epoch) against goldyolo's begin_epoch."""
    from goldyolo.compare.train_compare import run_official
    from goldyolo.data.yolo_format import write_yolo_dataset
    from goldyolo.engine.trainer import Trainer
    source = CocoSource(SAMPLE / "train.json", SAMPLE / "images")
    np.savez(tmp_path / "batches.npz", **make_batches(source, 64, 2, epochs))
    spec = {"mode": "steps", "root": str(OFFICIAL_CODE), "model": "gold_yolo-n", "num_classes": source.num_classes,
            "seed": 0, "data_yaml": str(write_yolo_dataset(source, source, tmp_path / "data").resolve()),
            "img_size": 64, "batch_size": 2, "epochs": epochs, "workers": 0, "device": "cpu", "steps": epochs,
            "steps_per_epoch": 1, "no_drop_path": True, "batches": str(tmp_path / "batches.npz"),
            "save_ema_epochs": [], "threads": 2, "out": str(tmp_path / "official")}
    run_official(StepParityConfig(), OFFICIAL_CODE, spec, tmp_path / "official.log")
    official = [s["mosaic"] for s in json.loads((tmp_path / "official" / "steps.json").read_text())]
    trainer = Trainer(tiny_train_config(tmp_path / "goldyolo", epochs=epochs, batch_size=2, augment=True, subset=0))
    ours = []
    for epoch in range(epochs):
        trainer.begin_epoch(epoch)
        ours.append(trainer.dataset.use_mosaic)
    assert ours == official == [mosaic_in_epoch(e, epochs, 15) for e in range(epochs)]
    assert official == ([True, True] if epochs == 2 else [True] * 5 + [False] * 15)


@pytest.mark.slow
@pytest.mark.needs_official_code
def test_sixty_steps_of_both_trainers_drift_no_more_than_the_official_from_itself(tmp_path):
    # the defaults from the official initialisation: 60 augmented steps at 128 px, 12 of warm-up, then 8 epochs
    # of a 10-epoch cosine with accumulation 4
    step_parity(StepParityConfig(torch_reference=str(OFFICIAL_CODE), out=str(tmp_path)))
    result = json.loads((tmp_path / "step_parity.json").read_text())
    assert result["goldyolo"]["schedule_equal"] and result["control"]["schedule_equal"]
    assert sum(s["optimizer_step"] for s in result["steps"]["official"]) < 30  # accumulation happened
    assert result["verdict"]["passed"], result["verdict"]
