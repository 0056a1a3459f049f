"""The report's first and last pages: headline results, conclusion and appendix, written from the evidence
(``evidence.gather``) and the executed notebooks' run records, never typed in."""
from __future__ import annotations

from typing import Dict, List, Optional

import pandas as pd

from .bench_suite import ab_verdict
from .profiles import parameters, training_command
from .style import readable

NOT_YET = "not in this build"


def _ap(entry: Dict, prefix: str = "") -> str:
    return f"AP {entry[prefix + 'AP']:.4f}, AP50 {entry[prefix + 'AP50']:.4f}"


def run_text(run: Dict, model: Optional[str], img_size: Optional[int]) -> str:
    """A training run's last evaluated AP, and its best where another epoch had it."""
    return (f"{model} at {img_size} px, {run['epochs']} epochs: last {_ap(run)}"
            + (" (also its best evaluated epoch)" if run["best_AP"] == run["AP"]
               else f" (best {_ap(run, 'best_')}, epoch {run['best_epoch']})"))


def compare_text(compare: Dict, key: str = "AP") -> str:
    """Final ``key`` (AP or AP50) of each framework (mean over seeds, spread) and whether they differ beyond the
    seed spread, else how many runs are finished when the evidence says."""
    if not compare:
        return NOT_YET
    parts = [f"{name}: {key} {e[f'mean_{key}']:.4f} (spread {e[f'spread_{key}']:.4f}) over seeds "
             f"{', '.join(map(str, e['seeds']))}" if len(e["seeds"]) > 1 else
             f"{name}: {key} {e[f'mean_{key}']:.4f} (seed {e['seeds'][0]} alone)"
             for name, e in compare.items() if name in ("goldyolo", "official")]
    diff = compare.get(f"difference_{key}")
    if diff:
        parts.append("the difference " + ("exceeds" if diff["exceeds_seed_spread"] else "is within")
                     + " the seed-to-seed spread")
        outside = [name for name, item in (("training loss", "loss"), ("IoU loss", "iou_loss"),
                                           ("class loss", "cls_loss"))
                   if compare.get(f"difference_{item}", {}).get("exceeds_seed_spread")]
        if outside:
            parts.append(f"at the last epoch the {' and the '.join(outside)} "
                         f"{'differs' if len(outside) == 1 else 'differ'} by more than it")
    elif "planned" in compare:
        parts.append(f"{compare['finished']} of {compare['planned']} runs finished")
    else:
        parts.append("not all seeds finished yet")
    return "; ".join(parts)


def detector_text(kept: Dict) -> str:
    """The model that detects, from its ``detector.json``: which run and its AP on the test images."""
    if not kept:
        return NOT_YET
    trainer = "the official trainer" if kept["framework"] == "official" else "goldyolo's trainer"
    return (f"{kept['model']} at {kept['img_size']} px trained by {trainer} (seed {kept['seed']}, epoch "
            f"{kept['epoch']}), scored by goldyolo's evaluator: " + _ap(kept))


def eval_parity_headline(modes: Dict) -> str:
    """Both evaluators' AP per mode and the detections matched, for the headline table."""
    if not modes:
        return NOT_YET
    return "; ".join(f"{readable(mode)}: AP {m['official']['AP']:.4f} (official) vs {m['goldyolo']['AP']:.4f}, "
                     f"{m['detections']['matched']:,} of {m['detections']['official']:,} detections matched"
                     for mode, m in modes.items())


def eval_parity_text(evals: Dict[str, Dict]) -> str:
    """compare-eval's modes in one clause: the modes, the APs of both evaluators (once where they agree at the
    shown precision, with the AP itself since it may be too small to show much), input shapes and detections
    summed over the modes."""
    entries = list(evals.values())
    lows = [min(e["official"]["AP"], e["goldyolo"]["AP"]) for e in entries]
    fmt = (lambda ap: "{:.4f}".format(ap)) if min(lows) >= 0.01 else (lambda ap: "{:.1e}".format(ap))
    pairs = [(fmt(e["official"]["AP"]), fmt(e["goldyolo"]["AP"])) for e in entries]
    modes = ", ".join(evals)
    if all(a == b for a, b in pairs):
        text = f"in each of its modes ({modes}) the same AP in both ({', '.join(a for a, _ in pairs)})"
    else:
        text = f"in its modes ({modes}) AP " + "; ".join(f"{a} vs {b}" for a, b in pairs) + " (official vs goldyolo)"
    shapes = [e["input_shapes"] for e in entries if e.get("input_shapes")]
    if shapes:
        equal, images = sum(x["equal"] for x in shapes), sum(x["images"] for x in shapes)
        text += (", every input shape equal" if equal == images else f", {equal:,} of {images:,} input shapes equal")
    found = [e["detections"] for e in entries if e.get("detections")]
    if found:
        matched, total = sum(x["matched"] for x in found), sum(x["official"] for x in found)
        box = max(x["largest_box_difference_px"] for x in found)
        score = max(x["largest_score_difference"] for x in found)
        text += (f" and {matched:,} of {total:,} detections matched within {box:.1g} px and {score:.1g} in score"
                 + (f" (over the {len(found)} modes)" if len(found) > 1 else ""))
    return text


