"""Step parity: goldyolo's trainer and the official one, step by step on the same batches.

Both start from the same weights and take the same batches, built by goldyolo's pipeline with
augmentation off (the records in order, cycled). The official side is its Trainer's own
``train_in_steps`` (in the child of :mod:`goldyolo.compare.official_trainer`), goldyolo's is
:meth:`Trainer.train_step`: each with its real warm-up, learning-rate and momentum schedule, gradient
accumulation, SGD and EMA, over ``steps`` steps of epochs of ``steps_per_epoch`` steps. DropPath is off
on both sides, because its random masks cannot be shared between the frameworks.

A **control** run is the official trainer against itself with every initial float weight moved by
``control`` (1e-7 by default): how far two runs drift when they differ only at the level of float32
rounding. Float32 differences (summation order in convolutions and reductions) grow through the
training steps, and a box that flips between candidates in the task-aligned assignment changes a
loss term at once; the control shows how much of that the official code does to itself.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..errors import InputError
from ..models.checkpoint import read_state_dict


@dataclass
class StepParityConfig:
    """A step-parity run; the defaults are the long check (60 steps over two epochs of 30)."""
    torch_reference: str = ""
    model: str = "gold_yolo-n"
    data: str = "data/sample/train.json"
    images: str = "data/sample/images"
    init: str = ""            # initial weights (.npz); default: the official initialisation, seed 0
    img_size: int = 128
    batch_size: int = 4
    steps: int = 60
    steps_per_epoch: int = 30
    epochs: int = 30          # length of the cosine schedule the steps belong to
    control: float = 1e-7
    out: str = "runs/step_parity"
    fixture: str = ""         # also write the official side's compact results here (for the default test suite)


def make_batches(source, img_size: int, batch_size: int, steps: int) -> Dict[str, np.ndarray]:
    """``images`` (steps, B, 3, S, S) uint8 RGB and ``targets`` (n, 7) [step, image, class, cx, cy, w, h]:
    the records in order, cycled, letterboxed without augmentation."""
    from ..data import DetectionDataset
    dataset = DetectionDataset(source, img_size, augment=False, batch_size=batch_size)
    count = len(source.records)
    images, targets = [], []
    for step in range(steps):
        batch = []
        for j in range(batch_size):
            image, rows, _ = dataset[(step * batch_size + j) % count]
            batch.append(image)
            targets += [[step, j, *row[1:]] for row in rows]
        images.append(np.stack(batch))
    return {"images": np.stack(images), "targets": np.array(targets, dtype=np.float32).reshape(-1, 7)}


def perturbed(state: Dict[str, np.ndarray], size: float, seed: int = 0) -> Dict[str, np.ndarray]:
    """Every float entry moved by +-``size`` (random signs); counters unchanged."""
    rng = np.random.default_rng(seed)
    return {k: (v + size * rng.choice([-1.0, 1.0], v.shape)).astype(v.dtype) if np.issubdtype(v.dtype, np.floating)
            else v for k, v in state.items()}


def goldyolo_steps(cfg: StepParityConfig, init: Path, batches: Dict[str, np.ndarray], out: Path) -> Tuple[List, Dict]:
    """goldyolo's trainer over the batches: per-step records and the final (model, EMA) states."""
    from ..engine.solver import warmup_steps
    from ..engine.trainer import TrainConfig, Trainer
    from ..models import set_drop_path
    from ..models.checkpoint import state_dict_numpy
    trainer = Trainer(TrainConfig(model=cfg.model, data=cfg.data, images=cfg.images, out=str(out),
                                  img_size=cfg.img_size, epochs=cfg.epochs, batch_size=cfg.batch_size, augment=False,
                                  eval_interval=0, init_weights=str(init)))
    set_drop_path(trainer.model, False)
    trainer.steps_per_epoch = cfg.steps_per_epoch
    trainer.warmup_total = warmup_steps(trainer.hyp["warmup_epochs"], cfg.steps_per_epoch, trainer.cfg.min_warmup_steps)
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
                        "optimizer_step": trainer.last_opt_step == step, "ema_updates": trainer.ema.updates})
    return records, {"model": state_dict_numpy(trainer.model), "ema": state_dict_numpy(trainer.ema.ema)}


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


