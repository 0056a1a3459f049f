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
    found = evaluation.kept_detector(tmp_path / "records", task, SAMPLE / "images", 4, tmp_path / "out")
    assert found.metrics is None and found.lines[0].startswith("not evaluated in this build:")
    assert "detector.json" in found.lines[0]
    assert list(evaluation.metrics_table({k: 0.5 for k in evaluation.METRICS}).columns) == list(evaluation.METRICS)
