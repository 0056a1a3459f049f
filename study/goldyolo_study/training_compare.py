"""Notebook 03's comparison with the official trainer, step parity, warm-up finding and long run, read
back from their json files as tables and sentences (every number comes from the file)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from goldyolo.compare.train_compare import SUMMARY_KEYS
from goldyolo.engine.solver import warmup_steps

from .runs import TrainingRun
from .style import ap_text, on_device, readable, significant


def read_json(path: Path | str) -> Optional[dict]:
    """The json at ``path``, or None when the run has not been made (the notebook then says so)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def comparison_table(result: dict) -> pd.DataFrame:
    """One row per framework and seed: epochs done, last epoch's losses, final AP/AP50 (goldyolo's
    evaluator for both) and the official evaluator's own AP where recorded."""
    rows = []
    for run in result["runs"]:
        last = run["epochs"][-1]
        evaluated = [e for e in run["epochs"] if "AP" in e]
        final = evaluated[-1] if evaluated else {}
        rows.append({"framework": run["framework"], "seed": run["seed"], "epochs": len(run["epochs"]),
                     "IoU loss": last["iou_loss"], "class loss": last["cls_loss"],
                     "AP": final.get("AP"), "AP50": final.get("AP50"),
                     "official evaluator AP": last.get("official_AP")})
    return pd.DataFrame(rows).set_index(["framework", "seed"])


def difference_table(result: dict) -> pd.DataFrame:
    """The verdict: per measure (final AP and AP50, the last epoch's losses), goldyolo's mean minus the official
    one against the larger of the two trainers' seed-to-seed spreads; empty until both have two seeds."""
    rows = {}
    for key in SUMMARY_KEYS:
        d = result["summary"].get(f"difference_{key}")
        if d:
            name = f"final {key}" if key.startswith("AP") else f"last epoch's {readable(key)}"
            difference = d["goldyolo_minus_official"]
            rows[name] = {"goldyolo − official (means)": ("+" if difference > 0 else "") + significant(difference, 3),
                          "larger seed-to-seed spread": significant(d["largest_seed_spread"], 3),
                          "verdict": "outside the spread" if d["exceeds_seed_spread"] else "within the spread"}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("measure")


def run_machines(result: dict) -> List[str]:
    """The CPU models a comparison's runs ran on (each start's record), in order; else the one it last wrote on."""
    found = [start.get("hardware", {}).get("cpu_model") for start in result.get("invocations", [])]
    found = [m for m in found if m] or [result.get("environment", {}).get("hardware", {}).get("cpu_model", "")]
    return list(dict.fromkeys(m for m in found if m))


def machines_note(name: str, result: dict, other_name: str, other: Optional[dict]) -> str:
    """A sentence naming both comparisons' machines where they differ (then float32 rounding differs too);
    empty where they ran on the same CPU model or ``other`` is missing."""
    mine, theirs = run_machines(result), run_machines(other or {})
    if other is None or mine == theirs:
        return ""
    return (f"{name} ran on {' and '.join(mine)}, {other_name} on {' and '.join(theirs)}: the machine differs as "
            "well, and with it the rounding of float32 sums")


