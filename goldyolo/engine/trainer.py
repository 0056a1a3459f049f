"""The trainer: the official training loop in Jittor, with checkpoints that survive a kill.

Per epoch: the cosine lr factor, mosaic switched off for the last ``stop_aug_last_n_epoch``
epochs (kept on throughout a shorter run, as the official trainer does), then steps with warm-up,
gradient accumulation to a nominal batch of 64, EMA updates, a guard against non-finite losses, a
progress bar, a metrics line (``metrics.jsonl``) and atomic ``last.pkl`` / ``best.pkl`` checkpoints.
``resume`` restores model, EMA, optimizer, schedule position, epoch and the loss scale; data order and
augmentation depend only on (seed, epoch, index), so a resumed run continues the uninterrupted one.
Mixed precision (:mod:`goldyolo.engine.amp`) is on by default for CUDA and off for the CPU, as in the official trainer.

Under ``mpirun -np N`` the N processes train one model on slices of each global batch of
``batch_size`` images (see :mod:`goldyolo.distributed`) and take the 1-process run's steps;
rank 0 alone prints, evaluates and writes files.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..data import DetectionDataset
from ..data.augment import mosaic_in_epoch
from ..data.sources import has_split, open_source, val_images_for
from ..distributed import is_main_process
from ..errors import GoldYoloError, InputError
from ..eval.evaluate import evaluate
from ..models import build_model
from ..models.checkpoint import (
    CHECKPOINT_FORMAT,
    load_state_dict_strict,
    load_weights,
    read_checkpoint,
    remove_stale_temporaries,
    state_dict_numpy,
    write_checkpoint,
)
from ..models.trained import load_teacher
from ..ops.conv import PRECISIONS, use_precision
from ..runtime import jt, use_cuda
from ..utils.machine import portable_path
from .solver import cosine_factor
from .step import TrainStep, build_student


class NonFiniteLossError(GoldYoloError, RuntimeError):
    """The loss stayed NaN/inf for too many consecutive steps."""


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in each checkpoint."""
    model: str = "gold_yolo-s"
    data: str = ""
    images: str = ""
    val_data: str = ""
    val_images: str = ""
    out: str = "runs/train"
    img_size: int = 640
    epochs: int = 30
    batch_size: int = 16
    workers: int = 0
    seed: int = 0
    device: str = "cpu"
    amp: Optional[bool] = None  # mixed precision (Q17); None: on for CUDA, off for the CPU, as the official trainer
    precision: str = "float32"  # the CPU convolutions: float32, or bf16 (bf16 products, float32 sums and weights)
    augment: bool = True
    subset: int = 0
    eval_interval: int = 1
    stop_aug_last_n_epoch: int = 15
    nominal_batch: int = 64
    bs_per_gpu: int = 32  # Q18: lr0 is scaled by batch_size / bs_per_gpu, as the official 1-GPU trainer does
    min_warmup_steps: int = 1000
    init_weights: str = ""  # start from these weights (npz or pkl state dict, loaded strictly) instead of a fresh init
    fuse_ab: bool = False  # anchor-aided training (the official --fuse_ab): the anchor-based branch and its loss
    distill: bool = False  # self-distillation (the official --distill) from ``teacher``, a --fuse-ab run's weights
    teacher: str = ""
    distill_feat: bool = False  # the channel-wise feature term of distillation (--distill_feat)
    temperature: float = 20.0
    use_dfl: Optional[bool] = None  # override the model config's (the recipe trains N with DFL for distillation)
    reg_max: Optional[int] = None
    max_bad_steps: int = 20
    lr0: Optional[float] = None  # override the model config's initial learning rate
    warmup_epochs: Optional[float] = None  # override the model config's warm-up epochs
    solver: Dict[str, float] = field(default_factory=dict)  # any other solver key of the model config, overridden

    def __post_init__(self) -> None:
        """Settings that exclude each other are refused here, before anything is built or written."""
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision {self.precision}: choose from {list(PRECISIONS)}")
        if self.precision == "bf16" and self.device == "cuda":
            raise InputError("--precision bf16 is for the CPU's oneDNN convolutions; on CUDA, --amp trains in "
                             "mixed precision")
        if self.distill and self.fuse_ab:
            raise InputError("--distill and --fuse-ab exclude each other (as in the official trainer): distil from "
                             "the weights of a --fuse-ab run")
        if self.distill and not self.teacher:
            raise InputError("--distill needs --teacher: the weights of a --fuse-ab run (step 1 of the official "
                             "recipe)")