def long_lr_note(evidence: Dict) -> str:
    """How the long run's learning rate compares with the study run's (same model, batch and warm-up, so the
    rate after epoch 0 differs only with the recipe); empty when they agree or either is unrecorded."""
    first, long_first = evidence.get("train", {}).get("lr_first"), evidence.get("long", {}).get("lr_first")
    if not first or not long_first or abs(long_first / first - 1) < 0.01:
        return ""
    return (f"at {long_first / first:.2g} times the study run's learning rate: an earlier trainer's recipe, which "
            "did not scale the learning rate to the batch as the official one does")


def speed_text(evidence: Dict) -> str:
    """Jittor/PyTorch time ratios, interleaved with intervals where measured."""
    ab = evidence.get("speed_ab", {}).get("settings", [])
    if ab:
        machine = evidence["speed_ab"].get("hardware", {}).get("cpu_model")
        def key(setting):
            return tuple(setting.get(k) for k in ("model", "img_size", "batch", "mode"))
        here = {key(setting) for setting in ab}
        elsewhere = [(other.get("hardware", {}).get("cpu_model", "another CPU"),
                      [setting["ratio"] for setting in other.get("settings", []) if key(setting) in here])
                     for other in evidence.get("speed_ab_elsewhere", [])]
        return (f"on {machine}: " if machine else "") + "; ".join(
            f"{s['model']} {s['img_size']} px batch {s['batch']} {s['mode']}: {s['ratio']:.2f} "
            f"(95% {s['ci_low']:.2f}–{s['ci_high']:.2f}, {ab_verdict(s)})" for s in ab) + "".join(
            f"; on {name}, {len(r)} of these settings give {min(r):.2f}–{max(r):.2f} (notebook 04)"
            for name, r in elsewhere if r)
    rows = [r for r in evidence.get("speed", []) if r.get("Jittor / PyTorch") == r.get("Jittor / PyTorch")
            and r.get("Jittor / PyTorch") is not None]
    if not rows:
        return NOT_YET
    return "one run each, not interleaved: " + "; ".join(
        f"{r['model']} {r['size']} px batch {r['batch']} {r['form']}: {r['Jittor / PyTorch']:.2f}" for r in rows)


GOLDYOLO_VARIANTS = {"jittor": "goldyolo float32", "jittor-ownconv": "goldyolo float32 with Jittor's own convolution",
                     "jittor-bf16": "goldyolo bf16"}


def cpu_options_text(evidence: Dict) -> str:
    """The CPU-options run in one sentence: over its settings, the range of goldyolo's times in float32 and bf16
    and of the fastest other option's (named), each relative to PyTorch eager float32 in the same rotation;
    notebook 04 gives every setting."""
    settings = evidence.get("cpu_options", {}).get("settings", [])
    if not settings:
        return NOT_YET

    def span(values: List[float]) -> str:
        return f"{min(values):.2f}" if len(set(f"{v:.2f}" for v in values)) == 1 else \
            f"{min(values):.2f}–{max(values):.2f}"
    parts = []
    for key, name in GOLDYOLO_VARIANTS.items():
        ratios = [s["variants"][key]["ratio_to_torch"] for s in settings if key in s["variants"]]
        if ratios:
            parts.append(f"{name} {span(ratios)}")
    fastest = [min((v for k, v in s["variants"].items() if not k.startswith("jittor") and k != "torch"),
                   key=lambda v: v["median_ms"], default=None) for s in settings]
    fastest = [v for v in fastest if v is not None]
    if fastest:
        names = list(dict.fromkeys(v["description"] for v in fastest))
        parts.append(f"the fastest other option ({' or '.join(names)}) {span([v['ratio_to_torch'] for v in fastest])}")
    return f"over {len(settings)} settings (notebook 04 gives each): " + ", ".join(parts)