def comparison_lines(result: dict) -> List[str]:
    """Settings, machine and each trainer's final AP; :func:`difference_table` gives the verdict."""
    cfg, env = result["config"], result["environment"]["hardware"]
    lines = [f"{cfg['model']} at {cfg['img_size']} px, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
             f"seed{'s' if len(cfg['seeds']) > 1 else ''} {', '.join(map(str, cfg['seeds']))}, "
             f"{on_device(cfg['device'])}; machine: {env['cpu_model']}, "
             f"{env['cpu_cores_usable']} cores" + (f", GPU {', '.join(env['gpus'])}" if env["gpus"] else "")]
    if cfg.get("fork_at"):
        lines.append(f"every run starts at epoch {cfg['fork_at']} from the state of one official run (seed "
                     f"{cfg['fork_seed']}, epochs 0-{cfg['fork_at'] - 1}: model, EMA, momentum, schedule position), "
                     "then draws its own random numbers from its seed")
    summary = result["summary"]
    for framework in ("goldyolo", "official"):
        if framework in summary:
            s = summary[framework]
            if len(s["final_AP"]) == 1:  # one seed: no mean, no spread
                loss = f"; last epoch's training loss {s['mean_loss']:.3f}" if "mean_loss" in s else ""
                lines.append(f"{framework}: final AP {ap_text(s['final_AP'][0])}, AP50 {ap_text(s['mean_AP50'])} (seed "
                             f"{s['seeds'][0]} alone)" + loss)
                continue
            loss = (f"; last epoch's training loss mean {s['mean_loss']:.3f}, spread {s['spread_loss']:.3f}"
                    if "mean_loss" in s else "")
            lines.append(f"{framework}: final AP {', '.join(map(ap_text, s['final_AP']))} (mean "
                         f"{ap_text(s['mean_AP'])}, spread {ap_text(s['spread_AP'], s['mean_AP'])}); AP50 mean "
                         f"{ap_text(s['mean_AP50'])}, spread {ap_text(s['spread_AP50'], s['mean_AP50'])}" + loss)
    if not any(k.startswith("difference_") for k in summary):
        lines.append("Not finished: the difference needs both frameworks' runs of at least 2 seeds; the same "
                     "command continues them")
    return lines


def phase_offsets(result: dict, stop_aug_last_n_epoch: int = 15) -> pd.DataFrame:
    """Per loss item and phase (with mosaic, without it), and for AP50 and AP over the evaluated epochs:
    goldyolo minus official, per seed (mean over the epochs, and in how many seed-epochs goldyolo is lower),
    beside the same for two seeds of one trainer (seed a minus seed b, when there are two), which shows how far
    and how persistently two runs differ by their seed. The epochs of a forked comparison's base run
    (``fork_base``) are left out."""
    # a forked comparison's first epochs are the one run all forks start from: not a comparison
    runs = {(r["framework"], r["seed"]): {e["epoch"]: e for e in r["epochs"] if not e.get("fork_base")}
            for r in result["runs"]}
    seeds = sorted({seed for _, seed in runs})
    epochs = result["config"]["epochs"]
    switch = max(epochs - stop_aug_last_n_epoch, 0)
    rows = []
    phases = {item: (("with mosaic", range(0, switch)), ("without mosaic", range(switch, epochs)))
              for item in ("iou_loss", "cls_loss", "loss")}
    phases.update({item: (("evaluated epochs", range(0, epochs)),) for item in ("AP50", "AP")})
    for item, spans in phases.items():
        for phase, span in spans:
            def diffs(a, b, item=item, span=span):
                return [runs[a][e][item] - runs[b][e][item] for e in span
                        if item in runs[a].get(e, {}) and item in runs[b].get(e, {})]
            framework = [diffs(("goldyolo", s), ("official", s)) for s in seeds]
            count = sum(len(d) for d in framework)
            if not count:
                continue
            row = {"measure": readable(item), "phase": phase,
                   "goldyolo - official, mean per seed": ", ".join(f"{sum(d) / len(d):+.4f}" for d in framework),
                   "goldyolo lower": f"{sum(v < 0 for d in framework for v in d)} of {count}"}
            for name in ("goldyolo", "official") if len(seeds) > 1 else ():  # one seed: no seed-to-seed column
                within = diffs((name, seeds[0]), (name, seeds[-1]))
                row[f"{name}: seed {seeds[0]} - seed {seeds[-1]}"] = (
                    f"{sum(within) / len(within):+.4f} ({sum(v < 0 for v in within)} of {len(within)} lower)"
                    if within else "")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["measure", "phase"])


