"""The study's run records (training, over-fit, soak) read back as tables and sentences."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pandas as pd

from goldyolo.errors import InputNotFoundError

from .style import ap_text, checks_in_words, model_label, on_device, readable


@dataclass
class TrainingRun:
    """What ``python -m goldyolo train`` left in its folder: settings, one row per epoch, data-check counts."""
    config: dict
    history: pd.DataFrame
    data_check: Dict[str, int]

    @property
    def epochs_done(self) -> int:
        """Epochs logged so far (they count from 0)."""
        return int(self.history.epoch.max()) + 1


def read_history(run: Path | str) -> pd.DataFrame:
    """``metrics.jsonl`` of a training folder, one row per epoch."""
    return pd.DataFrame([json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()])


def load_training(run: Path | str) -> TrainingRun:
    """The training run in folder ``run``; InputNotFoundError (a FileNotFoundError) before its first epoch."""
    run = Path(run)
    if not (run / "metrics.jsonl").exists():
        raise InputNotFoundError(f"no training run in {run}: run the command above (or python -m goldyolo_study "
                                 "report)")
    return TrainingRun(json.loads((run / "config.json").read_text()), read_history(run),
                       json.loads((run / "data_report.json").read_text())["counts"])


def training_lines(run: TrainingRun, machine: str) -> List[str]:
    """Settings, progress, data check, machine and time of ``run``; a last line when epochs remain."""
    config, history = run.config, run.history
    lines = [f"{config['model']} at {config['img_size']} px, batch {config['batch_size']}, seed {config['seed']}, "
             f"{on_device(config['device'])}; {run.epochs_done} of {config['epochs']} epochs done",
             f"data check of the training images: {checks_in_words(run.data_check)}",
             f"this notebook executed on: {machine}",
             f"training time: {history.time_s.sum() / 60:.1f} min in the training loops; median epoch "
             f"{history.time_s.median():.0f} s ({epoch_images(history) / history.time_s.median():.1f} images/s), "
             f"slowest {history.time_s.max():.0f} s (the first epoch of a process compiles Jittor's kernels); the "
             "run's own clock, not a timing: other work may have shared its cores"]
    if run.epochs_done < config["epochs"]:
        lines.append(f"The run is not finished: {config['epochs'] - run.epochs_done} epochs remain; "
                     "the same command continues it.")
    return lines


def epoch_images(history: pd.DataFrame) -> float:
    """Images per epoch of a training history (its logged rate times its logged time, the median over epochs)."""
    return float((history.images_per_s * history.time_s).median())


def protocol_estimate(run: TrainingRun, run_gflops: float, s640_gflops: float) -> float:
    """Hours the original protocol (Gold-YOLO-S, 640 px, the run's epochs) takes at the run's speed.

    The median epoch's time is taken to grow with the GFLOPs per image (training form) of model and size."""
    return run.history.time_s.median() * s640_gflops / run_gflops * run.config["epochs"] / 3600


EPOCH_COLUMNS = ["epoch", "loss", "iou_loss", "dfl_loss", "cls_loss", "AP50", "AP", "time_s", "skipped_steps"]


def epoch_table(run: TrainingRun) -> Tuple[pd.DataFrame, List[str]]:
    """The per-epoch table of ``run`` (indexed by epoch) without the columns that are zero at every epoch, and one
    line per column left out (the DFL loss of a model trained without DFL, the skipped steps of a clean run)."""
    table = run.history[[c for c in EPOCH_COLUMNS if c in run.history]].set_index("epoch")
    zero = [c for c in ("dfl_loss", "skipped_steps") if c in table and (table[c].fillna(0) == 0).all()]
    why = {"dfl_loss": f" ({run.config['model']} trains without DFL, as in the official configuration)"
           if run.config.get("model") == "gold_yolo-n" else "", "skipped_steps": " (no non-finite step)"}
    return table.drop(columns=zero), [f"{c}: 0 at every epoch{why[c]}" for c in zero]


def final_line(run: TrainingRun) -> str:
    """First and last epoch's loss, the best epoch's AP and the non-finite steps skipped."""
    history = run.history
    best = history.loc[history.AP.idxmax()]
    last = run.epochs_done - 1
    where = "the last epoch" if int(best.epoch) == last else f"epoch {int(best.epoch)}"
    return (f"loss {history.loss.iloc[0]:.3f} (epoch 0) -> {history.loss.iloc[-1]:.3f} (epoch {last}); "
            f"highest AP {best.AP:.4f} at {where} (AP50 there {best.AP50:.4f}); "
            f"skipped non-finite steps: {int(history.skipped_steps.iloc[-1])}")


def trained_weights(run: Path | str) -> Path:
    """``best.pkl`` of a training folder, else ``last.pkl``; InputNotFoundError (a FileNotFoundError) when
    neither exists."""
    run = Path(run)
    weights = run / "best.pkl" if (run / "best.pkl").exists() else run / "last.pkl"
    if not weights.exists():
        raise InputNotFoundError(f"no trained model in {run}: run notebook 03's training command first")
    return weights


def overfit_line(summary: dict) -> str:
    """The over-fit run's final AP, loss and time from its ``summary.json``."""
    final = summary["final"]
    return (f"after {summary['config']['epochs']} epochs: AP50 {final['AP50']:.3f}, AP {final['AP']:.3f}, "
            f"training loss {final['loss']:.3f}; {summary['wall_time_s'] / 60:.1f} min of wall time by its own clock")


def overfit_overlap(summary: dict, test_json: Path | str) -> List[int]:
    """Image ids the over-fit run trained on that are also in the test split (its config names its data and
    how many of the first images it used)."""
    import json

    from goldyolo.data import CocoSource
    config = summary["config"]
    used = CocoSource(Path(config["data"]), Path(config["images"])).records[:config["subset"]]
    test = {image["id"] for image in json.loads(Path(test_json).read_text())["images"]}
    return sorted(r.image_id for r in used if r.image_id in test)


def soak_line(soak: dict) -> str:
    """Resident memory over the soak run (start, after the warm-up, end, slope) from its ``soak.json``."""
    s, cfg = soak["summary"], soak["config"]
    return (f"{cfg['model']}, {cfg['img_size']} px, batch {cfg['batch_size']}, {soak['iterations']:,} iterations "
            f"on {soak['cpu']}: RSS {s['rss_start_mib']:.0f} MiB at the start, {s['rss_after_warmup_mib']:.0f} "
            f"after {s['warmup_iterations']:,} iterations, {s['rss_end_mib']:.0f} at the end (max "
            f"{s['rss_max_mib']:.0f}); after the warm-up {s['rss_slope_mib_per_1000_iterations']:+.1f} MiB per "
            f"1,000 iterations; live Jittor variables {live_vars_text(s['live_vars_after_warmup'])}; "
            + (f"below the tolerance of {s['tolerance_mib_per_1000_iterations']:g} MiB per 1,000 iterations"
               if s["flat"] else f"above the tolerance of {s['tolerance_mib_per_1000_iterations']:g} MiB per 1,000 "
               "iterations: memory grows"))


def live_vars_text(values) -> str:
    """The soak's live-variable counts after the warm-up (a list of samples) in words."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(set(values)) == 1:
        return f"{values[0]:,} at every sample"
    return f"{min(values):,} to {max(values):,}"


def eval_parity_table(result: dict) -> pd.DataFrame:
    """``compare-eval``'s json, one row per evaluation mode: both evaluators' AP and AP50, the input shapes
    that agree and the detections matched one to one (with the largest differences among them)."""
    rows = []
    for mode, entry in result.get("modes", {}).items():
        shapes, found = entry.get("input_shapes", {}), entry.get("detections", {})
        rows.append({"mode": readable(mode),
                     "official AP": ap_text(entry["official"]["AP"]), "goldyolo AP": ap_text(entry["goldyolo"]["AP"]),
                     "official AP50": ap_text(entry["official"]["AP50"]),
                     "goldyolo AP50": ap_text(entry["goldyolo"]["AP50"]),
                     "input shapes equal": f"{shapes['equal']} of {shapes['images']}" if shapes else "",
                     "detections matched": f"{found['matched']:,} of {found['official']:,}" if found else "",
                     "largest box / score difference": (f"{found['largest_box_difference_px']:.1g} px / "
                                                        f"{found['largest_score_difference']:.1g}") if found else ""})
    return pd.DataFrame(rows)


def ground_truth_lines(same: dict, rebuilt: dict, trainer_ap: Optional[float] = None,
                       trainer_mode: Optional[dict] = None) -> List[str]:
    """What the ground truth alone does to the official evaluator's AP: ``compare-eval`` of the same weights
    scoring against goldyolo's annotations (``same``) and against the boxes it rebuilds from the label files
    (``rebuilt``, ``--no-same-ground-truth``), per mode both hold; with ``trainer_ap`` (the official trainer's own AP
    of the same weights) what neither mode nor ground truth accounts for, measured when ``trainer_mode`` (compare-eval's
    ``trainer`` mode on the rebuilt boxes) is given."""
    modes = [m for m in rebuilt.get("modes", {}) if m in same.get("modes", {})]
    if not modes:
        return []
    parts = []
    for mode in modes:
        a, b = same["modes"][mode]["official"], rebuilt["modes"][mode]["official"]
        parts.append(f"{readable(mode)}: AP {a['AP']:.4f} -> {b['AP']:.4f}, AP50 {a['AP50']:.4f} -> "
                     f"{b['AP50']:.4f}")
    matched = "; ".join(f"{readable(m)} {d['matched']:,} of {d['official']:,}" for m in modes
                        for d in [rebuilt["modes"][m].get("detections")] if d)
    return ["the official evaluator scored against the boxes it rebuilds from the label files (as for a user's "
            "YOLO dataset and inside the official trainer) instead of the test json"
            + (f", its detections matched one to one with goldyolo's as above ({matched})" if matched else "")
            + ": " + "; ".join(parts),
            "the label files hold no crowd regions, so a detection on a crowd region is a false positive there "
            "and ignored by pycocotools on the json: the official trainer's own AP of notebook 03 (aspect-ratio "
            "batches, rebuilt boxes) and goldyolo's evaluator (square, the json) differ by mode and ground "
            "truth, not by evaluator"] + residual_lines(rebuilt, trainer_ap, trainer_mode, same)


def residual_lines(rebuilt: dict, trainer_ap: Optional[float], trainer_mode: Optional[dict] = None,
                   same: Optional[dict] = None) -> List[str]:
    """The official trainer's own AP of the weights against ``tools/eval.py``'s in rect mode on the same rebuilt
    boxes; with ``trainer_mode``, the measured cause (the load size) and the gap to goldyolo's square AP taken
    apart; else the likely cause read from the official code, marked as not measured."""
    rect = rebuilt.get("modes", {}).get("rect", {}).get("official")
    trainer = (trainer_mode or {}).get("modes", {}).get("trainer")
    square = (same or {}).get("modes", {}).get("square", {}).get("goldyolo")
    if trainer and square:
        found = trainer.get("detections", {})
        own = (f": the trainer's own AP ({trainer_ap:.4f})" if trainer_ap is not None else
               " (what the official trainer would log for these weights; they were not trained by it)")
        return [f"evaluated as the official trainer evaluates during training (its own test loader reads the images "
                f"at the training size, {trainer_mode['config']['img_size']} px, where the script's rect mode reads "
                f"them at 640 px and shrinks them; the training-form model), the official evaluator gives "
                f"{trainer['official']['AP']:.4f} on the rebuilt boxes{own}. "
                f"goldyolo's evaluator with the same inputs ({trainer['input_shapes']['equal']} of "
                f"{trainer['input_shapes']['images']} shapes equal, {found.get('matched', 0):,} of "
                f"{found.get('official', 0):,} detections matched) gives {trainer['goldyolo']['AP']:.4f} against the "
                f"json. So from the trainer's evaluation to goldyolo's square evaluation ({square['AP']:.4f}): ground "
                f"truth {trainer['goldyolo']['AP'] - trainer['official']['AP']:+.4f}, then batches and load size "
                f"{square['AP'] - trainer['goldyolo']['AP']:+.4f}"
                + (f"; the script's rect mode ({rect['AP']:.4f} on the rebuilt boxes) differs from the trainer's "
                   "evaluation by its load size alone" if rect else "")]
    if trainer_ap is None or not rect:
        return []
    return [f"the official trainer's own AP of these weights, from its evaluation during training, is "
            f"{trainer_ap:.4f}; the official evaluation script in rect mode on the same rebuilt boxes gives "
            f"{rect['AP']:.4f}, so "
            f"{trainer_ap - rect['AP']:+.4f} is neither mode nor ground truth. Not measured here; the likely cause, "
            "read from the official code: the trainer evaluates its training-form EMA model through its own test "
            "loader, which reads the images at the training size, where the script switches the model to its "
            "deploy form and reads the images at 640 px before shrinking them"]


def eval_parity_lines(result: dict, rebuilt_truth: bool = False) -> List[str]:
    """What the evaluator comparison covers, and the AP level at which its AP agreement speaks; ``rebuilt_truth``
    when the official trainer scores these data against boxes rebuilt from the label files (not COCO's 80)."""
    cfg, env = result["config"], result.get("environment", {})
    hardware = env.get("hardware", {})
    modes = result.get("modes", {})
    best = max((max(m["official"]["AP50"], m["goldyolo"]["AP50"]) for m in modes.values()), default=0.0)
    images = max((m.get("input_shapes", {}).get("images", 0) for m in modes.values()), default=0)
    lines = [f"the same {model_label(cfg['model'])} weights in both evaluators, on {images or 'the'} test images at "
             f"{cfg['img_size']} px, batch {cfg['batch_size']}; {hardware.get('cpu_model', '?')}, "
             f"{env.get('date', '?')[:10]}"]
    shown = ap_text(best)  # the precision of the AP tables beside it
    if best < 0.05:
        lines.append(f"these weights reach AP50 {shown} at most: at that level an equal AP says little (a "
                     "detector that finds nothing gives equal APs too), so the evidence is the detection-by-"
                     "detection match of the whole post-processing")
    else:
        lines.append(f"these weights reach AP50 {shown} (the highest of the modes): the AP agreement speaks for the "
                     "evaluation of a model that detects, beside the detection-by-detection match")
    if "square" in modes and "rect" in modes:
        square, rect = modes["square"]["official"]["AP"], modes["rect"]["official"]["AP"]
        lines.append(f"the mode alone moves the AP of the same weights from {ap_text(square)} (square) to "
                     f"{ap_text(rect)} "
                     f"(rect, aspect-ratio batches; x{rect / square:.2f}), equally in both evaluators: where the "
                     "official trainer's own AP (rect) and goldyolo's evaluator (square) differ in notebook 03, "
                     + ("part of the gap is their mode, the rest their ground truth (below), none of it their "
                        "evaluator" if rebuilt_truth else
                        "part of the gap can be their mode; none of it is their evaluator, and what else differs "
                        "(their ground truth) was not measured on these weights")
                     if square > 0 else "")
    return [line for line in lines if line]
