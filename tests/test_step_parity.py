"""Step parity with the official trainer: goldyolo's steps against the official Trainer's on the same
batches and weights (``tests/fixtures/step_parity_n.npz``, made by ``compare-steps --fixture``), and,
with the official code, the long check with its control run."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.compare.step_parity import StepParityConfig, goldyolo_steps, make_batches, perturbed, step_parity
from goldyolo.data.coco import CocoSource

from conftest import FIXTURES, OFFICIAL_CODE, SAMPLE

# the fixture's settings: python -m goldyolo compare-steps --torch-reference PATH --init INIT --img-size 128
# --batch-size 4 --steps 12 --steps-per-epoch 6 --fixture tests/fixtures/step_parity_n.npz, INIT from fixture_init()
SHORT = dict(data=str(SAMPLE / "train.json"), images=str(SAMPLE / "images"), img_size=128, batch_size=4, steps=12,
             steps_per_epoch=6, epochs=30)


def fixture_init(path):
    """goldyolo's initialisation with every float moved by +-1e-7: exact score ties at the first step (zero
    prediction weights) would make the assignment depend on each framework's top-k order. Jittor's generator is
    seeded with 0 directly, as when the fixture was made (``seed_everything`` now spreads the seed first)."""
    from goldyolo.models import build_model
    from goldyolo.models.checkpoint import state_dict_numpy
    from goldyolo.runtime import jt
    jt.set_seed(0)
    state = perturbed(state_dict_numpy(build_model("gold_yolo-n")), 1e-7, seed=1)
    np.savez(path, **state)
    return state


def test_goldyolo_steps_follow_the_official_trainer(tmp_path):
    official = np.load(FIXTURES / "step_parity_n.npz")
    init = fixture_init(tmp_path / "init.npz")
    total = sum(float(np.abs(v).sum()) for v in init.values())
    assert total == pytest.approx(float(official["init_abs_sum"]), rel=1e-9), \
        "goldyolo's seeded initialisation changed: remake the fixture with compare-steps --fixture"
    cfg = StepParityConfig(**SHORT)
    source = CocoSource(SAMPLE / "train.json", SAMPLE / "images")
    batches = make_batches(source, cfg.img_size, cfg.batch_size, cfg.steps)
    records, state = goldyolo_steps(cfg, tmp_path / "init.npz", batches, tmp_path / "run")
    # the schedule: warm-up lr and momentum of each group, which steps update the weights
    np.testing.assert_allclose([r["lr"] for r in records], official["lr"], rtol=1e-12, atol=0)
    np.testing.assert_allclose([r["momentum"] for r in records], official["momentum"], rtol=1e-12, atol=0)
    assert [r["optimizer_step"] for r in records] == official["optimizer_step"].tolist()
    # the loss of each step, against the official trainer's drift from itself (the control: 1e-7 on the weights)
    items = np.array([r["items"] for r in records])
    diff = np.abs(items.sum(1) - official["items"].sum(1)) / official["items"].sum(1)
    control = official["control_total_loss"]
    assert diff[0] <= 2 * control[0] and diff[1:].max() <= 2 * control[1:].max(), (diff, control)
    # the weights after the last step: each tensor's update, and the head's final values
    model = state["model"]
    keys = official["update_keys"].tolist()
    updates = np.array([np.linalg.norm(model[k] - init[k]) for k in keys])
    moved = official["update_norms"] > 0
    assert np.array_equal(updates > 0, moved)  # the same tensors change (and the same stay fixed)
    # tensors that moved by more than float32 noise (the zero-initialised attention BNs' biases move by 1e-12)
    real = official["update_norms"] > 1e-8
    relative = np.abs(updates[real] - official["update_norms"][real]) / official["update_norms"][real]
    assert np.median(relative) < 1e-4 and relative.max() < 2e-2, (np.median(relative), relative.max())
    head = official["head_keys"].tolist()
    head_diff = np.sqrt(sum(float(((model[k] - official[f"head/{k}"]) ** 2).sum()) for k in head))
    head_norm = np.sqrt(sum(float((official[f"head/{k}"] ** 2).sum()) for k in head))
    assert head_diff / head_norm <= 10 * float(official["control_relative_l2"]), head_diff / head_norm


@pytest.mark.slow
@pytest.mark.needs_official_code
def test_sixty_steps_of_both_trainers_drift_no_more_than_the_official_from_itself(tmp_path):
    # the official initialisation, 60 steps over two epochs of 30, accumulation 2 from step 34
    step_parity(StepParityConfig(torch_reference=str(OFFICIAL_CODE), out=str(tmp_path)))
    result = json.loads((tmp_path / "step_parity.json").read_text())
    gold, control = result["goldyolo"], result["control"]
    assert gold["schedule_equal"] and control["schedule_equal"]
    assert sum(s["optimizer_step"] for s in result["steps"]["official"]) < 60  # accumulation happened
    assert gold["weights"]["model"]["relative_l2"] <= 3 * control["weights"]["model"]["relative_l2"]
    assert gold["weights"]["ema"]["relative_l2"] <= 3 * control["weights"]["ema"]["relative_l2"]
    # step 0 from the official initialisation meets exact score ties (see docs/quirks.md Q13); later steps
    # drift like the control
    assert max(gold["step_differences"]["total_loss"][1:]) <= 3 * max(control["step_differences"]["total_loss"][1:])