# compare-data's shares and fractions, named as such on the page
DATA_PARITY_NAMES = {"images without boxes": "share of images without boxes",
                     "boxes under 8 px": "share of boxes under 8 px", "boxes clipped": "share of boxes clipped",
                     "box centre x": "box centre x (fraction of the width)",
                     "box centre y": "box centre y (fraction of the height)"}


def data_parity_table(result: dict) -> pd.DataFrame:
    """compare-data: each quantity's mean in both pipelines, the difference and its z (standard errors)."""
    return pd.DataFrame(result["statistics"]).T[["goldyolo", "official", "difference", "z"]].rename(
        index=lambda name: readable(DATA_PARITY_NAMES.get(name, name)))


def paired_text(table: pd.DataFrame, columns: Sequence[str], digits: int = 4) -> pd.DataFrame:
    """``table`` with ``columns`` as text, the numbers of one row at the same decimals: ``digits`` significant
    digits of the row's largest (114.7 beside 115.0, not beside 115)."""
    shown = table.astype({column: object for column in columns})
    for index, row in table[list(columns)].iterrows():
        largest = max(abs(float(v)) for v in row)
        decimals = max(0, digits - 1 - math.floor(math.log10(largest))) if largest else 0
        for column in columns:
            shown.loc[index, column] = f"{float(row[column]):,.{decimals}f}"
    return shown


def data_parity_line(result: dict) -> str:
    cfg = result["config"]
    phase = "with mosaic" if cfg["mosaic"] else "without mosaic (the last epochs' phase)"
    return (f"Both training pipelines {phase}, {cfg['img_size']} px, {result['samples']:,} samples ({cfg['passes']} "
            f"passes over the training images), {result['boxes']['goldyolo']:,} and {result['boxes']['official']:,} "
            f"boxes; z: the difference in standard errors (per box for box quantities, so boxes of one image are "
            f"counted as independent); machine: {result['environment']['hardware']['cpu_model']}; "
            + z_verdict(result["statistics"]))


def z_verdict(statistics: Dict[str, Dict]) -> str:
    """How the measures' z values stand against chance: the largest |z|, and how many exceed 1.96 beside the
    count expected when the pipelines draw the same distributions (5% of the measures)."""
    z = {name: row["z"] for name, row in statistics.items() if row.get("z") is not None and math.isfinite(row["z"])
         and not (row["z"] == 0 and row.get("difference") == 0 and row.get("goldyolo") == row.get("official") == 0)}
    constant = [name for name in statistics if name not in z and statistics[name].get("z") == 0]
    if not z:
        return "no measure has a z"
    name = max(z, key=lambda k: abs(z[k]))
    above = sum(abs(v) > 1.96 for v in z.values())
    return (f"largest |z| {abs(z[name]):.2f} ({readable(name)}); {above} of {len(z)} measures beyond |z| 1.96, "
            f"where chance alone gives about {0.05 * len(z):.1f}"
            + (f" ({', '.join(readable(c) for c in constant)}: zero on both sides, not counted)" if constant else ""))


def parity_table(result: dict) -> pd.DataFrame:
    """goldyolo and the control against the official trainer: schedule, loss per step, final weights, and
    (runs with measures) the largest measure against the control's."""
    rows = {}
    for name in ("goldyolo", "control"):
        r = result[name]
        loss = r["step_differences"]["total_loss"]
        rows[name] = {"schedule equal": "yes" if r["schedule_equal"] else "no", "loss rel. diff., step 0": loss[0],
                      "loss rel. diff., max of steps 1+": max(loss[1:]),
                      "final weights, rel. L2": r["weights"]["model"]["relative_l2"],
                      "final EMA, rel. L2": r["weights"]["ema"]["relative_l2"]}
    return pd.DataFrame(rows).T


KINDS = {"weight": "other weights", "bn_weight": "batch-norm weights", "bias": "biases",
         "bn_stat": "batch-norm statistics"}
