"""The models notebook 04 evaluates, their EMA weights kept beside the records of the runs that made them.

For a training comparison (``RECORDS/compare.json``), ``keep`` picks the run with the highest final AP50
(goldyolo's evaluator, the same for both trainers) among its finished runs whose weights are still in the run
folder, and takes its EMA weights of the last evaluated epoch; a better run whose weights are gone (a run folder
lost with a machine) is named in the record as passed over. For one training run (``RUN_DIR/config.json``, the
long run), its best checkpoint's EMA weights. They are written as an ``.npz`` (official parameter names, about
22 MB for Gold-YOLO-N) into ``RECORDS/weights/`` and described in ``detector.json`` (run, epoch, AP, the weights'
SHA-256); both are committed, so that the report's evaluation can be rebuilt from a clone and a reader who remakes
the run can check they have the same weights. ``load`` builds the model from them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from goldyolo.errors import InputError, InputNotFoundError

from .style import ap_text

WEIGHTS = Path("weights") / "best_run_ema.npz"
RECORD = "detector.json"


def ranked_runs(compare: Dict) -> List[Tuple[str, int, Dict]]:
    """(framework, seed, last evaluated epoch's entry) of each finished run, highest final AP50 first."""
    finished = [run for run in compare["runs"] if len(run["epochs"]) >= compare["config"]["epochs"]]
    scored = [(run, [e for e in run["epochs"] if "AP50" in e]) for run in finished]
    scored = [(run, evaluated[-1]) for run, evaluated in scored if evaluated]
    if not scored:
        raise InputError("the comparison has no finished, evaluated run yet")
    scored.sort(key=lambda item: -item[1]["AP50"])
    return [(run["framework"], int(run["seed"]), last) for run, last in scored]


def best_run(compare: Dict) -> Tuple[str, int, Dict]:
    """(framework, seed, last evaluated epoch's entry) of the finished run with the highest final AP50."""
    return ranked_runs(compare)[0]


def ema_state(run_dir: Path, framework: str, seed: int, epoch: int) -> Dict[str, np.ndarray]:
    """The EMA weights of one run of ``compare-train``'s folder after ``epoch`` (official names)."""
    folder = Path(run_dir) / f"seed_{seed}" / framework
    if framework == "official":
        path = folder / "ema" / f"epoch_{epoch:03d}.npz"
        if not path.is_file():
            raise InputNotFoundError(f"{path}: the official run's EMA weights of epoch {epoch} are missing")
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    from goldyolo.models.checkpoint import read_checkpoint
    path = folder / "last.pkl"
    if not path.is_file():
        raise InputNotFoundError(f"{path}: goldyolo's run has no last checkpoint")
    state = read_checkpoint(path)
    if int(state["epoch"]) != epoch:
        raise InputError(f"{path} holds epoch {state['epoch']}, not the last evaluated epoch {epoch}")
    return {k: np.asarray(v) for k, v in state["ema"].items()}


def best_checkpoint(run_dir: Path) -> Tuple[Dict[str, np.ndarray], Dict]:
    """(EMA weights, record) of a training folder's ``best.pkl`` (the epoch of its highest AP), its AP and AP50
    read from the folder's ``metrics.jsonl``."""
    from goldyolo.models.checkpoint import read_checkpoint
    config = json.loads((run_dir / "config.json").read_text())
    state = read_checkpoint(run_dir / "best.pkl")
    epoch = int(state["epoch"])
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evaluated = [line for line in lines if line.get("epoch") == epoch and "AP50" in line]
    if not evaluated:
        raise InputError(f"{run_dir / 'metrics.jsonl'} has no evaluation of epoch {epoch}, the epoch of best.pkl")
    record = {"source": "training", "framework": "goldyolo", "seed": config.get("seed"), "epoch": epoch,
              "epochs": config["epochs"], "model": config["model"], "data": config["data"],
              "val_data": config.get("val_data"), "img_size": config["img_size"],
              "AP": evaluated[-1]["AP"], "AP50": evaluated[-1]["AP50"]}
    return {k: np.asarray(v) for k, v in state["ema"].items()}, record


def keep(run_dir: Path | str, records: Path | str) -> Path:
    """Write the EMA weights of a comparison's best run (``records/compare.json``) or of a training folder's best
    checkpoint into ``records/weights/``, and ``records/detector.json``; returns the json's path."""
    records, run_dir = Path(records), Path(run_dir)
    if (records / "compare.json").is_file():
        compare = json.loads((records / "compare.json").read_text())
        passed_over, missing = [], None
        for framework, seed, last in ranked_runs(compare):
            try:
                state = ema_state(run_dir, framework, seed, int(last["epoch"]))
                break
            except InputNotFoundError as error:  # its weights left with an earlier run folder
                missing = missing or error
                passed_over.append({"framework": framework, "seed": seed, "AP50": last.get("AP50")})
        else:
            raise missing
        record = {"framework": framework, "seed": seed, "epoch": int(last["epoch"]),
                  "model": compare["config"]["model"], "data": compare["config"]["data"],
                  "val_data": compare["config"]["val_data"], "img_size": compare["config"]["img_size"],
                  "AP": last.get("AP"), "AP50": last.get("AP50")}
        if passed_over:
            record["passed_over"] = passed_over
    elif (run_dir / "config.json").is_file():
        state, record = best_checkpoint(run_dir)
    else:
        raise InputNotFoundError(f"neither {records / 'compare.json'} (a comparison's records) nor "
                                 f"{run_dir / 'config.json'} (a training folder) exists")
    target = records / WEIGHTS
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **state)
    record.update(weights=WEIGHTS.as_posix(), sha256=hashlib.sha256(target.read_bytes()).hexdigest())
    (records / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return records / RECORD


def keep_command(run_dir: str, records: str) -> int:
    """``python -m goldyolo_study keep-detector RUN_DIR RECORDS``: :func:`keep`, then what it kept."""
    path = keep(run_dir, records)
    record = json.loads(path.read_text())
    print(f"{describe(record)}; weights: {Path(records) / record['weights']}; record: {path}")
    return 0


def describe(record: Dict) -> str:
    """One sentence: which run, which epoch, and its AP50 when it was kept."""
    if record.get("source") == "training":
        return (f"the best checkpoint of the {record['epochs']}-epoch run (goldyolo's trainer, seed {record['seed']}): "
                f"EMA weights after epoch {record['epoch']} (AP50 {ap_text(record['AP50'])}, AP "
                f"{ap_text(record['AP'])} by goldyolo's evaluator)")
    def trainer(framework):
        return "the official trainer" if framework == "official" else "goldyolo's trainer"
    passed = record.get("passed_over", [])
    text = (f"the best run of the comparison{' whose weights were kept' if passed else ''}: "
            f"{trainer(record['framework'])}, seed {record['seed']}, EMA weights after epoch {record['epoch']} "
            f"(final AP50 {ap_text(record['AP50'])}, AP {ap_text(record['AP'])} by goldyolo's evaluator)")
    return text + "".join(f"; passed over, its weights lost with an earlier run folder: {trainer(run['framework'])}, "
                          f"seed {run['seed']} (final AP50 {ap_text(run['AP50'])})" for run in passed)


def load(records: Path | str, num_classes: int):
    """(model in eval mode, ``detector.json``) of the weights kept in ``records``; InputNotFoundError when the
    weights are not there (remake them with ``keep`` from the run folder)."""
    from goldyolo.models import build_model
    from goldyolo.models.checkpoint import load_weights
    records = Path(records)
    record = json.loads((records / RECORD).read_text())
    weights = records / record["weights"]
    if not weights.is_file():
        raise InputNotFoundError(f"{weights} is missing: remake the run(s) and keep the weights "
                                 f"(python -m goldyolo_study keep-detector RUN_DIR {records})")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != record["sha256"]:
        raise InputError(f"{weights}: not the weights {records / RECORD} describes (SHA-256 differs)")
    model = load_weights(build_model(record["model"], num_classes=num_classes), weights)
    return model.eval(), record
