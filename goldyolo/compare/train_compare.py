"""``compare-train``: goldyolo's trainer and the official one on the same data, side by side.

For each seed: the official model's initialisation is exported once (``init.npz``, official code and
seed) and both trainers start from it; the COCO split is written once in the official YOLO layout
(:mod:`goldyolo.data.yolo_format`). The official trainer runs in a PyTorch child process
(:mod:`goldyolo.compare.official_trainer`), goldyolo's :class:`~goldyolo.engine.trainer.Trainer` in
this one, with the same model, image size, batch, epochs, workers and device. Both are evaluated by
goldyolo's evaluator (pycocotools, conf 0.03, IoU 0.65, 300 detections, square letterbox) on the same
test images at the same epochs: goldyolo's EMA by its trainer, the official EMA from the weights the
child saves. The official evaluator's own AP (its rect batches) is recorded at those epochs besides.

Everything is resumable: run the same command again and each part continues where it stopped
(goldyolo from ``last.pkl``, the official trainer from the harness's float32 ``resume.pt``). Across
machines, ``records`` keeps what a finished run's results are made of (:data:`RUN_RECORDS`, the settings
and the invocations; no weights): copied into ``out`` at the start, so that its finished runs are not run
again, and written back with ``compare.json`` and ``compare.png`` at the end. Output in ``out``:
``data/`` (YOLO layout), ``seed_S/{init.npz, goldyolo/, official/}``, ``invocations.jsonl`` (date, machine
and commit of each start), ``compare.json``, ``compare.png``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import GoldYoloError, InputError
from ..eval.evaluate import evaluate
from ..models import build_model
from ..models.checkpoint import load_weights
from ..utils.machine import portable_path

FRAMEWORKS = ("goldyolo", "official")
# official files the child runs, besides configs/MODEL.py
OFFICIAL_FILES = ("tools/train.py", "tools/eval.py", "yolov6/core/engine.py", "yolov6/core/evaler.py",
                  "yolov6/data/datasets.py", "yolov6/models/yolo.py", "yolov6/utils/envs.py")


@dataclass
class CompareConfig:
    """A comparison run; the defaults are the reference comparison (N, 320 px, the 800/200 split)."""
    torch_reference: str = ""
    model: str = "gold_yolo-n"
    data: str = "data/splits/train.json"
    images: str = "../shared/coco_subset/images"
    val_data: str = "data/splits/test.json"
    val_images: str = "../shared/coco_subset/images"
    img_size: int = 320
    epochs: int = 30
    batch_size: int = 16
    seeds: Tuple[int, ...] = (0, 1)
    frameworks: Tuple[str, ...] = FRAMEWORKS
    device: str = "cpu"
    workers: int = 0
    eval_interval: int = 5
    out: str = "runs/compare_train"
    records: str = ""
    fork_at: int = 0
    fork_seed: int = 0
    precision: str = "float32"  # goldyolo's CPU convolutions (the official trainer is always float32)


class ChildFailedError(GoldYoloError, RuntimeError):
    """The official trainer's process failed."""


def check_official(path: str, model: str) -> Path:
    """The official folder, after checking PyTorch and the files the child runs."""
    if importlib.util.find_spec("torch") is None:
        raise InputError("compare-train runs the official PyTorch trainer: install PyTorch "
                         "(python -m pip install -e '.[torch]')")
    root = Path(path)
    for name in (f"configs/{model}.py",) + OFFICIAL_FILES:
        if not (root / name).is_file():
            raise InputError(f"--torch-reference {path}: {name} is missing (pass the Detection/Gold-YOLO folder "
                             "of a huawei-noah/Efficient-Computing checkout)")
    return root.resolve()


# settings a run folder's results depend on: continuing it with others would mix two comparisons
FIXED = ("model", "data", "images", "val_data", "val_images", "img_size", "epochs", "batch_size", "eval_interval",
         "fork_at", "fork_seed", "precision")


def check_same_settings(cfg: CompareConfig, path: Path) -> None:
    """Record the run's settings in ``path`` the first time; later, refuse other values of :data:`FIXED`."""
    mine = {k: getattr(cfg, k) for k in FIXED}
    if not path.is_file():
        path.write_text(json.dumps(mine, indent=1))
        return
    saved = dict({k: getattr(CompareConfig, k) for k in FIXED}, **json.loads(path.read_text()))
    changed = [f"--{k.replace('_', '-')} {saved[k]!r} -> {v!r}" for k, v in mine.items() if saved[k] != v]
    if changed:
        raise InputError(f"{path.parent} holds a comparison made with other settings ({'; '.join(changed)}): "
                         "use another --out, or the same settings to continue it")


