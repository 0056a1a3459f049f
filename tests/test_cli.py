"""``python -m goldyolo``: help on every command and the info output."""
from __future__ import annotations

import subprocess
import sys

import pytest

from goldyolo.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goldyolo", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", [[], ["info"], ["table"], ["convert"], ["train"], ["eval"], ["predict"], ["overfit"],
                                     ["data", "coco"], ["data", "sample"], ["bench"], ["soak"]])
def test_help(command):
    done = run(*command, "--help")
    assert done.returncode == 0
    assert "usage: python -m goldyolo" in done.stdout


def test_info_prints_official_counts(capsys):
    assert main(["info", "gold_yolo-n", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "training form: 6,062,590 parameters" in out
    assert "[Params: 6.06M, Gflops: 13.49]" in out
    assert "[Params: 5.62M, Gflops: 12.11]" in out
    assert "backbone" in out and "EfficientRep" in out and "5.6 M parameters, 12.1 GFLOPs" in out


def test_info_rejects_unknown_model():
    done = run("info", "gold_yolo-x")
    assert done.returncode == 2
    assert "invalid choice: 'gold_yolo-x'" in done.stderr


def test_convert_reports_missing_file(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "none.pt"), str(tmp_path / "o.pkl"), "--model", "gold_yolo-n"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_readme_model_table_is_generated_by_the_code():
    from pathlib import Path

    from goldyolo.cli import model_table
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert model_table(640) in readme
