"""The report's notebooks execute end to end in the ``ci`` profile; HTML and PDF come out with their sections."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from goldyolo.study.profiles import parameters
from goldyolo.study.report import build_report

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["01 · Dataset split", "02 · Loss anomaly diagnosis", "03 · Training",
            "04 · Evaluation: COCO mAP, speed and memory"]


def test_ci_profile_builds_the_whole_report(tmp_path):
    values = dict(parameters("ci"), RUN_DIR=str(tmp_path / "run"), SPLIT_DIR=str(tmp_path / "splits"))
    pdf = shutil.which("chromium") is not None
    html = build_report("ci", {"*": values}, root=ROOT, out_dir=tmp_path / "report", pdf=pdf)
    text = html.read_text()
    for section in SECTIONS:
        assert section in text
    assert (tmp_path / "run" / "train" / "metrics.jsonl").exists()
    assert (tmp_path / "run" / "bench" / "gold_yolo-n_128.json").exists()
    for name in ("01_dataset_split", "02_loss_anomaly_diagnosis", "03_training", "04_evaluation"):
        assert (tmp_path / "report" / "notebooks" / f"{name}.ipynb").exists()
    assert (tmp_path / "run" / "bench" / "gold_yolo-n_128_train.json").exists()
    if not pdf or shutil.which("pdftotext") is None:
        pytest.skip("chromium or pdftotext not installed: PDF not checked (CI installs both)")
    pdf_text = subprocess.run(["pdftotext", str(html.with_suffix(".pdf")), "-"], capture_output=True,
                              text=True, check=True).stdout
    flat = " ".join(pdf_text.split())
    for section in SECTIONS + ["Gold-YOLO in Jittor: reproduction report"]:
        assert section in flat