def write_fixture(path: Path, init: Dict, official: Tuple[List, Dict], control: Dict) -> None:
    """The official side in a few kB: per-step items, lr, momentum and step flags, the size of each
    tensor's update (||final - init||), the head's final tensors, and the control's differences."""
    steps, state = official
    model = state["model"]
    floats = [k for k in model if np.issubdtype(model[k].dtype, np.floating)]
    head = [k for k in floats if k.startswith("detect.") and model[k].size <= 4096]
    np.savez_compressed(
        path, items=np.array([s["items"] for s in steps]), lr=np.array([s["lr"] for s in steps]),
        momentum=np.array([s["momentum"] for s in steps]),
        optimizer_step=np.array([s["optimizer_step"] for s in steps]),
        update_keys=np.array(floats), update_norms=np.array([np.linalg.norm(model[k] - init[k]) for k in floats]),
        head_keys=np.array(head), **{f"head/{k}": model[k] for k in head},
        control_total_loss=np.array(control["step_differences"]["total_loss"]),
        control_relative_l2=np.array(control["weights"]["model"]["relative_l2"]),
        init_abs_sum=np.array(sum(float(np.abs(v).sum()) for v in init.values())))


def step_parity(cfg: StepParityConfig) -> str:
    """Run both trainers (and the control) over the same batches; writes ``step_parity.json``."""
    from ..bench.machine import environment
    from ..data import CocoSource
    from ..data.yolo_format import write_yolo_dataset
    from .train_compare import check_official, run_official
    if cfg.steps < 1 or cfg.steps_per_epoch < 1:
        raise InputError("--steps and --steps-per-epoch must be positive")
    root = check_official(cfg.torch_reference, cfg.model)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    source = CocoSource(Path(cfg.data), Path(cfg.images))
    data_yaml = write_yolo_dataset(source, source, out / "data")
    np.savez(out / "batches.npz", **make_batches(source, cfg.img_size, cfg.batch_size, cfg.steps))
    batches = dict(np.load(out / "batches.npz"))
    common = {"num_classes": source.num_classes, "seed": 0, "data_yaml": str(data_yaml.resolve()),
              "img_size": cfg.img_size, "batch_size": cfg.batch_size, "epochs": cfg.epochs, "workers": 0,
              "device": "cpu", "steps": cfg.steps, "steps_per_epoch": cfg.steps_per_epoch, "no_drop_path": True,
              "batches": str((out / "batches.npz").resolve()), "save_ema_epochs": []}
    init = Path(cfg.init) if cfg.init else out / "init.npz"
    if not cfg.init:
        run_official(cfg, root, dict(common, mode="init", init=str(init.resolve())), out / "init.log")
    control_init = out / "init_control.npz"
    np.savez(control_init, **perturbed(dict(read_state_dict(init)), cfg.control))
    runs = {}
    for name, weights in (("official", init), ("control", control_init)):
        folder = out / name
        run_official(cfg, root, dict(common, mode="steps", init=str(weights.resolve()), out=str(folder.resolve())),
                     out / f"{name}.log")
        runs[name] = (json.loads((folder / "steps.json").read_text()),
                      {"model": dict(np.load(folder / "model.npz")), "ema": dict(np.load(folder / "ema.npz"))})
    runs["goldyolo"] = goldyolo_steps(cfg, init, batches, out / "goldyolo")
    official_steps, official_state = runs["official"]
    result = {"config": asdict(cfg), "environment": environment(), "official_code": str(root),
              "steps": {name: steps for name, (steps, _) in runs.items()}}
    for name in ("goldyolo", "control"):
        steps, state = runs[name]
        result[name] = {"step_differences": step_differences(steps, official_steps),
                        "schedule_equal": all(np.allclose(s["lr"], o["lr"], rtol=1e-12, atol=0)
                                              and np.allclose(s["momentum"], o["momentum"], rtol=1e-12, atol=0)
                                              and s["optimizer_step"] == o["optimizer_step"]
                                              for s, o in zip(steps, official_steps)),
                        "weights": {part: state_difference(state[part], official_state[part])
                                    for part in ("model", "ema")}}
    (out / "step_parity.json").write_text(json.dumps(result, indent=1))
    if cfg.fixture:
        write_fixture(Path(cfg.fixture), dict(read_state_dict(init)), runs["official"], result["control"])
    lines = [f"{name}: final weights relative L2 {result[name]['weights']['model']['relative_l2']:.2e}, "
             f"EMA {result[name]['weights']['ema']['relative_l2']:.2e}; loss rel. diff. max "
             f"{max(result[name]['step_differences']['total_loss']):.2e}; schedule equal "
             f"{result[name]['schedule_equal']}" for name in ("goldyolo", "control")]
    return "\n".join(lines + [f"written: {out / 'step_parity.json'}"])