def parity_text(parity: Dict) -> str:
    """The largest differences from the official model's outputs over the sizes measured."""
    if not parity:
        return NOT_YET
    worst = {key: max(entry[key] for entry in parity.values())
             for key in ("deploy_box_px", "deploy_score", "train_cls_vs_official", "train_reg_vs_official")}
    return (f"{', '.join(size.upper() for size in parity)} on the same weights: deploy boxes within "
            f"{worst['deploy_box_px']:.1e} px, scores {worst['deploy_score']:.1e}; training-mode outputs "
            f"{worst['train_cls_vs_official']:.1e} (class) and {worst['train_reg_vs_official']:.1e} (box)")


# the record folder behind each headline row (under REFERENCE_RUNS, or the profile's RUN_DIR for its own runs)
HEADLINE_RECORDS = {"Outputs equal to the official model's": "parity", "Trained here": "train",
                    "Trained longer": "long_n320", "Beside the official trainer": "compare_train",
                    "A model that detects: person alone": "person_compare",
                    "Beside the official trainer, person alone": "person_compare",
                    "Evaluator beside the official one": "person_eval_parity",
                    "Speed, Jittor / PyTorch time": "speed_ab/speed_ab.json",
                    "Every CPU option, time / PyTorch eager float32": "speed_ab/cpu_options*.json",
                    "Peak process memory, batch 1": "bench/gold_yolo-*_640.json"}  # folder[/the files read]


def headline_table(evidence: Dict, s_deploy, reference_runs: Optional[str] = None,
                   run_dir: Optional[str] = None) -> pd.DataFrame:
    """The summary page's results: what was measured, the number, where it comes from and, given the record
    folders, the commits of the runs that made it (:func:`goldyolo_study.provenance.origin`)."""
    train, long = evidence.get("train", {}), evidence.get("long", {})
    peak = [r for r in evidence.get("speed", []) if r["form"] == "deploy" and r["batch"] == 1]
    rows = [
        ("Outputs equal to the official model's", parity_text(evidence.get("parity", {})),
         "04: the model comparison; the official weights cannot be downloaded here, so equal outputs on the same "
         "weights stand in for the paper's AP"),
        ("Gold-YOLO-S, deploy form", f"{s_deploy.params / 1e6:.2f}M parameters, {s_deploy.gflops:.2f} GFLOPs at 640 px",
         "04; the official code counts the same"),
        ("Trained here", run_text(train, train.get("model"), train.get("img_size")) if "AP" in train else NOT_YET,
         "03, 04: the 200 test images, pycocotools"),
        ("Trained longer", run_text(long, readable(long.get("config", {}).get("model", "")),
                                   long.get("config", {}).get("img_size")) if "AP" in long else NOT_YET,
         "03: the long run" + (f" ({long_lr_note(evidence)})" if long_lr_note(evidence) else "")),
        ("A model that detects: person alone", detector_text(evidence.get("detector", {})),
         "03, 04: the 200 test images, person the only class; its detections drawn in 04"),
        ("Beside the official trainer", compare_text(evidence.get("compare", {})), "03: both trainers, 2 seeds"),
        ("Beside the official trainer, person alone", compare_text(evidence.get("person_compare", {}), "AP50"),
         "03: both trainers on the person task"),
        ("Evaluator beside the official one", eval_parity_headline(evidence.get("person_eval_parity", {})),
         "04: the same weights (the person model) in both evaluators, each mode"),
        ("Speed, Jittor / PyTorch time", speed_text(evidence), "04: below 1 favours Jittor"),
        ("Every CPU option, time / PyTorch eager float32", cpu_options_text(evidence),
         "04: one rotation of all options, with intervals and memory"),
        ("Peak process memory, batch 1", "; ".join(f"{r['model']} {r['size']} px: {r['peak RSS MiB']:.0f} MiB"
                                                   for r in peak) or NOT_YET, "04"),
    ]
    person = evidence.get("person_compare", {})
    if person and "difference_AP50" not in person:  # no verdict yet: the conclusion lists it under what is left
        rows = [row for row in rows if row[0] != "Beside the official trainer, person alone"]
    table = pd.DataFrame(rows, columns=["result", "measured here", "where"])
    table["measured here"] = table["measured here"].map(readable)
    if reference_runs is not None:
        from .provenance import BUILD, origin, record_folder
        commits, machines = [], []
        for result in table.result:
            name, _, files = HEADLINE_RECORDS.get(result, "").partition("/")
            found = origin(record_folder(name, reference_runs, run_dir), files or None) if name else None
            commits.append(BUILD if found is None else ", ".join(found.commits)
                           or (BUILD if found.source == BUILD else "-"))
            machines.append("" if found is None else ", ".join(found.machines) or "-")
        table["commit"] = commits
        table["machine"] = machines
    return table


