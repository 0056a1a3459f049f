"""Report profiles: the study's parameters, the training command and the repository root."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from goldyolo_study import profiles

from conftest import ROOT


def test_full_profile_is_the_study_and_gpu_switches_to_the_original_protocol():
    cpu = profiles.parameters("full")
    assert (cpu["MODEL"], cpu["IMG_SIZE"], cpu["EPOCHS"], cpu["N_TEST"]) == ("gold_yolo-n", 320, 30, 200)
    gpu = profiles.parameters("full", gpu=True)
    assert (gpu["MODEL"], gpu["IMG_SIZE"], gpu["DEVICE"], gpu["EPOCHS"]) == ("gold_yolo-s", 640, "cuda", 30)
    for name in ("quick", "ci"):
        values = profiles.parameters(name)
        assert values["PROFILE"] == name and values["TRAIN_JSON"].startswith("data/sample/")
        assert (ROOT / values["TRAIN_JSON"]).exists() and (ROOT / values["DATA_ROOT"] / "instances.json").exists()
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.parameters("huge")


def test_training_command_resumes_only_an_existing_run(tmp_path):
    params = dict(profiles.parameters("ci"), RUN_DIR="run")
    command = profiles.training_command(params, tmp_path)
    assert command[:4] == [sys.executable, "-m", "goldyolo", "train"]
    assert command[command.index("--out") + 1] == str(Path("run") / "train")
    assert command[command.index("--img-size") + 1] == "128" and "--resume" not in command
    (tmp_path / "run" / "train").mkdir(parents=True)
    (tmp_path / "run" / "train" / "last.pkl").write_bytes(b"")
    assert profiles.training_command(params, tmp_path)[-1] == "--resume"
    assert "--resume" not in profiles.training_command(params, tmp_path, resume=False)


def test_a_finished_run_without_checkpoints_is_reported_not_retrained(tmp_path, capsys, monkeypatch):
    params = dict(profiles.parameters("ci"), RUN_DIR="run")  # 2 epochs
    run = tmp_path / "run" / "train"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"epoch": 0}\n')
    assert not profiles.finished_without_checkpoint(params, tmp_path)  # unfinished: continue it
    (run / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1}\n')
    assert profiles.finished_without_checkpoint(params, tmp_path)
    monkeypatch.setattr(profiles.subprocess, "run", lambda *a, **k: pytest.fail("trained again"))
    profiles.run_training(params, tmp_path)
    assert "holds a finished run without its checkpoints" in capsys.readouterr().out
    (run / "last.pkl").write_bytes(b"")
    assert not profiles.finished_without_checkpoint(params, tmp_path)


def test_enter_repo_root_from_the_notebooks_folder(tmp_path):
    before = os.getcwd()
    try:
        assert profiles.enter_repo_root(ROOT / "notebooks") == ROOT
        assert Path.cwd() == ROOT
        with pytest.raises(FileNotFoundError, match="no goldyolo repository"):
            profiles.enter_repo_root(tmp_path)
    finally:
        os.chdir(before)


def test_fill_parameters_takes_the_profile_only_where_the_notebook_left_none():
    namespace = {"PROFILE": "quick", "EPOCHS": None, "IMG_SIZE": 96, "DRAW_CONF": None, "other": 3}
    filled = profiles.fill_parameters("quick", namespace)
    assert filled == {"EPOCHS": profiles.PROFILE_CHANGES["quick"]["EPOCHS"]}  # 96 given; DRAW_CONF not a parameter
    with pytest.raises(Exception, match="unknown profile 'nope'"):
        profiles.fill_parameters("nope", namespace)


@pytest.mark.parametrize("name", ["01_dataset_split", "02_loss_anomaly_diagnosis", "03_training", "04_evaluation"])
def test_notebook_parameters_default_to_the_profile(name):
    """papermill -p PROFILE quick must switch every profile value: each one the notebook declares is None."""
    import nbformat
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    declared = {k: v for k, v in namespace.items() if not k.startswith("__")}
    full = profiles.parameters("full")
    assert declared["PROFILE"] == "full"
    assert {k: v for k, v in declared.items() if k in full and k != "PROFILE" and v is not None} == {}
    assert len([k for k in declared if k in full]) >= 5