MEASURE_NAMES = {"loss/iou": "IoU loss: median step difference", "loss/dfl": "DFL loss: median step difference",
                 "loss/cls": "class loss: median step difference",
                 **{f"model/{k}": f"{v}: change of the final weights" for k, v in KINDS.items()},
                 **{f"ema_gap/{k}": f"{v}: EMA minus model" for k, v in KINDS.items()}}


def parity_measures(result: dict) -> Optional[pd.DataFrame]:
    """Each measure of goldyolo and of the control against the official run, the limit the verdict applies
    (``compare.step_parity.check``) and whether goldyolo is within it (None for runs made before the measures
    existed)."""
    from goldyolo.compare.step_parity import TOLERANCE, limit_base
    if "measures" not in result.get("goldyolo", {}):
        return None
    gold, control = result["goldyolo"]["measures"], result["control"]["measures"]
    tolerance = result.get("verdict", {}).get("tolerance", TOLERANCE)
    rows = []
    for name in gold:
        if not (gold[name] or control[name]):
            continue
        limit = tolerance * limit_base(name, control[name])
        rows.append({"measure": MEASURE_NAMES.get(name, name), "goldyolo": gold[name], "control": control[name],
                     "limit": limit, "within": "yes" if gold[name] <= limit else "no"})
    return pd.DataFrame(rows).set_index("measure")


def parity_line(result: dict) -> str:
    cfg = result["config"]
    steps = result["steps"]["official"]
    updates = sum(s["optimizer_step"] for s in steps)
    line = (f"{cfg['model']}, {cfg['img_size']} px, batch {cfg['batch_size']}, {cfg['steps']} steps in epochs of "
            f"{cfg['steps_per_epoch']}, {updates} of them optimizer steps (the others accumulate)")
    if cfg.get("warmup_steps"):
        line += (f"; warm-up {cfg['warmup_steps']} steps, cosine over {cfg['epochs']} epochs, learning rates "
                 f"x{cfg['lr_scale']:g}, EMA started as after {cfg['ema_start_updates']:,} updates, "
                 + (("augmented batches" + (" (mosaic)" if cfg.get("mosaic", True) else " without mosaic"))
                    if cfg.get("augment") else "batches without augmentation"))
    line += (f"; control: initial weights moved by {cfg['control']:g}; machine: "
             f"{result['environment']['hardware']['cpu_model']}")
    if "step_differences" in result.get("goldyolo", {}):
        ends = {name: (max(result[name]["step_differences"]["total_loss"]),
                       result[name]["weights"]["model"]["relative_l2"]) for name in ("goldyolo", "control")}
        line += (f". Total loss: largest step difference {ends['goldyolo'][0]:.1e} (relative; control "
                 f"{ends['control'][0]:.1e}); final weights {ends['goldyolo'][1]:.1e} from the official run's "
                 f"(relative L2; control {ends['control'][1]:.1e})")
    verdict = result.get("verdict")
    if verdict:
        line += (f". Verdict: {'passed' if verdict['passed'] else 'failed'} (schedule equal, every measure within "
                 f"{verdict['tolerance']:g} x the control's)")
    return line


def warmup_length(run: TrainingRun) -> tuple:
    """(iterations per epoch, warm-up iterations) of ``run``: the official max(3 epochs, 1,000 iterations)."""
    config, history = run.config, run.history
    # images_per_s x time_s = steps x batch (metrics of the first epoch, which skipped no step)
    steps_per_epoch = round(history.images_per_s.iloc[0] * history.time_s.iloc[0] / config["batch_size"])
    return steps_per_epoch, warmup_steps(3.0, steps_per_epoch, config.get("min_warmup_steps", 1000))