def verdict_counts(register: pd.DataFrame) -> Dict[str, int]:
    """How many claims got each verdict."""
    return {k: int(v) for k, v in register.verdict.value_counts().items()}


COMMANDS: List[tuple] = [
    ("dataset split (01)", "python -m goldyolo data split --ann ../shared/coco_subset/instances.json "
                           "--out data/splits"),
    ("loss anomaly (02)", "python -m goldyolo_study report --profile full --only 02 --no-train"),
    ("training (03)", ""),
    ("a longer run (03)", ""),
    ("beside the official trainer (03)", "python -m goldyolo compare-train --torch-reference PATH --out RUN_DIR "
                                         "--records report/full/compare_train"),
    ("the last 15 epochs from one state (03)", "python -m goldyolo compare-train --torch-reference PATH --fork-at 15 "
                                                "--eval-interval 0 --out RUN_DIR --records report/full/compare_fork"),
    ("bf16 training (03)", "python -m goldyolo compare-train --torch-reference PATH --frameworks goldyolo --precision "
                           "bf16 --out RUN_DIR --records report/full/compare_bf16"),
    ("bf16 inference (03)", "python -m goldyolo compare-precision --weights WEIGHTS "
                            "--out report/full/precision/precision.json"),
    ("training pipelines side by side (03)", "python -m goldyolo compare-data --torch-reference PATH --passes 12"),
    ("step parity (03)", "python -m goldyolo compare-steps --torch-reference PATH"),
    ("the person task (03)", "python -m goldyolo data classes --ann data/splits/train.json data/splits/test.json "
                             "--classes person --keep-empty --out data/person"),
    ("both trainers, person alone (03)", "python -m goldyolo compare-train --torch-reference PATH --data "
                                         "data/person/train.json --val-data data/person/test.json --epochs 150 "
                                         "--eval-interval 10 --out RUN_DIR --records report/full/person_compare; "
                                         "python -m goldyolo_study keep-detector RUN_DIR report/full/person_compare"),
    ("evaluation parity, person model (04)", "python -m goldyolo compare-eval --torch-reference PATH --weights "
                                             "report/full/person_compare/weights/best_run_ema.npz --data "
                                             "data/person/test.json --img-size 320 --out OUT; the same with "
                                             "--modes square rect --no-same-ground-truth, and with --modes trainer "
                                             "--no-same-ground-truth"),
    ("evaluation parity, early weights (04)", "python -m goldyolo compare-eval --torch-reference PATH --weights "
                                              "EMA_EPOCH11.npz --img-size 640 --batch-size 32 --out OUT "
                                              "(EMA_EPOCH11.npz: the EMA weights of goldyolo's seed-0 run beside the "
                                              "official trainer after epoch 11 of 30, not committed)"),
    ("model parity (04)", "python -m goldyolo parity-report --out report/full/parity/parity.json"),
    ("over-fit proof (04)", "python -m goldyolo overfit --data ../shared/coco_subset/instances.json --images "
                            "../shared/coco_subset/images --out RUN_DIR"),
    ("benchmark (04)", ""),
    ("speed, interleaved (04)", ""),
    ("every CPU option (04)", ""),
    ("where the time goes (04)", "python -m goldyolo bench --model gold_yolo-n --img-size 640 --fused --precision P "
                                 "--runs 20 --warmup 3 --profile-ops --out report/full/bench/remaining/"
                                 "n640_deploy_P.json; python -m goldyolo bench --model gold_yolo-n --img-size 320 "
                                 "--batch 8 --fused --train-step --precision P --runs 5 --warmup 2 --profile-ops "
                                 "--out report/full/bench/remaining/n320_b8_train_P.json (P: float32, then bf16)"),
    ("memory over 2,000 training steps (04)", "python -m goldyolo soak --data data/splits/train.json --images "
                                              "../shared/coco_subset/images --batch-size 4 --out OUT"),
    ("ONNX export (04)", "python -m goldyolo export WEIGHTS --model gold_yolo-n (writes the ONNX file and checks it "
                         "against onnxruntime)"),
    ("whole report", "python -m goldyolo_study report --profile full"),
]