# the small files a finished run's results are made of (its weights are not needed once it is finished)
RUN_RECORDS = ("metrics.jsonl", "goldyolo_eval.json")
FORK_BASE_RECORD = "fork_base/official/metrics.jsonl"  # the run a forked comparison's runs start from


def finished_runs(folder: Path, cfg: CompareConfig) -> List[Path]:
    """``seed_S/FRAMEWORK`` of each run in ``folder`` that has all its epochs."""
    return [Path(f"seed_{seed}") / framework for seed in cfg.seeds for framework in FRAMEWORKS
            if len(read_lines(folder / f"seed_{seed}" / framework / "metrics.jsonl")) >= cfg.epochs]


def copy_records(source: Path, dest: Path, cfg: CompareConfig, replace: bool) -> List[str]:
    """Copy the records of ``source``'s finished runs (and its settings and invocations) to ``dest``;
    a run ``dest`` already has is kept unless ``replace``. Returns the runs copied."""
    copied = []
    for run in finished_runs(source, cfg):
        if (dest / run / "metrics.jsonl").is_file() and not replace:
            continue
        (dest / run).mkdir(parents=True, exist_ok=True)
        for name in RUN_RECORDS:
            if (source / run / name).is_file():
                shutil.copyfile(source / run / name, dest / run / name)
        copied.append(str(run))
    for name in ("settings.json", "invocations.jsonl", FORK_BASE_RECORD):
        if (source / name).is_file() and (replace or not (dest / name).is_file()):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, dest / name)
    return copied


def eval_epochs(epochs: int, interval: int) -> List[int]:
    """Epochs evaluated by goldyolo's trainer: every ``interval``-th and the last."""
    return [e for e in range(epochs) if e == epochs - 1 or (interval > 0 and (e + 1) % interval == 0)]


def run_official(cfg: CompareConfig, root: Path, spec: Dict, log: Path, ok: Sequence[int] = (0,)) -> None:
    """Run the official child with ``spec``; its output goes to ``log``; an exit status not in ``ok`` fails."""
    from .torch_side import jittor_threads
    spec = dict(spec, root=str(root), model=cfg.model, threads=jittor_threads())
    log.parent.mkdir(parents=True, exist_ok=True)
    spec_file = log.with_suffix(".spec.json")
    spec_file.write_text(json.dumps(spec, indent=1))
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    with open(log, "a") as handle:
        done = subprocess.run([sys.executable, "-m", "goldyolo.compare.official_trainer", str(spec_file)],
                              stdout=handle, stderr=subprocess.STDOUT, env=env)
    if done.returncode not in ok:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
        raise ChildFailedError(f"the official trainer failed (exit status {done.returncode}); log {log}:\n{tail}")


