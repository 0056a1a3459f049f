"""Step parity: goldyolo's trainer and the official one, step by step on the same batches.

Both start from the same weights and take the same batches, built by goldyolo's pipeline (the records
in order, cycled; with ``augment`` through the training augmentation, mosaic included, so both trainers
see the same augmented batches). The official side is its Trainer's own ``train_in_steps`` and
``prepare_for_steps`` (in the child of :mod:`goldyolo.compare.official_trainer`), goldyolo's is
:meth:`Trainer.begin_epoch` and :meth:`Trainer.train_step`: each with its real warm-up, learning-rate and
momentum schedule (the cosine's one-epoch lag included), gradient accumulation, SGD, weight decay and
EMA, over ``steps`` steps of epochs of ``steps_per_epoch`` steps. Two settings, applied to both sides,
bring the later phases of training within a few steps: ``warmup_steps`` replaces the warm-up length (at
least 1,000 steps in both trainers) and ``ema_start_updates`` starts both EMAs' update counters there
(early in training the EMA's decay is nearly 0, so the EMA is nearly the model and tells little).
DropPath is off on both sides, because its random masks cannot be shared between the frameworks.

A **control** run is the official trainer against itself with every initial float weight moved by
``control`` (1e-7 by default): how far two runs drift when they differ only at the level of float32
rounding. Float32 differences (summation order in convolutions and reductions) grow through the
training steps, and a box that flips between candidates in the task-aligned assignment changes a
loss term at once; the control shows how much of that the official code does to itself.

:func:`measures` reduces a run to numbers that the control bounds: each loss item's median relative
difference over the steps, and for the final model and EMA, per parameter kind (BN weights, other weights,
biases, BN statistics), the difference from the official run relative to the official run's own change
from the initial weights, read on fixed coordinates of every tensor. The schedule (learning rate and
momentum of each group, which steps update, EMA updates and decay) must be equal. :func:`check` accepts a
run whose measures are within ``TOLERANCE`` times the control's (the loss items' at least ``LOSS_FLOOR``);
the tests plant changes in goldyolo's trainer (EMA decay x0.9, weight decay x1.1, weight decay on BN
weights, IoU loss weight 2.75, the cosine schedule one epoch late) and require each to be rejected.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError
from ..models.checkpoint import read_state_dict

TOLERANCE = 3.0   # a run passes when each measure is at most this many times the control's
# The control differs from the official run only by its weights: its loss is summed in the same order, so at
# the first steps its loss items can agree to 1e-8, below what two frameworks' float32 reductions over
# thousands of anchors can (their orders differ): 16 units in the last place is the least a loss measure's
# limit is taken from.
LOSS_FLOOR = 16 * float(np.finfo(np.float32).eps)
SAMPLES = 64      # coordinates read from each tensor
ITEMS = ("iou", "dfl", "cls")
SCHEDULE = ("lr", "momentum", "optimizer_step", "ema_updates", "ema_decay")


@dataclass
class StepParityConfig:
    """A step-parity run; the defaults are the long check: 60 augmented steps at 128 px in batches of 16, 12 of
    warm-up, then 8 epochs of 6 steps into a 10-epoch cosine schedule (accumulation 4), the EMA past its ramp,
    learning rates x0.02 so that the control stays close (at the config's rates the two official runs part)."""
    torch_reference: str = ""
    model: str = "gold_yolo-n"
    data: str = "data/sample/train.json"
    images: str = "data/sample/images"
    init: str = ""            # initial weights (.npz); default: the official initialisation (seed 0) moved by control
    img_size: int = 128
    batch_size: int = 16
    steps: int = 60
    steps_per_epoch: int = 6
    epochs: int = 10          # length of the cosine schedule the steps belong to
    warmup_steps: int = 12    # 0: each trainer's own warm-up (at least 1,000 steps); else this many, on both sides
    ema_start_updates: int = 2000  # both EMAs start as after this many updates
    lr_scale: float = 0.02    # both trainers' lr0 and warm-up bias lr times this
    augment: bool = True      # the batches through goldyolo's training augmentation
    mosaic: bool = True       # ... with mosaic (off: as in the last epochs)
    control: float = 1e-7
    out: str = "runs/step_parity"
    fixture: str = ""         # also write the official side's compact results here (for the default test suite)


def make_batches(source, img_size: int, batch_size: int, steps: int, augment: bool = False,
                 steps_per_epoch: int = 1, hyp: Optional[dict] = None, mosaic: bool = True) -> Dict[str, np.ndarray]:
    """``images`` (steps, B, 3, S, S) uint8 RGB and ``targets`` (n, 7) [step, image, class, cx, cy, w, h]:
    the records in order, cycled; letterboxed, or with ``augment`` augmented as in training, with mosaic or
    without (``hyp``: the model config's augmentation), the draws of epoch ``step // steps_per_epoch``."""
    from ..data import DetectionDataset
    dataset = DetectionDataset(source, img_size, augment=augment, hyp=hyp, batch_size=batch_size)
    dataset.set_epoch(0, use_mosaic=mosaic)
    count = len(source.records)
    images, targets = [], []
    for step in range(steps):
        code = (step // steps_per_epoch) * 2 + int(dataset.use_mosaic)  # the dataset's key: epoch and mosaic
        batch = []
        for j in range(batch_size):
            image, rows, _ = dataset[code * count + (step * batch_size + j) % count]
            batch.append(image)
            targets += [[step, j, *row[1:]] for row in rows]
        images.append(np.stack(batch))
    return {"images": np.stack(images), "targets": np.array(targets, dtype=np.float32).reshape(-1, 7)}


def perturbed(state: Dict[str, np.ndarray], size: float, seed: int = 0) -> Dict[str, np.ndarray]:
    """Every float entry moved by +-``size`` (random signs), relatively beyond magnitude 1 (by +-``size`` x |v|,
    so that large entries such as the class biases' prior move too); counters unchanged."""
    rng = np.random.default_rng(seed)
    return {k: (v + size * np.maximum(np.abs(v), 1.0) * rng.choice([-1.0, 1.0], v.shape)).astype(v.dtype)
            if np.issubdtype(v.dtype, np.floating) else v for k, v in state.items()}


def goldyolo_steps(cfg: StepParityConfig, init: Path, batches: Dict[str, np.ndarray], out: Path,
                   plant: Optional[Callable] = None) -> Tuple[List, Dict]:
    """goldyolo's trainer over the batches: per-step records and the final (model, EMA) states. ``plant``
    (tests) is called with the trainer before the first step."""
    from ..config import get_config
    from ..engine.solver import warmup_steps
    from ..engine.trainer import TrainConfig, Trainer
    from ..models import set_drop_path
    from ..models.checkpoint import state_dict_numpy
    solver = get_config(cfg.model).solver
    trainer = Trainer(TrainConfig(model=cfg.model, data=cfg.data, images=cfg.images, out=str(out),
                                  img_size=cfg.img_size, epochs=cfg.epochs, batch_size=cfg.batch_size,
                                  augment=cfg.augment, eval_interval=0, init_weights=str(init),
                                  solver={k: solver[k] * cfg.lr_scale for k in ("lr0", "warmup_bias_lr")}))
    set_drop_path(trainer.model, False)
    trainer.steps_per_epoch = cfg.steps_per_epoch
    trainer.warmup_total = cfg.warmup_steps or warmup_steps(trainer.hyp["warmup_epochs"], cfg.steps_per_epoch,
                                                            trainer.cfg.min_warmup_steps)
    trainer.ema.updates = cfg.ema_start_updates
    if plant is not None:
        plant(trainer)
    records = []
    for step in range(cfg.steps):
        epoch, inner = divmod(step, cfg.steps_per_epoch)
        if inner == 0:
            trainer.begin_epoch(epoch)
            set_drop_path(trainer.model, False)
        rows = batches["targets"][batches["targets"][:, 0] == step][:, 1:]
        items = trainer.train_step(batches["images"][step].astype(np.float32) / 255.0, rows, epoch, inner)
        groups = trainer.optimizer.param_groups
        records.append({"step": step, "items": [float(v) for v in items], "lr": [float(g["lr"]) for g in groups],
                        "momentum": [float(g["momentum"]) for g in groups],
                        "optimizer_step": trainer.last_opt_step == step, "ema_updates": trainer.ema.updates,
                        "ema_decay": float(trainer.ema.decay()), "mosaic": trainer.dataset.use_mosaic})
    return records, {"model": state_dict_numpy(trainer.model), "ema": state_dict_numpy(trainer.ema.ema)}


def kind(key: str, value: np.ndarray) -> Optional[str]:
    """The parameter kind of a state entry, as the optimizer groups them: ``bn_weight`` (1-d weights: batch
    norm), ``weight`` (with weight decay), ``bias``, ``bn_stat`` (running statistics); None for counters."""
    if not np.issubdtype(np.asarray(value).dtype, np.floating):
        return None
    name = key.rsplit(".", 1)[-1]
    if name == "weight":
        return "bn_weight" if np.ndim(value) == 1 else "weight"
    return {"bias": "bias", "running_mean": "bn_stat", "running_var": "bn_stat"}.get(name)


def sample(state: Dict[str, np.ndarray], count: int = SAMPLES) -> Dict[str, np.ndarray]:
    """Up to ``count`` fixed coordinates of every float tensor (chosen by the tensor's name), as float64."""
    picked = {}
    for key, value in state.items():
        if kind(key, value) is None:
            continue
        flat = np.asarray(value, np.float64).ravel()
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        picked[key] = flat[np.sort(rng.choice(flat.size, min(count, flat.size), replace=False))]
    return picked


def compact(steps: List[Dict], state: Dict[str, Dict[str, np.ndarray]]) -> Dict:
    """What :func:`measures` reads of a run: its step records and the sampled final model and EMA."""
    return {"steps": steps, "model": sample(state["model"]), "ema": sample(state["ema"])}


def _relative(run: Dict[str, np.ndarray], ref: Dict[str, np.ndarray], keys) -> float:
    num = sum(float(((run[k] - ref[k]) ** 2).sum()) for k in keys)
    den = sum(float((ref[k] ** 2).sum()) for k in keys)
    return float(np.sqrt(num / den)) if den else float(np.sqrt(num))


def measures(run: Dict, ref: Dict, run_init: Dict[str, np.ndarray], ref_init: Dict[str, np.ndarray],
             kinds: Dict[str, str]) -> Dict[str, float]:
    """How far ``run`` is from ``ref`` (both :func:`compact`; ``run_init``, ``ref_init``: their sampled initial
    weights; ``kinds``: key -> :func:`kind`).

    ``loss/<item>``: the median over the steps of that loss item's relative difference (the typical drift; a
    box that changes its anchors in one run and not in the other moves one step's loss by 1e-4 to 1e-3, in
    the control as well, at random steps). ``model/<kind>``: ||change_run - change_ref|| / ||change_ref||,
    where a change is final minus initial weights of that kind; ``ema_gap/<kind>``: the same for EMA minus
    model."""
    result = {}
    items = np.array([s["items"] for s in run["steps"]])
    ref_items = np.array([s["items"] for s in ref["steps"]])
    for i, name in enumerate(ITEMS):
        scale = np.where(ref_items[:, i] != 0, np.abs(ref_items[:, i]), 1.0)
        result[f"loss/{name}"] = float(np.median(np.abs(items[:, i] - ref_items[:, i]) / scale))
    change = {k: run["model"][k] - run_init[k] for k in kinds}
    ref_change = {k: ref["model"][k] - ref_init[k] for k in kinds}
    gap = {k: run["ema"][k] - run["model"][k] for k in kinds}
    ref_gap = {k: ref["ema"][k] - ref["model"][k] for k in kinds}
    for name in sorted(set(kinds.values())):
        keys = [k for k, v in kinds.items() if v == name]
        result[f"model/{name}"] = _relative(change, ref_change, keys)
        result[f"ema_gap/{name}"] = _relative(gap, ref_gap, keys)
    return result


def schedule_differences(run: List[Dict], ref: List[Dict]) -> List[str]:
    """The schedule entries (``SCHEDULE``) that differ from the reference's, with the first step they do."""
    found = []
    for name in SCHEDULE:
        for r, o in zip(run, ref):
            if not np.allclose(np.asarray(r[name], np.float64), np.asarray(o[name], np.float64), rtol=1e-12, atol=0):
                found.append(f"{name} (step {r['step']}: {r[name]} against {o[name]})")
                break
    return found


def limit_base(name: str, control_value: float) -> float:
    """What ``TOLERANCE`` multiplies for measure ``name``: the control's value (for the loss items, at least
    ``LOSS_FLOOR``)."""
    return max(control_value, LOSS_FLOOR) if name.startswith("loss/") else control_value


def check(run_measures: Dict[str, float], control_measures: Dict[str, float], schedule: List[str],
          tolerance: float = TOLERANCE) -> List[str]:
    """What fails: schedule differences, and each measure above ``tolerance`` x :func:`limit_base`."""
    failed = [f"schedule: {s}" for s in schedule]
    for name, value in run_measures.items():
        base = limit_base(name, control_measures[name])
        if not value <= tolerance * base:
            failed.append(f"{name}: {value:.3g} > {tolerance:g} x control {base:.3g}")
    return failed


def state_difference(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Largest absolute difference and the relative L2 difference ||a - b|| / ||b|| over the float entries."""
    keys = [k for k in b if np.issubdtype(np.asarray(b[k]).dtype, np.floating)]
    diff = np.concatenate([(np.asarray(a[k], np.float64) - b[k]).ravel() for k in keys])
    ref = np.concatenate([np.asarray(b[k], np.float64).ravel() for k in keys])
    return {"max_abs": float(np.abs(diff).max()), "relative_l2": float(np.linalg.norm(diff) / np.linalg.norm(ref))}


def step_differences(records: List[Dict], reference: List[Dict]) -> Dict[str, List[float]]:
    """Per step: relative difference of the total loss and of each item (iou, dfl, cls), where defined."""
    total = [abs(sum(r["items"]) - sum(o["items"])) / abs(sum(o["items"])) for r, o in zip(records, reference)]
    items = [[abs(a - b) / abs(b) if b else abs(a - b) for a, b in zip(r["items"], o["items"])]
             for r, o in zip(records, reference)]
    return {"total_loss": total, "items": items}


FIXTURE_SETTINGS = ("model", "img_size", "batch_size", "steps", "steps_per_epoch", "epochs", "warmup_steps",
                    "ema_start_updates", "lr_scale", "augment", "mosaic", "control")


def write_fixture(path: Path, cfg: StepParityConfig, init: Dict[str, np.ndarray], official: Dict,
                  control_measures: Dict[str, float], kinds: Dict[str, str]) -> None:
    """The official side in a few hundred kB: the settings, the step records, the sampled initial weights and
    final model and EMA (:func:`compact`), the parameter kinds and the control's measures."""
    keys = list(kinds)
    init_sample = sample(init)
    steps = official["steps"]
    np.savez_compressed(
        path, settings=np.array(json.dumps({k: getattr(cfg, k) for k in FIXTURE_SETTINGS})),
        items=np.array([s["items"] for s in steps]),
        **{name: np.array([s[name] for s in steps]) for name in SCHEDULE + ("mosaic",)},
        keys=np.array(keys), kinds=np.array([kinds[k] for k in keys]),
        counts=np.array([official["model"][k].size for k in keys]),
        model=np.concatenate([official["model"][k] for k in keys]),
        ema=np.concatenate([official["ema"][k] for k in keys]),
        init=np.concatenate([init_sample[k] for k in keys]),
        control=np.array(json.dumps(control_measures)),
        init_abs_sum=np.array(sum(float(np.abs(v).sum()) for v in init.values())))


def read_fixture(path: Path) -> Dict:
    """A :func:`write_fixture` file: ``settings`` (dict), ``official`` (:func:`compact`), ``init`` (sampled),
    ``kinds``, ``control`` (the control's measures) and ``init_abs_sum``."""
    with np.load(path) as data:
        keys = data["keys"].tolist()
        bounds = np.cumsum([0] + data["counts"].tolist())
        steps = [{"step": i, "items": data["items"][i].tolist(),
                  **{name: data[name][i].tolist() for name in SCHEDULE + ("mosaic",)}}
                 for i in range(len(data["items"]))]
        official = {"steps": steps, **{part: {k: data[part][a:b].astype(np.float64)
                                              for k, a, b in zip(keys, bounds[:-1], bounds[1:])}
                                       for part in ("model", "ema", "init")}}
        return {"settings": json.loads(str(data["settings"])), "official": official, "init": official.pop("init"),
                "kinds": dict(zip(keys, data["kinds"].tolist())), "control": json.loads(str(data["control"])),
                "init_abs_sum": float(data["init_abs_sum"])}


def step_parity(cfg: StepParityConfig) -> str:
    """Run both trainers (and the control) over the same batches; writes ``step_parity.json``."""
    from ..config import get_config
    from ..data import CocoSource
    from ..data.yolo_format import write_yolo_dataset
    from ..utils.machine import environment
    from .train_compare import check_official, portable_path, run_official
    if cfg.steps < 1 or cfg.steps_per_epoch < 1:
        raise InputError("--steps and --steps-per-epoch must be positive")
    root = check_official(cfg.torch_reference, cfg.model)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    source = CocoSource(Path(cfg.data), Path(cfg.images))
    data_yaml = write_yolo_dataset(source, source, out / "data")
    np.savez(out / "batches.npz", **make_batches(source, cfg.img_size, cfg.batch_size, cfg.steps, cfg.augment,
                                                 cfg.steps_per_epoch, get_config(cfg.model).augment, cfg.mosaic))
    batches = dict(np.load(out / "batches.npz"))
    common = {"num_classes": source.num_classes, "seed": 0, "data_yaml": str(data_yaml.resolve()),
              "img_size": cfg.img_size, "batch_size": cfg.batch_size, "epochs": cfg.epochs, "workers": 0,
              "device": "cpu", "steps": cfg.steps, "steps_per_epoch": cfg.steps_per_epoch, "no_drop_path": True,
              "warmup_steps": cfg.warmup_steps, "ema_start_updates": cfg.ema_start_updates, "lr_scale": cfg.lr_scale,
              "batches": str((out / "batches.npz").resolve()), "save_ema_epochs": []}
    init = Path(cfg.init) if cfg.init else out / "init.npz"
    if not cfg.init:
        # the official initialisation, every weight then moved by the control's size: its zero prediction
        # weights tie every anchor's score at the first step, and the two frameworks' top-k order ties
        # differently (docs/quirks.md, Q13)
        official_init = out / "init_official.npz"
        run_official(cfg, root, dict(common, mode="init", init=str(official_init.resolve())), out / "init.log")
        np.savez(init, **perturbed(dict(read_state_dict(official_init)), cfg.control, seed=1))
    init_state = dict(read_state_dict(init))
    control_init = out / "init_control.npz"
    np.savez(control_init, **perturbed(init_state, cfg.control))
    runs = {}
    for name, weights in (("official", init), ("control", control_init)):
        folder = out / name
        run_official(cfg, root, dict(common, mode="steps", init=str(weights.resolve()), out=str(folder.resolve())),
                     out / f"{name}.log")
        runs[name] = (json.loads((folder / "steps.json").read_text()),
                      {"model": dict(np.load(folder / "model.npz")), "ema": dict(np.load(folder / "ema.npz"))})
    runs["goldyolo"] = goldyolo_steps(cfg, init, batches, out / "goldyolo")
    official_steps, official_state = runs["official"]
    kinds = {k: kind(k, v) for k, v in official_state["model"].items() if kind(k, v)}
    shared_init = sample(init_state)
    inits = {"official": shared_init, "goldyolo": shared_init, "control": sample(dict(read_state_dict(control_init)))}
    packed = {name: compact(*run) for name, run in runs.items()}
    config = dict(asdict(cfg), torch_reference=portable_path(cfg.torch_reference), out=portable_path(cfg.out),
                  **({"init": portable_path(cfg.init)} if cfg.init else {}))
    result = {"config": config, "environment": environment(), "official_code": portable_path(root),
              "steps": {name: steps for name, (steps, _) in runs.items()}}
    for name in ("goldyolo", "control"):
        steps, state = runs[name]
        schedule = schedule_differences(steps, official_steps)
        result[name] = {"step_differences": step_differences(steps, official_steps),
                        "schedule_equal": not schedule, "schedule_differences": schedule,
                        "weights": {part: state_difference(state[part], official_state[part])
                                    for part in ("model", "ema")},
                        "measures": measures(packed[name], packed["official"], inits[name], inits["official"],
                                             kinds)}
    failed = check(result["goldyolo"]["measures"], result["control"]["measures"],
                   result["goldyolo"]["schedule_differences"])
    result["verdict"] = {"tolerance": TOLERANCE, "passed": not failed, "failed": failed}
    (out / "step_parity.json").write_text(json.dumps(result, indent=1))
    if cfg.fixture:
        write_fixture(Path(cfg.fixture), cfg, init_state, packed["official"], result["control"]["measures"], kinds)
    lines = [f"{name}: final weights relative L2 {result[name]['weights']['model']['relative_l2']:.2e}, "
             f"EMA {result[name]['weights']['ema']['relative_l2']:.2e}; loss rel. diff. max "
             f"{max(result[name]['step_differences']['total_loss']):.2e}; schedule equal "
             f"{result[name]['schedule_equal']}" for name in ("goldyolo", "control")]
    verdict = "passed" if not failed else "failed: " + "; ".join(failed)
    return "\n".join(lines + [f"goldyolo against {TOLERANCE:g} x the control: {verdict}",
                              f"written: {out / 'step_parity.json'}"])