def speed_ab_command(result: Dict, out: str = "report/full/speed_ab/speed_ab.json") -> str:
    """The ``speed-ab`` command that made ``result`` (its json), from the configuration it records."""
    cfg = result.get("config", {})
    names = ("settings", "runs", "warmup", "invocations") + (("variants",) if "," in cfg.get("variants", "") and
                                                              cfg.get("variants") != "jittor,torch" else ())
    options = "".join(f" --{name} {cfg[name]}" for name in names if name in cfg)
    return f"python -m goldyolo speed-ab --torch-reference PATH{options} --out {out}"


# train's options for the keys of a run's config.json, in the order the command gives them
TRAIN_OPTIONS = ("model", "data", "images", "val_data", "val_images", "img_size", "epochs", "batch_size", "seed",
                 "device", "eval_interval")


def train_config_command(config: Dict) -> str:
    """The ``python -m goldyolo train`` command of a run from its ``config.json`` (its output folder RUN_DIR)."""
    options = "".join(f" --{key.replace('_', '-')} {config[key]}" for key in TRAIN_OPTIONS if key in config)
    return f"python -m goldyolo train{options} --out RUN_DIR"


def bench_commands(profile: str = "full") -> str:
    """The benchmark children notebook 04 runs in ``profile``, as commands writing to report/full/bench."""
    from .bench_suite import bench_command, suite_jobs
    values = parameters(profile, False)
    jobs = suite_jobs(values["BENCH_MODELS"], values["BENCH_SIZE"], values["BENCH_BATCHES"], values["BENCH_TRAIN"])
    return "; ".join(" ".join(["python"] + bench_command(job, f"report/full/bench/{job.name}.json",
                                                          values["BENCH_RUNS"], plot=False)[1:]) for job in jobs)


def commands_table(evidence: Optional[Dict] = None) -> pd.DataFrame:
    """Appendix: the command behind each part of the report (PATH: Detection/Gold-YOLO of the official code);
    the training command is the full CPU profile's, the interleaved timing's and the longer run's the ones their
    records give."""
    evidence = evidence or {}
    train = ["python"] + training_command(parameters("full", False), resume=False)[1:]
    options = evidence.get("cpu_options_files", {})
    long = evidence.get("long", {})
    made = {"training (03)": " ".join(train), "speed, interleaved (04)": speed_ab_command(evidence.get(
        "speed_ab", {})), "every CPU option (04)": "; ".join(
        speed_ab_command(result, f"report/full/speed_ab/{name}") for name, result in options.items())
        or "python -m goldyolo speed-ab --torch-reference PATH --variants VARIANTS --out OUT",
        "benchmark (04)": bench_commands(),
        "a longer run (03)": (train_config_command(long["config"]) + f"; it ran at {long['origin']}"
                              + (f", {long_lr_note(evidence)} (this command now trains at the official rate)"
                                 if long_lr_note(evidence) else "")
                              if long.get("config") else "python -m goldyolo train --epochs 300 --out RUN_DIR")}
    return pd.DataFrame([(part, made.get(part, command)) for part, command in COMMANDS], columns=["part", "command"])


