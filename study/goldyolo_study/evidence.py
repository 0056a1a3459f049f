"""The report's evidence in one dict, read from the committed run files (never typed in).

``gather(run_dir)`` reads what a build left under ``run_dir`` (``report/full`` for the study); a part that is
missing is left out, and the summary says so rather than showing a number from elsewhere:

* ``train``: the 30-epoch run (``train/metrics.jsonl``, ``train/config.json``): first and last loss, the
  last and best evaluated AP/AP50;
* ``long``: the 100-epoch run (``long_n320/metrics.jsonl``): epochs and last AP/AP50, its configuration and origin;
* ``compare``: ``compare_train/compare.json``'s ``summary`` (official trainer beside goldyolo's);
  ``person_compare`` the same of the person task, with its epochs and how many of its runs are finished;
* ``detector``: ``person_compare/detector.json``, the person model notebook 04 evaluates (run, epoch, AP);
* ``step_parity`` (``step_parity_320``: the run at 320 px without mosaic): ``step_parity/step_parity.json``:
  steps, and for goldyolo and the control run (the official
  trainer against itself, weights moved by 1e-7) the largest loss difference and the final weights' distance;
* ``parity``: ``parity/parity.json`` (``parity-report``): per size, goldyolo's outputs against the official
  model's on the same weights;
* ``eval_parity``: ``eval_parity/eval_parity.json`` (early 80-class weights on the 200 test images), per mode
  both APs; ``person_eval_parity`` the same of the model that detects (``person_eval_parity/eval_parity.json``);
* ``test_eval``: ``eval_test/metrics.json`` (COCO metrics of the trained run on the test split);
* ``speed``: the deploy and training-step rows of ``bench/*.json`` (``bench_suite.speed_table``);
* ``speed_ab``: ``speed_ab/speed_ab.json``, interleaved Jittor/PyTorch repeats, when present;
  ``speed_ab_elsewhere``: ``speed_ab/speed_ab_*.json``, the same command on other machines;
* ``cpu_options``: ``speed_ab/cpu_options*.json``, every CPU option in one rotation (the first file's machine
  and configuration, every file's settings), when present;
* ``cpu_options_files``: each of those files whose settings are shown, by name (the appendix's commands);
* ``anomaly``: ``anomaly/anomaly.json``, notebook 02's numbers, when present;
* ``hardware``, ``versions``: the machine line and the software versions of the bench runs;
* ``split``: images and annotations of ``train.json`` and ``test.json`` in ``splits`` (notebook 01's split,
  ``data/splits`` from the repository root), when present.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from .bench_suite import cpu_options, speed_table
from .provenance import origin_text


def _jsonl(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def training_summary(epochs: List[dict]) -> Dict[str, object]:
    """First/last loss, the last and the best evaluated AP (with AP50 and epoch) of a run's epoch records, and
    the learning rate after the first epoch where recorded."""
    evaluated = [e for e in epochs if "AP" in e]
    summary: Dict[str, object] = {"epochs": len(epochs), "loss_first": epochs[0]["loss"],
                                  "loss_last": epochs[-1]["loss"]}
    if all("time_s" in e for e in epochs):
        summary["minutes"] = sum(e["time_s"] for e in epochs) / 60  # the training loops, by the run's own clock
    if epochs[0].get("lr"):
        summary["lr_first"] = epochs[0]["lr"][0]  # the first group's rate after epoch 0 (warm-up)
    if evaluated:
        last, best = evaluated[-1], max(evaluated, key=lambda e: e["AP"])
        summary.update(AP=last["AP"], AP50=last["AP50"], last_eval_epoch=last["epoch"],
                       best_AP=best["AP"], best_AP50=best["AP50"], best_epoch=best["epoch"])
    return summary


def _split_counts(path: Path) -> List[int]:
    """[images, annotations, crowd regions among them] of a COCO json."""
    data = _json(path)
    return [len(data["images"]), len(data["annotations"]), sum(bool(a.get("iscrowd")) for a in data["annotations"])]


def gather(run_dir: Path | str, reference_runs: Path | str | None = None,
           splits: Path | str | None = "data/splits") -> Dict[str, object]:
    """The evidence found under ``run_dir`` (see the module docstring for the keys); the runs not remade by a
    report build (the long run, the comparisons, the parity runs and the interleaved timings on a quiet machine)
    come from ``reference_runs`` when given."""
    run_dir = Path(run_dir)
    reference = Path(reference_runs) if reference_runs else run_dir
    found: Dict[str, object] = {}
    train = _jsonl(run_dir / "train" / "metrics.jsonl")
    if train:
        config = _json(run_dir / "train" / "config.json")
        found["train"] = dict(training_summary(train), model=config.get("model"), img_size=config.get("img_size"))
    long = _jsonl(reference / "long_n320" / "metrics.jsonl")
    if long:
        found["long"] = dict(training_summary(long), config=_json(reference / "long_n320" / "config.json"),
                             origin=origin_text(reference / "long_n320"))
    compare = _json(reference / "compare_train" / "compare.json")
    if compare.get("summary"):
        found["compare"] = compare["summary"]
    fork = _json(reference / "compare_fork" / "compare.json")
    if fork.get("summary"):
        found["compare_fork"] = fork["summary"]
    kept = _json(reference / "person_compare" / "detector.json")
    if kept:
        found["detector"] = kept
    person = _json(reference / "person_compare" / "compare.json")
    if person.get("runs"):
        found["person_compare"] = dict(person.get("summary", {}), epochs=person["config"]["epochs"],
                                       planned=max(2, len(person["config"]["seeds"])) * 2,  # the verdict's minimum
                                       finished=sum(len(r["epochs"]) == person["config"]["epochs"]
                                                    for r in person["runs"]))
    for key, path in (("step_parity", "step_parity.json"), ("step_parity_320", "no_mosaic_320/step_parity.json")):
        steps = _json(reference / "step_parity" / path)
        if steps:
            found[key] = {"steps": steps["config"]["steps"], "model": steps["config"]["model"],
                          "img_size": steps["config"].get("img_size"),
                          "warmup_steps": steps["config"].get("warmup_steps", 0),
                          "lr_scale": steps["config"].get("lr_scale", 1.0),
                          "passed": steps.get("verdict", {}).get("passed"),
                          **{name: {"loss_max": max(steps[name]["step_differences"]["total_loss"]),
                                    "weights_rel_l2": steps[name]["weights"]["model"]["relative_l2"]}
                             for name in ("goldyolo", "control")}}
    model_parity = _json(reference / "parity" / "parity.json")
    if model_parity.get("sizes"):
        found["parity"] = model_parity["sizes"]
    evals = _json(reference / "eval_parity" / "eval_parity.json")
    if evals.get("modes"):
        found["eval_parity"] = evals["modes"]
    person_evals = _json(reference / "person_eval_parity" / "eval_parity.json")
    if person_evals.get("modes"):
        found["person_eval_parity"] = person_evals["modes"]
    test_eval = _json(run_dir / "eval_test" / "metrics.json")
    if test_eval:
        found["test_eval"] = {k: test_eval[k] for k in ("AP", "AP50") if k in test_eval}
    # the suite's own runs; *_composed_bn.json times a variant of the training step (notebook 04's kernel table)
    reports = [json.loads(p.read_text()) for p in sorted((run_dir / "bench").glob("*.json"))
               if not p.stem.endswith("_composed_bn")]
    reports = [r for r in reports if "measurements" in r]
    if reports:
        found["speed"] = speed_table(reports).to_dict("records")
        machine = reports[0]["hardware"]
        found["hardware"] = f"{machine['cpu_model']}, {machine['cpu_cores_usable']} CPU cores" + (
            f"; GPU: {', '.join(machine['gpus'])}" if machine.get("gpus") else "")
        found["versions"] = reports[0].get("versions", {})
    options = cpu_options(reference)
    if options:
        found["cpu_options"] = options
        # the files whose settings are shown, each with the configuration its command is rebuilt from
        found["cpu_options_files"] = {part["file"]: _json(reference / "speed_ab" / part["file"])
                                      for part in options["parts"]}
    split_files = {name: Path(splits) / f"{name}.json" for name in ("train", "test")} if splits else {}
    if split_files and all(path.is_file() for path in split_files.values()):
        found["split"] = {name: _split_counts(path) for name, path in split_files.items()}
    for key, path in (("speed_ab", reference / "speed_ab" / "speed_ab.json"),
                      ("anomaly", run_dir / "anomaly" / "anomaly.json")):
        if path.is_file():
            found[key] = _json(path)
    elsewhere = [_json(path) for path in sorted((reference / "speed_ab").glob("speed_ab_*.json"))]
    if elsewhere:
        found["speed_ab_elsewhere"] = elsewhere  # the same command on other machines
    return found
