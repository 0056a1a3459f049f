"""Notebook 04's evaluations without their weights, as on a fresh clone (``goldyolo_study.evaluation``)."""
from __future__ import annotations

from goldyolo_study import evaluation

from conftest import SAMPLE


def test_a_study_run_without_checkpoints_is_said_not_evaluated(tmp_path):
    (tmp_path / "train").mkdir()
    found = evaluation.study_run(tmp_path, SAMPLE / "test.json", SAMPLE / "images", 128, 4)
    assert found.metrics is None and found.model is None and len(found.source.records) == 8
    assert found.lines[0].startswith("not evaluated in this build: no trained model in")
    assert "not committed" in found.lines[0]


def test_a_comparison_without_kept_weights_is_said_not_evaluated(tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "test.json").write_bytes((SAMPLE / "test.json").read_bytes())
    found = evaluation.kept_detector(tmp_path / "records", task / "test.json", SAMPLE / "images", 4, tmp_path / "out")
    assert found.metrics is None and found.lines[0].startswith("not evaluated in this build:")
    assert "detector.json" in found.lines[0]
    assert list(evaluation.metrics_table({k: 0.5 for k in evaluation.METRICS}).columns) == list(evaluation.METRICS)



def test_evaluator_comparisons_are_found_model_that_detects_first(tmp_path):
    import json
    assert evaluation.eval_parity_records(tmp_path) == [] and evaluation.ground_truth_lines(tmp_path) == []
    mode = {"official": {"AP": 0.11, "AP50": 0.25}, "goldyolo": {"AP": 0.11, "AP50": 0.25},
            "detections": {"official": 5, "goldyolo": 5, "matched": 5}}
    for name in ("eval_parity", "person_eval_parity"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval_parity.json").write_text(json.dumps({"modes": {"square": mode}}))
    found = evaluation.eval_parity_records(tmp_path)
    assert [folder.name for _, folder, _, _ in found] == ["person_eval_parity", "eval_parity"]
    assert found[0][3] == found[1][3] == []
    assert found[0][0] == "The model that detects (person alone)" and found[0][2]["modes"]["square"] == mode
    assert evaluation.ground_truth_lines(tmp_path) == []  # the rebuilt-ground-truth run is missing
    rebuilt = {"modes": {"square": dict(mode, official={"AP": 0.10, "AP50": 0.24})}}
    (tmp_path / "person_eval_parity" / "rebuilt_ground_truth.json").write_text(json.dumps(rebuilt))
    assert evaluation.eval_parity_records(tmp_path)[0][3] == evaluation.ground_truth_lines(tmp_path)
    assert evaluation.ground_truth_lines(tmp_path)[0].endswith("(square 5 of 5): square: AP 0.1100 -> 0.1000, AP50 "
                                                            "0.2500 -> 0.2400")
    assert evaluation.trainer_ap(tmp_path) is None  # no kept detector
    run = tmp_path / "person_compare" / "seed_0" / "official"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"epoch": 148, "official_AP": 0.1}, {"epoch": 149, "official_AP": 0.1052})))
    kept = {"framework": "official", "seed": 0, "epoch": 149, "sha256": "ace0443a6a650f4d" + "0" * 48}
    (tmp_path / "person_compare" / "detector.json").write_text(json.dumps(kept))
    (tmp_path / "person_eval_parity" / "README.md").write_text("weights: SHA-256 ace0443a6a650f4d...")
    assert evaluation.trainer_ap(tmp_path) == 0.1052
    (tmp_path / "person_compare" / "detector.json").write_text(json.dumps(dict(kept, sha256="f" * 64)))
    assert evaluation.trainer_ap(tmp_path) is None  # the comparison ran on other weights


def test_the_protocol_model_is_the_study_run_until_the_long_runs_weights_are_kept(tmp_path):
    import json
    (tmp_path / "run" / "train").mkdir(parents=True)
    (tmp_path / "long").mkdir()
    found = evaluation.protocol_model(tmp_path / "long", tmp_path / "run", SAMPLE / "test.json", SAMPLE / "images",
                                      128, 4)
    assert found.lines[0].startswith("not evaluated in this build: no trained model in")  # the study run's
    (tmp_path / "long" / "detector.json").write_text(json.dumps({"weights": "weights/best_run_ema.npz"}))
    found = evaluation.protocol_model(tmp_path / "long", tmp_path / "run", SAMPLE / "test.json", SAMPLE / "images",
                                      128, 4)
    assert "no trained model in" in found.lines[0]  # described, but its weights are absent: still the study run
    import hashlib

    import numpy as np

    from goldyolo.models import build_model
    state = {k: v.numpy() for k, v in build_model("gold_yolo-n", num_classes=80).state_dict().items()}
    (tmp_path / "long" / "weights").mkdir()
    np.savez(tmp_path / "long" / "weights" / "best_run_ema.npz", **state)
    digest = hashlib.sha256((tmp_path / "long" / "weights" / "best_run_ema.npz").read_bytes()).hexdigest()
    (tmp_path / "long" / "detector.json").write_text(json.dumps({
        "source": "training", "framework": "goldyolo", "seed": 0, "epoch": 9, "epochs": 300, "model": "gold_yolo-n",
        "img_size": 128, "AP": 0.02, "AP50": 0.05, "weights": "weights/best_run_ema.npz", "sha256": digest}))
    found = evaluation.protocol_model(tmp_path / "long", tmp_path / "run", SAMPLE / "test.json", SAMPLE / "images",
                                      320, 4)
    assert found.lines[0].startswith("the best checkpoint of the 300-epoch run") and found.img_size == 128
    assert found.metrics["num_images"] == 8 and found.predictions == tmp_path / "run" / "eval_test" / "predictions.json"