def conclusion_lines(evidence: Dict, register: pd.DataFrame) -> List[str]:
    """Markdown: what held, what did not, what is left, each sentence's numbers from ``evidence``."""
    held, failed, undecided, left = [], [], [], []
    if evidence.get("parity"):
        held.append("The model is Gold-YOLO: " + parity_text(evidence["parity"]) + ".")
    steps = evidence.get("step_parity")
    if steps:
        scope = (f", {steps['warmup_steps']} of them warm-up, at learning rates x{steps['lr_scale']:g} on both sides"
                 if steps.get("warmup_steps") else " inside the warm-up")
        held.append(f"One training step at a time, goldyolo's optimizer, schedule and EMA follow the official "
                    f"trainer's: over {steps['steps']} steps of {steps['model']}{scope}, the loss differs by at most "
                    f"{steps['goldyolo']['loss_max']:.1e} (relative) and the final weights by "
                    f"{steps['goldyolo']['weights_rel_l2']:.1e} (relative L2), as far as the official trainer differs "
                    f"from itself when its initial weights move by 1e-7 ({steps['control']['loss_max']:.1e}, "
                    f"{steps['control']['weights_rel_l2']:.1e})" + _steps_320(evidence.get("step_parity_320"))
                    + "; whole runs are compared only against the seed spread (notebook 03).")
    person_evals, evals = evidence.get("person_eval_parity"), evidence.get("eval_parity")
    if person_evals:
        best = max(m["official"]["AP50"] for m in person_evals.values())
        held.append(f"goldyolo's evaluator gives the official evaluator's results on a model that detects (person "
                    f"alone, AP50 up to {best:.3f}): " + eval_parity_text(person_evals) + ".")
    if evals:
        held.append(("On early 80-class weights that detect almost nothing, where only the detection-by-detection "
                     "match speaks: " if person_evals else
                     "goldyolo's evaluator gives the official evaluator's results on the same trained weights: ")
                    + eval_parity_text(evals) + ".")
    compare = evidence.get("compare", {})
    diff = compare.get("difference_AP")
    weak = too_weak(compare)
    if diff:
        sort_by_spread(diff["exceeds_seed_spread"], weak, held, failed, undecided).append(
            f"Trained side by side for the full schedule, the two trainers' final AP differ by "
            f"{diff['goldyolo_minus_official']:+.4f}, " + ("more" if diff["exceeds_seed_spread"] else "less")
            + f" than the largest seed-to-seed spread ({diff['largest_seed_spread']:.4f}).")
        loss = compare.get("difference_loss")
        if loss:
            sort_by_spread(loss["exceeds_seed_spread"], weak, held, failed, undecided).append(
                f"Their last epoch's training loss differs by {loss['goldyolo_minus_official']:+.3f}, "
                + ("more" if loss["exceeds_seed_spread"] else "less")
                + f" than the largest seed-to-seed spread ({loss['largest_seed_spread']:.3f}).")
        parts = [(name, compare[f"difference_{key}"]) for name, key in (("IoU", "iou_loss"), ("class", "cls_loss"))
                 if f"difference_{key}" in compare]
        outside = [f"{name} loss {d['goldyolo_minus_official']:+.4f} against a spread of {d['largest_seed_spread']:.4f}"
                   for name, d in parts if d["exceeds_seed_spread"]]
        if outside:
            seeds = len(compare.get("goldyolo", {}).get("seeds", []))
            signs = {d["goldyolo_minus_official"] > 0 for _, d in parts}
            total_inside = loss is not None and not loss["exceeds_seed_spread"]
            sort_by_spread(True, weak, held, failed, undecided).append(
                "Of the loss's parts, " + " and ".join(outside) + (" lies" if len(outside) == 1 else " lie")
                + " outside the seed spread at the last epoch"
                + (" (the parts differ in opposite directions, so the total stays inside)"
                   if total_inside and len(signs) == 2 else "")
                + f"; with {seeds} seeds per trainer the spread itself is one draw (notebook 03, where the "
                "comparison's caveats are listed).")
    fork = evidence.get("compare_fork")
    if fork and fork_text(fork):
        exceeds = any(fork[f"difference_{k}"]["exceeds_seed_spread"] for k, _ in FORK_MEASURES
                      if f"difference_{k}" in fork)
        sort_by_spread(exceeds, too_weak(fork), held, failed, undecided).append(fork_text(fork))
    else:
        left.append("The side-by-side training with the official trainer has not finished all its seeds "
                    "(notebook 03 shows the runs done so far).")
    person_compare_lines(evidence.get("person_compare"), held, failed, left)
    counts = verdict_counts(register)
    claims = (f"Of the earlier report's {len(register)} claims (summary page): "
              + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) + ".")
    train, long = evidence.get("train", {}), evidence.get("long", {})
    if "AP" in train and "AP" in long:
        failed.append(f"From scratch on 800 images, {train['model']} at {train['img_size']} px reaches AP "
                      f"{train['AP']:.4f} after {train['epochs']} epochs and {long['AP']:.4f} after "
                      f"{long['epochs']}" + (f" ({long_lr_note(evidence)})" if long_lr_note(evidence) else "")
                      + ": far from the paper's COCO numbers, which come from 118,000 training images, "
                      "300 epochs at 640 px and distillation.")
    if "gpu" not in evidence:
        left.append("Training on a GPU, where the earlier report trained (an RTX 4060): nothing here ran on a GPU, "
                    "and goldyolo's CUDA path is untested until it does.")
    if "AP" in long and long_lr_note(evidence):
        left.append(f"The {long['epochs']}-epoch run again with the study run's (the official) learning rate.")
    left.append("The paper's COCO AP with the official weights: they cannot be downloaded on this machine; "
                "where they can, the package converts them and evaluates them on COCO val2017 (below).")
    fold = seed_fold(compare)
    groups = [("What held", held), ("What did not", failed),
              (f"Too weak to decide (both trainers below AP {WEAK_AP:g}"
               + (f", where two seeds of one trainer differ up to {fold:.1f}-fold" if fold else "") + ")", undecided),
              ("What is left", left)]
    return [readable(claims), ""] + [line for title, lines in groups if lines for line in
                                     [f"**{title}**", ""] + [f"- {readable(text)}" for text in lines] + [""]][:-1]


