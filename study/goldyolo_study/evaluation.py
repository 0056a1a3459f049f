"""Notebook 04's evaluations: the study run's checkpoint and the models kept beside their records (the model that
detects, the long run's best), each evaluated on its test images when its weights are present, else said to be
absent (the study run's checkpoints are not committed; kept weights are, once a run has written them)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import pandas as pd

from goldyolo.data import CocoSource
from goldyolo.eval.evaluate import evaluate
from goldyolo.utils.machine import machine_description

from . import detector, provenance, runs
from .style import checks_in_words, model_label

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
# compare-eval's records: the model that detects first, then the early 80-class weights
EVAL_PARITY = {"person_eval_parity": "The model that detects (person alone)",
               "eval_parity": "Early 80-class weights (the comparison's seed 0 after 12 of 30 epochs)"}


@dataclass
class Evaluation:
    """What one model gave on its test images: ``metrics`` None (and ``model`` None) when its weights are absent;
    ``lines`` say which weights, from which run, on which images, or why nothing was evaluated."""
    source: CocoSource
    img_size: int
    lines: List[str] = field(default_factory=list)
    model: object = None
    metrics: Optional[dict] = None
    predictions: Optional[Path] = None


def study_run(run_dir: Path | str, test_json: Path | str, images: Path | str, img_size: int, batch_size: int
              ) -> Evaluation:
    """The study run's best checkpoint (else its last) on the test split; predictions in ``run_dir/eval_test``."""
    from goldyolo.models.trained import load_trained_model
    run = Path(run_dir) / "train"
    found = Evaluation(CocoSource(Path(test_json), Path(images)), img_size)
    try:
        weights = runs.trained_weights(run)
    except FileNotFoundError as missing:
        found.lines.append(f"not evaluated in this build: {missing} (the checkpoints, 20+ MB, are not committed; "
                           "the training command in the appendix remakes them)")
        return found
    found.model, state = load_trained_model(weights)
    found.lines += [f"the study run's {weights.stem} checkpoint ({model_label(state['config']['model'])}, epoch "
                    f"{state['epoch']}, EMA weights) on {len(found.source.records)} test images at {img_size} px; "
                    f"data check: {checks_in_words(found.source.report.counts)}",
                    f"origin of the weights: {provenance.origin_text(run)}",
                    f"machine: {machine_description()}"]
    out = Path(run_dir) / "eval_test"
    found.metrics = evaluate(found.model, found.source, img_size, batch_size, out_dir=out)
    found.predictions = out / "predictions.json"
    return found


def kept_detector(records: Path | str, test_json: Path | str, images: Path | str, batch_size: int,
                  out: Path | str) -> Evaluation:
    """The weights kept beside ``records`` (``detector.keep``) on the test images of ``test_json``; predictions
    in ``out``."""
    source = CocoSource(Path(test_json), Path(images))
    try:
        model, kept = detector.load(records, source.num_classes)
    except FileNotFoundError as missing:  # the runs have not written them yet
        return Evaluation(source, 0, [f"not evaluated in this build: {missing}"])
    found = Evaluation(source, int(kept["img_size"]), model=model)
    found.lines += [f"{detector.describe(kept)}; on {len(source.records)} test images at {kept['img_size']} px",
                    f"origin: {provenance.origin_text(records)}"]
    found.metrics = evaluate(model, source, found.img_size, batch_size, out_dir=Path(out))
    found.predictions = Path(out) / "predictions.json"
    return found


def protocol_model(long_records: Path | str, run_dir: Path | str, test_json: Path | str, images: Path | str,
                   img_size: int, batch_size: int) -> Evaluation:
    """The study protocol's 80-class model on the test split: the long run's best checkpoint when its weights are
    kept beside its records (``keep-detector``), else the study run (:func:`study_run`); predictions in
    ``run_dir/eval_test`` either way."""
    kept = Path(long_records) / detector.RECORD
    if kept.is_file() and (Path(long_records) / json.loads(kept.read_text())["weights"]).is_file():
        return kept_detector(long_records, test_json, images, batch_size, Path(run_dir) / "eval_test")
    return study_run(run_dir, test_json, images, img_size, batch_size)


def eval_parity_records(reference: Path | str) -> List[Tuple[str, Path, dict, List[str]]]:
    """(title, folder, ``eval_parity.json``, :func:`ground_truth_lines`) of each :data:`EVAL_PARITY` record
    present under ``reference``; the lines are empty where no rebuilt-ground-truth run was recorded."""
    found = []
    for name, title in EVAL_PARITY.items():
        path = Path(reference) / name / "eval_parity.json"
        if path.is_file():
            truth = ground_truth_lines(reference) if name == "person_eval_parity" else []
            found.append((title, path.parent, json.loads(path.read_text()), truth))
    return found


def ground_truth_lines(reference: Path | str) -> List[str]:
    """:func:`runs.ground_truth_lines` of the model that detects, when both of its records are present, with the
    official trainer's own AP of the same weights where :func:`trainer_ap` finds it."""
    folder = Path(reference) / "person_eval_parity"
    files = [folder / "eval_parity.json", folder / "rebuilt_ground_truth.json"]
    if not all(f.is_file() for f in files):
        return []
    trainer = folder / "trainer_mode.json"
    return runs.ground_truth_lines(*(json.loads(f.read_text()) for f in files), trainer_ap(reference),
                                   json.loads(trainer.read_text()) if trainer.is_file() else None)


def trainer_ap(reference: Path | str) -> Optional[float]:
    """The official trainer's own AP (``official_AP`` of its metrics) at the epoch of the kept detector's weights,
    when those weights are an official run's and are the ones the evaluator comparison's README names (its
    SHA-256); None otherwise."""
    kept = Path(reference) / "person_compare" / detector.RECORD
    readme = Path(reference) / "person_eval_parity" / "README.md"
    if not (kept.is_file() and readme.is_file()):
        return None
    record = json.loads(kept.read_text())
    if record.get("framework") != "official" or record.get("sha256", "-")[:16] not in readme.read_text():
        return None
    metrics = kept.parent / f"seed_{record['seed']}" / "official" / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
    return next((row["official_AP"] for row in rows if row["epoch"] == record["epoch"] and "official_AP" in row), None)


def metrics_table(metrics: dict) -> pd.DataFrame:
    """COCO AP, AP50, AP75 and AP by object size, one row."""
    return pd.DataFrame([{k: metrics[k] for k in METRICS}])