def jittor_seed(*key: int) -> int:
    """The seed handed to Jittor for ``key`` (e.g. the run's seed, or seed and epoch).

    Jittor's generator is ``std::default_random_engine`` (libstdc++: the minimal-standard LCG, modulus
    2^31 - 1), where seed 0 is taken as 1, so seeds 0 and 1 give the same numbers, and nearby seeds give
    first draws in proportion to the seed. ``key`` is therefore spread through numpy's SeedSequence into
    [1, 2^31 - 2]: distinct keys give unrelated streams."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0]) % (2**31 - 2) + 1


def seed_everything(seed: int, jittor_key: Optional[Sequence[int]] = None) -> None:
    """Seed Python and numpy with ``seed`` and Jittor with :func:`jittor_seed` of ``jittor_key`` (default:
    ``seed``); under MPI every process gets the same seeds (same initial weights; DropPath draws for the
    global batch)."""
    random.seed(seed)
    np.random.seed(seed)
    jt.set_seed(jittor_seed(*(jittor_key if jittor_key is not None else (seed,))))


PATH_FIELDS = ("data", "images", "val_data", "val_images", "out", "init_weights", "teacher")


def portable_config(config: TrainConfig) -> Dict:
    """``config`` as ``config.json`` records it: its paths relative to the working directory (or ``OUTSIDE/``),
    so that the record means the same on another machine."""
    return {key: portable_path(value) if key in PATH_FIELDS and value else value
            for key, value in asdict(config).items()}


def _source(data: str, images: str, subset: int, split: str = "train"):
    source = open_source(data, images, split)
    if subset:
        source.records = source.records[:subset]
    return source


def _step_attribute(name: str) -> property:
    """A trainer attribute that is its step's (read and set through the trainer)."""
    return property(lambda self: getattr(self.step, name), lambda self, value: setattr(self.step, name, value))