def warmup_lines(run: TrainingRun) -> List[str]:
    """The warm-up of ``run``'s schedule: its length in iterations and epochs, where the learning rate
    peaked and what it reached, from the run's own records."""
    config, history = run.config, run.history
    steps_per_epoch, total = warmup_length(run)
    conv_lr = history.lr.map(lambda groups: groups[1])
    peak = int(conv_lr.idxmax())
    evaluated = history.dropna(subset=["AP"]) if "AP" in history else history.iloc[:0]
    warm = evaluated[evaluated.epoch < total / steps_per_epoch]
    lines = [f"{steps_per_epoch} iterations per epoch; warm-up max(3 epochs, 1,000 iterations) = {total:,} iterations "
             f"= {total / steps_per_epoch:.1f} of the {config['epochs']} epochs",
             f"conv-weight learning rate: peak {conv_lr.iloc[peak]:.3g} at the end of epoch "
             f"{int(history.epoch.iloc[peak])}, {conv_lr.iloc[-1]:.3g} at the end"]
    if len(warm) and len(evaluated):
        best = evaluated.loc[evaluated.AP50.idxmax()]
        lines.append(f"AP50 at the last evaluation inside the warm-up (epoch {int(warm.epoch.iloc[-1])}): "
                     f"{warm.AP50.iloc[-1]:.4f}; highest AP50 {best.AP50:.4f} at epoch {int(best.epoch)}")
    return lines


def recipe_line(run: TrainingRun, study: TrainingRun) -> str:
    """``run``'s conv-weight learning rate after epoch 0 against ``study``'s: with the same model, batch and
    warm-up the two agree exactly when the recipe is the same."""
    rate, study_rate = run.history.lr.iloc[0][1], study.history.lr.iloc[0][1]
    ratio = rate / study_rate
    if abs(ratio - 1) < 0.01:
        return (f"conv-weight learning rate after epoch 0: {rate:.3g}, as in the study run above ({study_rate:.3g}), "
                "so the same recipe")
    return (f"conv-weight learning rate after epoch 0: {rate:.3g}, {ratio:.2g} times the study run's "
            f"({study_rate:.3g}), so a different recipe")


def long_run_table(run: TrainingRun) -> pd.DataFrame:
    """The evaluated epochs of a long run: AP, AP50 and the conv-weight learning rate."""
    rows = run.history.dropna(subset=["AP"])
    return pd.DataFrame({"epoch": rows.epoch, "AP": rows.AP, "AP50": rows.AP50,
                         "lr (conv weights)": rows.lr.map(lambda groups: groups[1])}).set_index("epoch")


def schedule_rows(result: dict) -> Dict[str, List[float]]:
    """Per framework (seed 0 when present), the conv-weight learning rate at each epoch's end."""
    found = {}
    for run in result["runs"]:
        if run["framework"] not in found or run["seed"] == 0:
            found[run["framework"]] = [e["lr"][1] for e in run["epochs"]]
    return found


PRECISION_ITEMS = ("iou_loss", "cls_loss", "loss")


def _goldyolo_runs(result: dict) -> Dict[int, Dict[int, dict]]:
    """seed -> epoch -> record of a compare.json's goldyolo runs."""
    return {r["seed"]: {e["epoch"]: e for e in r["epochs"]} for r in result["runs"] if r["framework"] == "goldyolo"}


BF16_INSIDE = "bf16 within float32 mean ± spread"


