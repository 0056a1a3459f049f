"""The model notebook 04 evaluates: a comparison's best run, its EMA weights kept and checked
(``goldyolo_study.detector``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.errors import InputError, InputNotFoundError
from goldyolo_study import detector


def compare(runs, epochs=3):
    return {"config": {"epochs": epochs, "model": "gold_yolo-n", "data": "data/person/train.json",
                       "val_data": "data/person/test.json", "img_size": 320}, "runs": runs}


def run(framework, seed, ap50s, epochs=3):
    entries = [{"epoch": e} for e in range(epochs)]
    for epoch, ap50 in ap50s.items():
        entries[epoch].update(AP50=ap50, AP=ap50 / 2)
    return {"framework": framework, "seed": seed, "epochs": entries}


def test_best_run_is_the_finished_run_with_the_highest_final_ap50():
    runs = [run("goldyolo", 0, {1: 0.5, 2: 0.30}), run("official", 0, {1: 0.1, 2: 0.31}),
            dict(run("official", 1, {1: 0.9}), epochs=[{"epoch": 0}, {"epoch": 1, "AP50": 0.9, "AP": 0.4}])]
    assert detector.best_run(compare(runs))[:2] == ("official", 0)  # final, not best-ever; unfinished left out
    assert detector.best_run(compare(runs))[2]["epoch"] == 2
    with pytest.raises(InputError, match="no finished, evaluated run"):
        detector.best_run(compare(runs[2:]))


def test_kept_weights_load_and_are_checked(tmp_path):
    from goldyolo.models import build_model
    state = {k: v.numpy() for k, v in build_model("gold_yolo-n", num_classes=1).state_dict().items()}
    out, records = tmp_path / "out", tmp_path / "records"
    (out / "seed_1" / "official" / "ema").mkdir(parents=True)
    np.savez(out / "seed_1" / "official" / "ema" / "epoch_002.npz", **state)
    records.mkdir()
    (records / "compare.json").write_text(json.dumps(compare([run("official", 1, {2: 0.42})])))
    path = detector.keep(out, records)
    record = json.loads(path.read_text())
    assert (record["framework"], record["seed"], record["epoch"], record["AP50"]) == ("official", 1, 2, 0.42)
    assert "official trainer, seed 1, EMA weights after epoch 2 (final AP50 0.420" in detector.describe(record)
    model, _ = detector.load(records, num_classes=1)
    loaded = {k: v.numpy() for k, v in model.state_dict().items()}
    assert all(np.array_equal(loaded[k], state[k]) for k in state)
    np.savez(records / detector.WEIGHTS, **dict(state, **{next(iter(state)): next(iter(state.values())) + 1}))
    with pytest.raises(InputError, match="SHA-256 differs"):
        detector.load(records, num_classes=1)
    (records / detector.WEIGHTS).unlink()
    with pytest.raises(InputNotFoundError, match="is missing: remake the run"):
        detector.load(records, num_classes=1)
    (out / "seed_1" / "official" / "ema" / "epoch_002.npz").unlink()
    with pytest.raises(InputNotFoundError, match="EMA weights of epoch 2 are missing"):
        detector.keep(out, records)


def test_a_better_run_whose_weights_are_gone_is_passed_over_and_named(tmp_path):
    state = {"a.weight": np.arange(3, dtype=np.float32)}
    out, records = tmp_path / "out", tmp_path / "records"
    (out / "seed_1" / "official" / "ema").mkdir(parents=True)
    np.savez(out / "seed_1" / "official" / "ema" / "epoch_002.npz", **state)
    records.mkdir()
    runs = [run("goldyolo", 0, {2: 0.25}), run("official", 1, {2: 0.21}), run("official", 0, {2: 0.30})]
    (records / "compare.json").write_text(json.dumps(compare(runs)))
    record = json.loads(detector.keep(out, records).read_text())
    assert (record["framework"], record["seed"]) == ("official", 1)
    assert record["passed_over"] == [{"framework": "official", "seed": 0, "AP50": 0.30},
                                     {"framework": "goldyolo", "seed": 0, "AP50": 0.25}]
    assert detector.describe(record).startswith("the best run of the comparison whose weights were kept: the "
                                                "official trainer, seed 1")
    assert detector.describe(record).endswith("passed over, its weights lost with an earlier run folder: "
                                              "goldyolo's trainer, seed 0 (final AP50 0.2500)")


def test_goldyolo_runs_give_the_ema_of_their_last_checkpoint(tmp_path):
    from goldyolo.models.checkpoint import write_checkpoint
    folder = tmp_path / "seed_0" / "goldyolo"
    folder.mkdir(parents=True)
    ema = {"a.weight": np.arange(3, dtype=np.float32)}
    write_checkpoint({"epoch": 2, "ema": ema, "model": {"a.weight": np.zeros(3, np.float32)}}, folder / "last.pkl")
    state = detector.ema_state(tmp_path, "goldyolo", 0, 2)
    assert list(state) == ["a.weight"] and np.array_equal(state["a.weight"], ema["a.weight"])
    with pytest.raises(InputError, match="holds epoch 2, not the last evaluated epoch 5"):
        detector.ema_state(tmp_path, "goldyolo", 0, 5)


def test_a_training_runs_best_checkpoint_is_kept(tmp_path):
    from goldyolo.models import build_model
    from goldyolo.models.checkpoint import write_checkpoint
    state = {k: v.numpy() for k, v in build_model("gold_yolo-n", num_classes=80).state_dict().items()}
    run_dir, records = tmp_path / "run", tmp_path / "records"
    run_dir.mkdir()
    records.mkdir()
    with pytest.raises(InputNotFoundError, match="neither"):
        detector.keep(run_dir, records)
    (run_dir / "config.json").write_text(json.dumps({"seed": 0, "epochs": 300, "model": "gold_yolo-n", "img_size": 320,
                                                     "data": "data/splits/train.json",
                                                     "val_data": "data/splits/test.json"}))
    write_checkpoint({"epoch": 9, "ema": state}, run_dir / "best.pkl")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in [
        {"epoch": 8, "loss": 3.0}, {"epoch": 9, "loss": 2.9, "AP": 0.02, "AP50": 0.05}, {"epoch": 19, "AP50": 0.01}]))
    record = json.loads(detector.keep(run_dir, records).read_text())
    assert (record["source"], record["epoch"], record["AP50"], record["seed"]) == ("training", 9, 0.05, 0)
    assert detector.describe(record) == ("the best checkpoint of the 300-epoch run (goldyolo's trainer, seed 0): EMA "
                                         "weights after epoch 9 (AP50 0.0500, AP 0.0200 by goldyolo's evaluator)")
    model, _ = detector.load(records, num_classes=80)
    loaded = {k: v.numpy() for k, v in model.state_dict().items()}
    assert all(np.array_equal(loaded[k], state[k]) for k in state)
    (run_dir / "metrics.jsonl").write_text(json.dumps({"epoch": 9, "loss": 2.9}) + "\n")
    with pytest.raises(InputError, match="no evaluation of epoch 9"):
        detector.keep(run_dir, records)