def _steps_320(steps: Optional[Dict]) -> str:
    """The step-parity run on the study's images (320 px, mosaic off) as a clause; empty where not run."""
    if not steps:
        return ""
    return (f"; on the study's images at {steps['img_size']} px without mosaic, {steps['goldyolo']['loss_max']:.1e} "
            f"and {steps['goldyolo']['weights_rel_l2']:.1e} against the control's "
            f"{steps['control']['loss_max']:.1e} and {steps['control']['weights_rel_l2']:.1e}")


def seed_fold(compare: Dict) -> Optional[float]:
    """The largest ratio between two seeds' final AP of one trainer in a ``compare.json`` summary."""
    folds = [max(e["final_AP"]) / min(e["final_AP"]) for name in ("goldyolo", "official")
             for e in [compare.get(name, {})] if len(e.get("final_AP", [])) > 1 and min(e["final_AP"]) > 0]
    return max(folds) if folds else None


WEAK_AP = 0.01  # a training comparison whose runs all end below this AP cannot tell two trainers apart


def too_weak(compare: Dict) -> bool:
    """Whether every framework of a ``compare.json`` summary ends below :data:`WEAK_AP` (mean over seeds)."""
    means = [compare[name]["mean_AP"] for name in ("goldyolo", "official") if "mean_AP" in compare.get(name, {})]
    return bool(means) and max(means) < WEAK_AP


def sort_by_spread(exceeds: bool, weak: bool, held: List[str], failed: List[str], undecided: List[str]) -> List[str]:
    """The conclusion's list for a difference: undecided when the runs are too weak, else by the seed spread."""
    return undecided if weak else (failed if exceeds else held)


FORK_MEASURES = (("loss", "training loss"), ("iou_loss", "IoU loss"), ("cls_loss", "class loss"), ("AP", "AP"),
                 ("AP50", "AP50"))


def fork_text(fork: Dict) -> str:
    """The last 15 epochs run again from one common state: which last-epoch differences between the trainers lie
    inside the larger seed-to-seed spread and which outside, each with its numbers."""
    sides: Dict[bool, List[str]] = {False: [], True: []}
    for key, name in FORK_MEASURES:
        d = fork.get(f"difference_{key}")
        if d:
            sides[d["exceeds_seed_spread"]].append(f"{name} {d['goldyolo_minus_official']:+.3g} against "
                                                   f"{d['largest_seed_spread']:.3g}")
    if not (sides[False] or sides[True]):
        return ""
    seeds = len(fork.get("goldyolo", {}).get("seeds", []))
    parts = [f"inside the larger seed-to-seed spread: {', '.join(sides[False])}"] if sides[False] else []
    parts += [f"outside it: {', '.join(sides[True])}"] if sides[True] else []
    return ("The last 15 epochs run again by both trainers from one common state after epoch 14, "
            f"{seeds} seeds each, last epoch, goldyolo minus official: " + "; ".join(parts)
            + (f" (notebook 03; at a mean AP of {fork['official']['mean_AP']:.1g} the AP differences say nothing "
               "about detection)." if "official" in fork else " (notebook 03)."))


def person_compare_lines(person: Optional[Dict], held: List[str], failed: List[str], left: List[str]) -> None:
    """The comparison on the person task in the conclusion: its AP50 verdict once both trainers have two
    finished seeds, else how many of its runs are finished."""
    if not person:
        return
    diff = person.get("difference_AP50")
    if diff:
        (failed if diff["exceeds_seed_spread"] else held).append(
            f"On a task this CPU can learn (person alone, {person['epochs']} epochs), the two trainers' final AP50 "
            f"(goldyolo {person['goldyolo']['mean_AP50']:.3f}, official {person['official']['mean_AP50']:.3f}, "
            f"means of {len(person['goldyolo']['seeds'])} seeds) differ by {diff['goldyolo_minus_official']:+.4f}, "
            + ("more" if diff["exceeds_seed_spread"] else "less")
            + f" than the largest seed-to-seed spread ({diff['largest_seed_spread']:.4f}).")
    else:
        left.append(f"Both trainers on the person task: {person['finished']} of its {person['planned']} runs "
                    "finished (notebook 03 shows them); the verdict needs two seeds of each.")