def precision_table(bf16: dict, float32: dict, stop_aug_last_n_epoch: int = 15) -> pd.DataFrame:
    """goldyolo trained with bf16 convolutions against the same trainer in float32 (each seed from the same
    initial weights), per loss item: the per-epoch difference bf16 - float32 of the same seed (mean over the
    epochs both have, per seed, also split where mosaic stops; in how many seed-epochs bf16 is lower), beside
    float32's own seed-to-seed
    difference; the last epoch's mean of each precision, float32's seed spread there, and whether the bf16
    mean lies within float32's mean plus or minus that spread."""
    half, full = _goldyolo_runs(bf16), _goldyolo_runs(float32)
    seeds = sorted(set(half) & set(full))
    full_seeds = sorted(full)
    last = bf16["config"]["epochs"] - 1
    rows = []
    for item in PRECISION_ITEMS:
        paired = [[half[s][e][item] - full[s][e][item] for e in sorted(half[s]) if e in full[s]] for s in seeds]
        count = sum(len(d) for d in paired)
        switch = max(bf16["config"]["epochs"] - stop_aug_last_n_epoch, 0)
        phases = {phase: [[half[s][e][item] - full[s][e][item] for e in span if e in half[s] and e in full[s]]
                          for s in seeds]
                  for phase, span in (("with mosaic", range(0, switch)),
                                      ("without mosaic", range(switch, bf16["config"]["epochs"])))}
        within = [full[full_seeds[0]][e][item] - full[full_seeds[-1]][e][item] for e in sorted(full[full_seeds[0]])
                  if e in full[full_seeds[-1]]] if len(full_seeds) > 1 else []
        row = {"item": "total loss" if item == "loss" else readable(item),
               "bf16 - float32, same seed (mean per seed)": ", ".join(f"{sum(d) / len(d):+.4f}" for d in paired if d),
               "bf16 lower": f"{sum(v < 0 for d in paired for v in d)} of {count}",
               **{f"{phase}: bf16 - float32 (per seed)": ", ".join(f"{sum(d) / len(d):+.4f}" for d in diffs if d)
                  for phase, diffs in phases.items()},
               f"float32: seed {full_seeds[0]} - seed {full_seeds[-1]}":
                   f"{sum(within) / len(within):+.4f}" if within else ""}
        finals_half = [half[s][last][item] for s in seeds if last in half[s]]
        finals_full = [full[s][last][item] for s in full_seeds if last in full[s]]
        if finals_half and len(finals_full) > 1:
            mean_half, mean_full = sum(finals_half) / len(finals_half), sum(finals_full) / len(finals_full)
            spread = max(finals_full) - min(finals_full)
            row.update({"last epoch: bf16 mean": f"{mean_half:.4f}", "float32 mean": f"{mean_full:.4f}",
                        "float32 seed spread": f"{spread:.4f}",
                        BF16_INSIDE: "yes" if abs(mean_half - mean_full) <= spread else "no"})
        rows.append(row)
    return pd.DataFrame(rows).set_index("item")


def precision_lines(bf16: dict, float32: dict) -> List[str]:
    """The two runs' settings, the last AP of each, and the verdict read from :func:`precision_table`."""
    cfg, env = bf16["config"], bf16["environment"]["hardware"]
    half, full = _goldyolo_runs(bf16), _goldyolo_runs(float32)
    lines = [f"{cfg['model']} at {cfg['img_size']} px, batch {cfg['batch_size']}, {cfg['epochs']} epochs, seeds "
             f"{', '.join(map(str, sorted(half)))}, goldyolo's trainer with bf16 convolutions "
             f"({cfg.get('precision', 'float32')}), each seed from the same official initialisation as the "
             f"float32 runs of the same seed; machine: {env['cpu_model']}, {env['cpu_cores_usable']} cores"]
    note = machines_note("the bf16 runs", bf16, "the float32 runs", float32)
    lines += [note] if note else []
    for name, runs in (("bf16", half), ("float32", full)):
        finals = [max((e for e in runs[s].values() if "AP" in e), key=lambda e: e["epoch"], default=None)
                  for s in sorted(runs)]
        finals = [f for f in finals if f]
        epochs = {f["epoch"] for f in finals}
        at = f" (epoch {epochs.pop()})" if len(epochs) == 1 else ""  # one epoch for all is said once
        lines.append(f"{name}: last AP{at} " + ", ".join(f"{f['AP']:#.3g}" + ("" if at else f" (epoch {f['epoch']})")
                                                         for f in finals)
                     + "; AP50 " + ", ".join(f"{f['AP50']:#.3g}" for f in finals))
    table = precision_table(bf16, float32)
    if BF16_INSIDE in table:
        inside = [item for item, ok in table[BF16_INSIDE].items() if ok == "yes"]
        outside = [item for item in table.index if item not in inside]
        lines.append("last epoch: bf16's mean within float32's mean ± its seed spread for "
                     f"{', '.join(inside) or 'no item'}" + (f"; outside for {', '.join(outside)}" if outside else ""))
    else:
        lines.append("Not finished: the verdict needs the last epoch of the bf16 runs; the same command continues them")
    return lines