def read_lines(path: Path) -> List[Dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def evaluate_official(cfg: CompareConfig, folder: Path, num_classes: int, val_source) -> Dict[int, Dict]:
    """goldyolo's evaluation of the official EMA weights saved in ``folder/ema``; cached in ``goldyolo_eval.json``."""
    cache_file = folder / "goldyolo_eval.json"
    cache = {int(k): v for k, v in json.loads(cache_file.read_text()).items()} if cache_file.is_file() else {}
    for weights in sorted((folder / "ema").glob("epoch_*.npz")):
        epoch = int(weights.stem.split("_")[1])
        if epoch in cache:
            continue
        model = load_weights(build_model(cfg.model, num_classes=num_classes), weights)
        metrics = evaluate(model, val_source, cfg.img_size, cfg.batch_size, cfg.workers)
        cache[epoch] = {k: metrics[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")}
        cache_file.write_text(json.dumps(cache, indent=1))
    return cache


def train_spec(cfg: CompareConfig, data_yaml: Path, out: Path, save_ema_epochs: Sequence[int]) -> Dict:
    """The official child's ``train`` settings (besides seed, classes and init)."""
    return dict(mode="train", data_yaml=str(data_yaml.resolve()), img_size=cfg.img_size, batch_size=cfg.batch_size,
                epochs=cfg.epochs, workers=cfg.workers, device=cfg.device, out=str(out.resolve()),
                save_ema_epochs=list(save_ema_epochs))


def prepare_fork(cfg: CompareConfig, root: Path, data_yaml: Path, num_classes: int) -> Path:
    """The state every run starts from with ``fork_at``: the official trainer of ``fork_seed`` trained from its
    initialisation up to epoch ``fork_at - 1`` (``fork_base/``), handed to the official runs of every seed (each
    with its own random generators) and written by name to ``fork_base/state.npz`` for goldyolo's. Returns it."""
    from .official_trainer import STOPPED
    base = Path(cfg.out) / "fork_base"
    init, state = base / "init.npz", base / "state.npz"
    common = {"num_classes": num_classes, "seed": cfg.fork_seed, "init": str(init.resolve())}
    if not init.is_file():
        run_official(cfg, root, dict(common, mode="init"), base / "init.log")
    if len(read_lines(base / "official" / "metrics.jsonl")) < cfg.fork_at:
        run_official(cfg, root, dict(common, **train_spec(cfg, data_yaml, base / "official", []),
                                     stop_after_epoch=cfg.fork_at - 1),
                     base / "official" / "stdout.log", ok=(0, STOPPED))
    targets = [{"seed": seed, "out": str((Path(cfg.out) / f"seed_{seed}" / "official").resolve())}
               for seed in cfg.seeds if "official" in cfg.frameworks]
    run_official(cfg, root, dict(common, mode="fork", base=str((base / "official").resolve()),
                                 state=str(state.resolve()), targets=targets), base / "fork.log")
    return state


def fork_goldyolo(trainer, state_file: Path, base_lines: Sequence[Dict]) -> None:
    """Put the fork's state (model, EMA, momentum, counters) into a new goldyolo ``trainer`` and give its run
    the base's metrics lines, so that it continues after the base's last epoch as a resumed run would."""
    from ..models.checkpoint import load_state_dict_strict
    from ..runtime import jt
    with np.load(state_file) as archive:
        state = {k: archive[k] for k in archive.files}
    load_state_dict_strict(trainer.model, {k[6:]: v for k, v in state.items() if k.startswith("model/")})
    load_state_dict_strict(trainer.ema.ema, {k[4:]: v for k, v in state.items() if k.startswith("ema/")})
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    for group in trainer.optimizer.param_groups:
        for param, value in zip(group["params"], group["values"]):
            value.update(jt.array(state[f"momentum/{names[id(param)]}"]))
    trainer.ema.updates = int(state["ema_updates"])
    trainer.last_opt_step = int(state["last_opt_step"])
    trainer.start_epoch = int(state["epoch"]) + 1
    with open(trainer.out / "metrics.jsonl", "w") as handle:
        handle.write("".join(json.dumps(dict(line, fork_base=True)) + "\n" for line in base_lines))


def run_seed(cfg: CompareConfig, root: Path, seed: int, data_yaml: Path, sources, fork: Optional[Path] = None) -> None:
    """Both trainers of one seed, each skipped when complete and resumed when interrupted; with ``fork``,
    both start from that state (:func:`prepare_fork`) instead of the seed's initialisation."""
    from ..engine.trainer import TrainConfig, Trainer
    train_source, val_source = sources
    folder = Path(cfg.out) / f"seed_{seed}"
    init = folder / "init.npz"
    common = {"num_classes": train_source.num_classes, "seed": seed, "init": str(init.resolve())}
    if fork is None and not init.is_file():
        run_official(cfg, root, dict(common, mode="init"), folder / "init.log")
    if "official" in cfg.frameworks:
        run_official(cfg, root, dict(common, **train_spec(cfg, data_yaml, folder / "official",
                                                          eval_epochs(cfg.epochs, cfg.eval_interval))),
                     folder / "official" / "stdout.log")
        evaluate_official(cfg, folder / "official", train_source.num_classes, val_source)
    if "goldyolo" in cfg.frameworks:
        out = folder / "goldyolo"
        if len(read_lines(out / "metrics.jsonl")) < cfg.epochs:
            config = TrainConfig(model=cfg.model, data=cfg.data, images=cfg.images, val_data=cfg.val_data,
                                 val_images=cfg.val_images, out=str(out), img_size=cfg.img_size, epochs=cfg.epochs,
                                 batch_size=cfg.batch_size, workers=cfg.workers, seed=seed, device=cfg.device,
                                 eval_interval=cfg.eval_interval, init_weights="" if fork else str(init),
                                 precision=cfg.precision)
            resume = (out / "last.pkl").is_file()
            if fork is not None and not resume and (out / "metrics.jsonl").is_file():
                (out / "metrics.jsonl").unlink()  # a fork stopped before its first epoch ended starts again
            trainer = Trainer(config, resume=resume)
            if fork is not None and not resume:
                fork_goldyolo(trainer, fork, read_lines(Path(cfg.out) / "fork_base" / "official" / "metrics.jsonl")
                              [:cfg.fork_at])
            trainer.run()


def collect(cfg: CompareConfig) -> Dict:
    """Per framework and seed, the epochs' records; AP/AP50 are goldyolo's evaluator's for both."""
    runs = []
    for seed in cfg.seeds:
        folder = Path(cfg.out) / f"seed_{seed}"
        gold = read_lines(folder / "goldyolo" / "metrics.jsonl")
        official = read_lines(folder / "official" / "metrics.jsonl")
        cache_file = folder / "official" / "goldyolo_eval.json"
        evaluated = {int(k): v for k, v in json.loads(cache_file.read_text()).items()} if cache_file.is_file() else {}
        for line in official:
            line.update(evaluated.get(line["epoch"], {}))
        runs += [{"framework": "goldyolo", "seed": seed, "epochs": gold},
                 {"framework": "official", "seed": seed, "epochs": official}]
    return {"runs": [r for r in runs if r["epochs"]]}


# final values compared between the frameworks: AP/AP50 of the last evaluation and the last epoch's training
# loss items (near AP 0 the losses are the finer measure of how alike the two trainings went)
SUMMARY_KEYS = ("AP", "AP50", "loss", "iou_loss", "cls_loss")


def summarize(runs: Sequence[Dict], epochs: int) -> Dict:
    """Final AP/AP50 and training loss items per framework and seed, their mean and spread (max - min over
    seeds), and whether the difference of the means exceeds the larger seed-to-seed spread."""
    summary: Dict = {}
    for framework in FRAMEWORKS:
        finals = {r["seed"]: r["epochs"][-1] for r in runs if r["framework"] == framework
                  and len(r["epochs"]) == epochs and "AP" in r["epochs"][-1]}
        if not finals:
            continue
        entry = {"seeds": sorted(finals)}
        for key in [k for k in SUMMARY_KEYS if all(k in final for final in finals.values())]:
            values = np.array([finals[s][key] for s in sorted(finals)])
            entry.update({f"final_{key}": values.tolist(), f"mean_{key}": float(values.mean()),
                          f"spread_{key}": float(values.max() - values.min())})
        summary[framework] = entry
    if len(summary) == 2 and min(len(e["seeds"]) for e in summary.values()) >= 2:
        for key in [k for k in SUMMARY_KEYS if all(f"mean_{k}" in summary[f] for f in FRAMEWORKS)]:
            diff = summary["goldyolo"][f"mean_{key}"] - summary["official"][f"mean_{key}"]
            spread = max(summary[f][f"spread_{key}"] for f in FRAMEWORKS)
            summary[f"difference_{key}"] = {"goldyolo_minus_official": diff, "largest_seed_spread": spread,
                                            "exceeds_seed_spread": bool(abs(diff) > spread)}
    return summary


def figure(runs: Sequence[Dict]):
    """Loss, learning rate and AP per epoch in a 2 x 2 grid: colour by framework, line style by seed, one legend
    below for the four panels (a forked comparison: the epochs after the common base)."""
    import matplotlib.pyplot as plt
    colours, styles = {"goldyolo": "tab:blue", "official": "tab:orange"}, ["-", "--", ":", "-."]
    seeds = sorted({r["seed"] for r in runs})
    fig, grid = plt.subplots(2, 2, figsize=(10, 6.8))
    axes = grid.ravel()
    # evaluated at the last epoch only: the final AP of each run as bars, not one dot per line
    last_only = all(sum("AP" in e for e in r["epochs"] if not e.get("fork_base")) <= 1 for r in runs)
    for i, run in enumerate(runs):
        run = dict(run, epochs=[e for e in run["epochs"] if not e.get("fork_base")])
        epochs = [e["epoch"] for e in run["epochs"]]
        style = dict(color=colours[run["framework"]], linestyle=styles[seeds.index(run["seed"]) % 4],
                     label=f"{run['framework']}, seed {run['seed']}")
        axes[0].plot(epochs, [e["iou_loss"] for e in run["epochs"]], **style)
        axes[1].plot(epochs, [e["cls_loss"] for e in run["epochs"]], **style)
        axes[2].plot(epochs, [e["lr"][1] for e in run["epochs"]], **style)
        evaluated = [e for e in run["epochs"] if "AP" in e]
        if last_only:
            axes[3].bar(i, evaluated[-1]["AP"] if evaluated else 0.0, color=style["color"],
                        hatch=["", "//", "..", "xx"][seeds.index(run["seed"]) % 4], edgecolor="white")
        else:
            axes[3].plot([e["epoch"] for e in evaluated], [e["AP"] for e in evaluated], marker="o", **style)
    rates = {tuple(e["lr"][1] for e in r["epochs"] if not e.get("fork_base")) for r in runs}
    titles = ("IoU loss (mean per epoch)", "class loss (mean per epoch)",
              "learning rate, weights group" + (" (the same in every run)" if len(rates) == 1 else ""),
              "final AP@0.5:0.95, test images" if last_only else "AP@0.5:0.95, test images")
    for ax, title, label in zip(axes, titles, ("loss", "loss", "learning rate", "AP")):
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if last_only:
        axes[3].set_xticks(range(len(runs)), [f"{r['framework']}\nseed {r['seed']}" for r in runs], fontsize=9)
        axes[3].set_xlabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def compare_train(cfg: CompareConfig) -> str:
    """Run (or continue) the comparison and write ``compare.json`` and ``compare.png``; returns a summary."""
    from ..data.sources import open_source
    from ..data.yolo_format import write_yolo_dataset
    from ..utils.machine import environment
    unknown = set(cfg.frameworks) - set(FRAMEWORKS)
    if unknown:
        raise InputError(f"unknown framework(s) {sorted(unknown)}; choose from {list(FRAMEWORKS)}")
    root = check_official(cfg.torch_reference, cfg.model)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    records = Path(cfg.records) if cfg.records else None
    if records is not None:  # finished runs kept from another machine are not run again
        if (records / "settings.json").is_file():
            check_same_settings(cfg, records / "settings.json")
        copy_records(records, out, cfg, replace=False)
    check_same_settings(cfg, out / "settings.json")
    sources = (open_source(cfg.data, cfg.images, "train"), open_source(cfg.val_data, cfg.val_images, "val"))
    data_yaml = write_yolo_dataset(*sources, out / "data")
    with open(out / "invocations.jsonl", "a") as handle:  # each start (and resume): date, machine, commit
        handle.write(json.dumps(environment()) + "\n")
    if cfg.fork_at and not 0 < cfg.fork_at < cfg.epochs:
        raise InputError(f"--fork-at {cfg.fork_at}: give an epoch after the first and before the last ({cfg.epochs})")
    unfinished = len(finished_runs(out, cfg)) < len(cfg.seeds) * len(cfg.frameworks)
    fork = prepare_fork(cfg, root, data_yaml, sources[0].num_classes) if cfg.fork_at and unfinished else None
    for seed in cfg.seeds:
        run_seed(cfg, root, seed, data_yaml, sources, fork)
    result = write_results(cfg, root)
    if records is not None:
        records.mkdir(parents=True, exist_ok=True)
        copy_records(out, records, cfg, replace=True)
        for name in ("compare.json", "compare.png"):
            if (out / name).is_file():
                shutil.copyfile(out / name, records / name)
    return json.dumps(result["summary"], indent=1) + f"\nwritten: {out / 'compare.json'}, {out / 'compare.png'}"


def write_results(cfg: CompareConfig, root: Path) -> Dict:
    """``compare.json`` and ``compare.png`` from what ``cfg.out`` holds so far (also of an unfinished run)."""
    from ..utils.machine import environment
    out = Path(cfg.out)
    result = collect(cfg)
    config = dict(asdict(cfg), torch_reference=portable_path(cfg.torch_reference), out=portable_path(cfg.out))
    result.update(config=config, official_code=portable_path(root), environment=environment(),
                  invocations=read_lines(out / "invocations.jsonl"), summary=summarize(result["runs"], cfg.epochs))
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    if result["runs"]:
        import matplotlib
        matplotlib.use("Agg")
        fig = figure(result["runs"])
        fig.savefig(out / "compare.png", dpi=120)
        matplotlib.pyplot.close(fig)
    return result