COCO_TRAIN_IMAGES = 118_287  # COCO train2017, the paper's training set
RECIPE_EPOCHS = 300          # each of the official recipe's two steps (official README)


def reproduction_lines(evidence: Dict, flops_640: Dict[str, float]) -> List[str]:
    """What training Gold-YOLO to the paper's AP would cost on the machine of the CPU-options run: the official
    recipe (two steps of 300 epochs at 640 px on COCO train2017), priced from the measured training step of N at
    320 px, scaled by pixels (x4 to 640 px) and, for the other sizes, by their GFLOPs at 640 px (``flops_640``:
    model -> GFLOPs); an estimate, and a lower bound for the second step, whose teacher adds a forward pass."""
    steps = [s for s in evidence.get("cpu_options", {}).get("settings", [])
             if s["mode"] == "train_step" and s["model"] == "gold_yolo-n"]
    if not steps:
        return [NOT_YET]
    step = max(steps, key=lambda s: s["batch"])
    hardware = evidence["cpu_options"]["hardware"]
    images = COCO_TRAIN_IMAGES * RECIPE_EPOCHS * 2
    lines = [f"The official recipe trains each model twice for {RECIPE_EPOCHS} epochs at 640 px on COCO train2017 "
             f"({COCO_TRAIN_IMAGES:,} images): first with the anchor-aided branch, then distilled from that first "
             f"model; {images / 1e6:.0f} million training images in all, on 8 GPUs in the official commands.",
             f"Measured here ({hardware['cpu_model']}, {hardware['cpu_cores_usable']} cores): one training step of "
             f"Gold-YOLO-N at {step['img_size']} px, batch {step['batch']}, takes "]
    per_image = {}
    for key, name in (("jittor", "goldyolo float32"), ("jittor-bf16", "goldyolo bf16"),
                      ("torch", "PyTorch float32"), ("torch-bf16", "PyTorch bf16")):
        if key in step["variants"]:
            per_image[name] = step["variants"][key]["median_ms"] / step["batch"]
    lines[-1] += ", ".join(f"{ms:.0f} ms per image ({name})" for name, ms in per_image.items()) + "."
    scale = (640 / step["img_size"]) ** 2
    ours = {name: ms for name, ms in per_image.items() if name.startswith("goldyolo")}
    for model, gflops in flops_640.items():
        factor = scale * gflops / flops_640["gold_yolo-n"]
        how = "by pixels" if model == "gold_yolo-n" else (f"by pixels and GFLOPs ({gflops:.1f} against "
                                                          f"{flops_640['gold_yolo-n']:.1f})")
        days = ", ".join(f"{images * ms * factor / 1e3 / 86_400:,.0f} days ({name})" for name, ms in ours.items())
        lines.append(f"{model_label_short(model)} at 640 px, scaled {how}: about {days} on that CPU, an "
                     "estimate from the per-image cost alone.")
    lines.append("A lower bound: in the second step each image also passes through the teacher (the first step's "
                 "model, in inference), which these figures leave out, as they leave out evaluation.")
    return lines


def model_label_short(model: str) -> str:
    """``gold_yolo-s`` -> ``Gold-YOLO-S``."""
    return "Gold-YOLO-" + model.split("-")[-1].upper()


# where the official Gold-YOLO README links its released checkpoints (one folder for N, S, M and L)
OFFICIAL_WEIGHTS_URL = "https://drive.google.com/drive/folders/1dd2KJjYfHrXwKasfjDeL1eLX0Vp6UaLG"


def official_weights_commands() -> pd.DataFrame:
    """The route to the paper's AP for a reader who has the official weights and COCO val2017."""
    return pd.DataFrame([
        (f"convert the official checkpoint (no PyTorch needed; Gold_s_pre_dist.pt and the other sizes are in the "
         f"folder the official README links, {OFFICIAL_WEIGHTS_URL})",
         "python -m goldyolo convert --model gold_yolo-s Gold_s_pre_dist.pt Gold_s_pre_dist.pkl"),
        ("evaluate it as the official evaluator does (square 640 px, conf 0.03, IoU 0.65; the file's name picks "
         "the official load size)",
         "python -m goldyolo eval --weights Gold_s_pre_dist.pkl --model gold_yolo-s --data "
         "annotations/instances_val2017.json --images val2017 --reproduce-640-eval")], columns=["step", "command"])