def precision_curves(bf16: dict, float32: dict):
    """IoU and class loss per epoch: goldyolo in float32 (blue) and with bf16 convolutions (green), line style by
    seed, the official trainer's float32 runs in grey for scale."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    styles = ["-", "--", ":", "-."]
    runs = [("float32", r) for r in float32["runs"]] + [("bf16", r) for r in bf16["runs"]]
    seeds = sorted({r["seed"] for _, r in runs})
    for name, run in runs:
        colour = "0.6" if run["framework"] == "official" else ("tab:green" if name == "bf16" else "tab:blue")
        label = "official, float32" if run["framework"] == "official" else f"goldyolo, {name}"
        epochs = [e["epoch"] for e in run["epochs"]]
        for ax, item in zip(axes, ("iou_loss", "cls_loss")):
            ax.plot(epochs, [e[item] for e in run["epochs"]], color=colour, lw=1.2,
                    linestyle=styles[seeds.index(run["seed"]) % 4], label=f"{label}, seed {run['seed']}")
    for ax, title in zip(axes, ("IoU loss (mean per epoch)", "class loss (mean per epoch)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=9)  # one legend, both panels
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def weights_phrase(path: str) -> str:
    """Which trained model a weights path of a compare-train run folder (``.../seed_S/FRAMEWORK/NAME.pkl``) holds:
    the trainer, seed and checkpoint."""
    parts = Path(path).parts
    if len(parts) < 3 or not parts[-3].startswith("seed_"):
        return "one trained model's EMA weights"
    return (f"the EMA weights of {parts[-2]}'s seed-{parts[-3].removeprefix('seed_')} model of a trainer "
            f"comparison ({Path(path).stem} checkpoint)")


def signed(value: float) -> str:
    """A difference with its sign, two significant digits, no exponent (beside numbers written without one)."""
    return ("+" if value >= 0 else "-") + significant(abs(value), 2) if value else "0"


def bf16_inference_lines(result: dict) -> List[str]:
    """``compare-precision``'s json in sentences: how far bf16 convolutions move a trained model's deploy outputs,
    and its COCO metrics in both precisions."""
    cfg, o = result["config"], result["outputs"]
    boxes, scores = o["boxes_px"], o["scores"]
    coco, diff = result["coco"], result["coco_difference"]
    return [f"{weights_phrase(cfg['weights'])} on {result['num_images']} test images at {cfg['img_size']} px, "
            f"deploy form; {result['hardware']['cpu_model']}",
            f"boxes of the {o['kept_anchors']:,} anchors the evaluation keeps (class score ≥ {cfg['conf_thres']}): "
            f"bf16 - float32 median {boxes['median']:.2g} px, 99th percentile {boxes['p99']:.2g} px, largest "
            f"{boxes['max']:.2g} px",
            f"class scores (every anchor and class): median {significant(scores['median'], 2)}, 99th percentile "
            f"{significant(scores['p99'], 2)}, largest {significant(scores['max'], 2)} (largest float32 score "
            f"{o['largest_score']:.3g}); the same best class for {100 * o['same_best_class']:.3f}% of the kept anchors",
            f"COCO AP float32 {coco['float32']['AP']:.5f}, bf16 {coco['bf16']['AP']:.5f} "
            f"({signed(diff['AP'])}); AP50 {coco['float32']['AP50']:.5f}, {coco['bf16']['AP50']:.5f} "
            f"({signed(diff['AP50'])}); detections "
            f"{coco['float32']['num_detections']:,} and {coco['bf16']['num_detections']:,}"]