class Trainer:
    """Train one model as configured; ``run()`` returns the final metrics."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        self.cfg = config
        self.out = Path(config.out)
        self.main = is_main_process()
        if self.main:
            self._check_output_dir()
            if not resume:
                self._refuse_previous_run()
        if config.device == "cuda":
            use_cuda()
        seed_everything(config.seed)
        # the data first: the model is built once, for its classes (the official trainer reads its data.yaml first)
        self.train_source = _source(config.data, config.images, config.subset)
        if config.val_data:
            self.val_source = _source(config.val_data, val_images_for(config.val_data, config.val_images,
                                                                      config.images), 0, "val")
        else:  # a data.yaml's val split, else the training images
            self.val_source = (_source(config.data, "", 0, "val") if has_split(config.data, "val")
                               else self.train_source)
        self.model = build_student(config, self.train_source.num_classes)
        if config.init_weights:
            load_weights(self.model, config.init_weights)
        teacher = None
        if config.distill:  # built after the student, as the official trainer; runs in training mode, no gradient
            teacher = load_teacher(build_model(self.model.config, self.model.num_classes, fuse_ab=True),
                                   config.teacher).train()
        if self.main:
            self._check_free_space()
            self._save_data_report()
            (self.out / "config.json").write_text(json.dumps(portable_config(config), indent=1))
        self.dataset = DetectionDataset(self.train_source, config.img_size, augment=config.augment,
                                        hyp=self.model.config.augment, batch_size=config.batch_size, shuffle=True,
                                        num_workers=config.workers, seed=config.seed)
        self.step = TrainStep.for_config(self.model, config, len(self.dataset), teacher)
        self.start_epoch, self.best_ap = 0, 0.0
        if resume:
            self._restore(read_checkpoint(self.out / "last.pkl"))
        if self.main:
            self._record_invocation()

    # the step's parts and state, read and set through the trainer by checkpoints, tests and tools
    optimizer = _step_attribute("optimizer")
    ema = _step_attribute("ema")
    scaler = _step_attribute("scaler")
    amp = _step_attribute("amp")
    hyp = _step_attribute("hyp")
    teacher = _step_attribute("teacher")
    criterion = _step_attribute("criterion")
    warmup_total = _step_attribute("warmup_total")
    steps_per_epoch = _step_attribute("steps_per_epoch")
    last_opt_step = _step_attribute("last_opt_step")
    skipped_steps = _step_attribute("skipped_steps")
    lr_factor = _step_attribute("lr_factor")

    def _check_output_dir(self) -> None:
        """Fail before training when the output folder cannot be written."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            probe = self.out / ".write_test"
            probe.write_bytes(b"0" * 1024)
            probe.unlink()
        except OSError as err:
            raise OSError(f"cannot write to the output folder {self.out}: {err}") from None
        for stale in remove_stale_temporaries(self.out):
            print(f"removed {stale}, left by an interrupted checkpoint write")

    def _refuse_previous_run(self) -> None:
        """A fresh run would append its epochs to another run's metrics.jsonl and overwrite its checkpoints."""
        metrics = self.out / "metrics.jsonl"
        if metrics.is_file() and metrics.stat().st_size:
            epochs = sum(1 for line in metrics.read_text().splitlines() if line.strip())
            raise InputError(f"{self.out} holds a previous run ({metrics.name}: {epochs} epochs): continue it with "
                             "--resume, or train into another --out; nothing was changed")

    def _check_free_space(self) -> None:
        """Fail before training when last.pkl, best.pkl and a temp copy (model, EMA, momentum) would not fit."""
        state_bytes = sum(v.numel() for v in self.model.state_dict().values()) * 4
        needed = 3 * 3 * state_bytes
        free = shutil.disk_usage(self.out).free
        if free < needed:
            raise OSError(f"not enough free space in {self.out}: {free / 2**20:.0f} MiB free, the checkpoints of "
                          f"{self.cfg.model} need about {needed / 2**20:.0f} MiB")

    def _record_invocation(self) -> None:
        """Append this start (a resume too) to ``invocations.jsonl``: date, machine, versions and commit, and the
        epoch it starts at, so that every epoch of a run can be traced to the code that trained it."""
        from ..utils.machine import environment
        with open(self.out / "invocations.jsonl", "a") as handle:
            handle.write(json.dumps({"start_epoch": self.start_epoch, **environment()}) + "\n")

    def _save_data_report(self) -> None:
        """What the data check skipped or converted, printed with examples and kept in ``data_report.json``
        (the training split's at the top level, as before; the evaluation split's under ``val``)."""
        print(f"train data {self.cfg.data}: {len(self.train_source.records)} images; "
              f"{self.train_source.report.summary()}")
        report = self.train_source.report.to_json()
        if self.val_source is not self.train_source:
            print(f"evaluation data {self.cfg.val_data or self.cfg.data}: {len(self.val_source.records)} images; "
                  f"{self.val_source.report.summary()}")
            report["val"] = self.val_source.report.to_json()
        (self.out / "data_report.json").write_text(json.dumps(report, indent=1))

    # ----------------------------------------------------------------- checkpoints
    def _state(self, epoch: int) -> dict:
        groups = [{"lr": g["lr"], "momentum": g["momentum"], "values": [v.numpy() for v in g["values"]]}
                  for g in self.optimizer.param_groups]
        return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": state_dict_numpy(self.model),
                "ema": state_dict_numpy(self.ema.ema), "ema_updates": self.ema.updates, "optimizer": groups,
                "last_opt_step": self.last_opt_step, "best_ap": self.best_ap, "skipped_steps": self.skipped_steps,
                "amp_scaler": self.scaler.state_dict(),
                "config": asdict(self.cfg), "names": self.train_source.names,
                "category_ids": self.train_source.category_ids}

    def _restore(self, state: dict) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise InputError(f"{self.out / 'last.pkl'}: not a goldyolo training checkpoint")
        load_state_dict_strict(self.model, state["model"])
        load_state_dict_strict(self.ema.ema, state["ema"])
        self.ema.updates = int(state["ema_updates"])
        for group, saved in zip(self.optimizer.param_groups, state["optimizer"]):
            group["lr"], group["momentum"] = saved["lr"], saved["momentum"]
            for value, array in zip(group["values"], saved["values"]):
                value.update(jt.array(array))
        self.start_epoch = int(state["epoch"]) + 1
        self.last_opt_step = int(state["last_opt_step"])
        self.best_ap = float(state["best_ap"])
        self.skipped_steps = int(state["skipped_steps"])
        if "amp_scaler" in state:  # a checkpoint without it still resumes, from the initial loss scale
            self.scaler.load_state_dict(state["amp_scaler"])
        if self.main:
            print(f"resumed from {self.out / 'last.pkl'} after epoch {state['epoch']}")

    # ----------------------------------------------------------------- training
    def run(self) -> Dict:
        metrics: Dict = {}
        for epoch in range(self.start_epoch, self.cfg.epochs):
            metrics = self.train_epoch(epoch)
            if self._is_eval_epoch(epoch):
                result = self._evaluate()
                if result is not None:
                    metrics.update({k: result[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")})
            if self.main:
                self._save(epoch, metrics)
        return metrics

    @jt.single_process_scope()
    def _evaluate(self) -> Optional[Dict]:
        """COCO metrics of the EMA model; under MPI rank 0 evaluates alone (others get None and wait)."""
        with use_precision(self.cfg.precision):
            return evaluate(self.ema.ema, self.val_source, self.cfg.img_size, self.cfg.batch_size, self.cfg.workers)

    def _save(self, epoch: int, metrics: Dict) -> None:
        """Checkpoints (last, and best when AP improved), the metrics line and the printed summary."""
        best_file = self.out / "best.pkl"
        is_best = not best_file.exists() or metrics.get("AP", -1.0) > self.best_ap
        self.best_ap = max(self.best_ap, metrics.get("AP", 0.0))
        state = self._state(epoch)
        write_checkpoint(state, self.out / "last.pkl")
        if is_best:
            write_checkpoint(state, best_file)
        with open(self.out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(metrics) + "\n")
        summary = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        print(summary, flush=True)  # flushed: under mpirun stdout is a pipe

    def _is_eval_epoch(self, epoch: int) -> bool:
        last = epoch == self.cfg.epochs - 1
        return last or (self.cfg.eval_interval > 0 and (epoch + 1) % self.cfg.eval_interval == 0)

    def begin_epoch(self, epoch: int) -> None:
        """Set the epoch's lr factor, data order and mosaic switch, and put the model in training mode."""
        cfg = self.cfg
        # DropPath: a resumed epoch repeats; epoch + 1, since SeedSequence([s, 0]) is SeedSequence([s])
        seed_everything(cfg.seed + epoch, (cfg.seed, epoch + 1))
        self.lr_factor = cosine_factor(epoch, cfg.epochs, self.hyp["lrf"])  # the warm-up's target: lf(epoch)
        # Q19: the official LambdaLR steps from last_epoch = -1 at each epoch after the first, so
        # epoch e trains at lf(e - 1) once warm-up is over
        scheduled = cosine_factor(max(epoch - 1, 0), cfg.epochs, self.hyp["lrf"])
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * scheduled
        self.optimizer.zero_grad()  # Q20: gradients still accumulating at the end of an epoch are dropped
        self.dataset.set_epoch(epoch, use_mosaic=mosaic_in_epoch(epoch, cfg.epochs, cfg.stop_aug_last_n_epoch))
        self.model.train()

    def train_step(self, images: np.ndarray, targets: np.ndarray, epoch: int, step: int) -> Optional[np.ndarray]:
        """One step on a batch (:class:`~goldyolo.engine.step.TrainStep`).

        Args:
            images: (B, 3, S, S) float32 batch.
            targets: (n, 6) rows [image index, class, cx, cy, w, h], normalised.
        Returns:
            (k,) loss items (``criterion.item_names``), or None when a non-finite loss made the step a skip.
        """
        items = self.step(jt.array(images), targets, epoch, step)
        if items is None:
            if self.step.bad_in_row >= self.cfg.max_bad_steps:
                raise NonFiniteLossError(
                    f"loss was not finite for {self.step.bad_in_row} consecutive steps (epoch {epoch}, step {step}); "
                    f"the last good checkpoint is {self.out / 'last.pkl'}")
            return None
        return items.numpy()

    def train_epoch(self, epoch: int) -> Dict:
        from tqdm import tqdm
        cfg = self.cfg
        self.begin_epoch(epoch)
        sums, count, start = 0.0, 0, time.time()
        bar = tqdm(self.dataset, total=self.steps_per_epoch, desc=f"{epoch}/{cfg.epochs - 1}", leave=False,
                   disable=not self.main)
        for step, (images, targets, _) in enumerate(bar):
            items = self.train_step(images, targets, epoch, step)
            if items is None:
                continue
            sums += items
            count += 1
            bar.set_postfix(iou=sums[0] / count, dfl=sums[1] / count, cls=sums[2] / count,
                            img_s=count * cfg.batch_size / (time.time() - start))
        elapsed = time.time() - start
        mean = np.zeros(len(self.criterion.item_names)) + sums / max(count, 1)
        return {"epoch": epoch, **self.criterion.named(mean),
                "lr": [float(g["lr"]) for g in self.optimizer.param_groups], "mosaic": self.dataset.use_mosaic,
                "time_s": elapsed,
                "images_per_s": count * cfg.batch_size / elapsed if elapsed else 0.0,
                "skipped_steps": self.skipped_steps, **self._amp_metrics()}

    def _amp_metrics(self) -> Dict:
        if not self.amp:
            return {}
        return {"amp_scale": self.scaler.scale_value, "amp_skipped_steps": self.scaler.skipped_steps}


def train(config: TrainConfig, resume: bool = False) -> Dict:
    """Train as ``config`` says (continuing ``config.out/last.pkl`` with ``resume``); returns the final metrics."""
    return Trainer(config, resume=resume).run()
