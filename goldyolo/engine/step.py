"""One training step, as the trainer takes it, for every caller that trains or times training (the trainer,
the benchmark, the soak).

A step: the warm-up of learning rate and momentum while it lasts, the forward pass (the teacher's too under
distillation; mixed precision when on), the criterion, a guard against a non-finite loss, backward of the
loss times the world size (Q17), gradients computed at once (float32), and every ``accumulate`` steps the
optimizer step (through the loss scaler) and the EMA update.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Optional

from ..distributed import sum_over_processes, world_size
from ..models import build_model
from ..models.trained import is_distill_ns
from ..ops.conv import use_precision
from ..runtime import jt
from .amp import GradScaler, float32_grads, forward_for_loss
from .criterion import Criterion, Outputs
from .solver import ModelEMA, accumulation, apply_warmup, build_optimizer, warmup_steps


def build_student(cfg, num_classes: int):
    """The model a training configuration trains (the student under distillation), fresh."""
    distill_ns = cfg.distill and is_distill_ns(cfg.model)
    return build_model(cfg.model, num_classes, fuse_ab=cfg.fuse_ab, distill_ns=distill_ns, use_dfl=cfg.use_dfl,
                       reg_max=cfg.reg_max)


class TrainStep:
    """The training step of one run (see the module docstring); its state (schedule position, skipped
    steps) is what a checkpoint keeps of it besides the optimizer, the scaler and the EMA."""

    def __init__(self, model, criterion: Criterion, optimizer, hyp: dict, batch_size: int, nominal_batch: int,
                 warmup_total: int, steps_per_epoch: int, ema: Optional[ModelEMA] = None,
                 scaler: Optional[GradScaler] = None, teacher=None, amp: bool = False,
                 precision: Optional[str] = "float32"):
        self.model, self.criterion, self.optimizer, self.hyp = model, criterion, optimizer, hyp
        self.batch_size, self.nominal_batch = batch_size, nominal_batch
        self.warmup_total, self.steps_per_epoch = warmup_total, steps_per_epoch
        self.ema, self.teacher, self.amp, self.precision = ema, teacher, amp, precision
        self.scaler = scaler if scaler is not None else GradScaler(enabled=amp)
        self.lr_factor = 1.0  # the epoch's cosine factor, the warm-up's target
        self.last_opt_step = -1
        self.skipped_steps = 0
        self.bad_in_row = 0  # consecutive non-finite losses, across epochs

    @classmethod
    def for_config(cls, model, cfg, steps_per_epoch: int, teacher=None, ema: bool = True) -> "TrainStep":
        """The step a :class:`~goldyolo.engine.trainer.TrainConfig` trains ``model`` with: the model config's
        solver (``cfg.solver``, then ``cfg.lr0`` and ``cfg.warmup_epochs`` overriding), lr0 scaled as the official
        1-GPU trainer scales it (Q18), weight decay scaled to the accumulated batch, the criterion of the training
        mode, an EMA of the model."""
        hyp = dict(model.config.solver, **cfg.solver)
        hyp.update({key: getattr(cfg, key) for key in ("lr0", "warmup_epochs") if getattr(cfg, key) is not None})
        # Q18: lr0 x batch / (world_size x bs_per_gpu) in the official trainer, whose DDP gradient is about
        # world_size x the 1-process one (Q17); goldyolo's N-process gradient is the 1-process one, so the
        # 1-process factor gives the official update
        hyp["lr0"] *= cfg.batch_size / cfg.bs_per_gpu
        accumulate = max(1, round(cfg.nominal_batch / cfg.batch_size))
        weight_decay = hyp["weight_decay"] * cfg.batch_size * accumulate / cfg.nominal_batch
        optimizer = build_optimizer(model, hyp, weight_decay)
        amp = cfg.device == "cuda" if cfg.amp is None else bool(cfg.amp)
        criterion = Criterion.for_training(model.config, model.num_classes, cfg.img_size, fuse_ab=cfg.fuse_ab,
                                           distill=cfg.distill, epochs=cfg.epochs, temperature=cfg.temperature,
                                           distill_feat=cfg.distill_feat)
        warmup_total = warmup_steps(hyp["warmup_epochs"], steps_per_epoch, cfg.min_warmup_steps)
        return cls(model, criterion, optimizer, hyp, cfg.batch_size, cfg.nominal_batch, warmup_total,
                   steps_per_epoch, ema=ModelEMA(model, build_student(cfg, model.num_classes)) if ema else None,
                   teacher=teacher, amp=amp, precision=cfg.precision)

    def forward(self, images: jt.Var) -> Outputs:
        """The forward pass the criterion reads: the student's, and under distillation the teacher's."""
        if not self.criterion.needs_features:
            return Outputs(forward_for_loss(self.model, images, self.amp))
        outputs, feats = forward_for_loss(self.model, images, self.amp, features=True)
        with jt.no_grad():
            teacher, teacher_feats = forward_for_loss(self.teacher, images, self.amp, features=True)
        return Outputs(outputs, feats, teacher, teacher_feats)

    def __call__(self, images: jt.Var, targets, epoch: int, step: int) -> Optional[jt.Var]:
        """One step on a batch.

        Args:
            images: (B, 3, S, S) float32 batch (this process's slice of the global batch under MPI).
            targets: (n, 6) rows [image index, class, cx, cy, w, h], normalised.
            epoch, step: the position in the run (warm-up, accumulation, the criterion's schedules).
        Returns:
            (k,) the loss items of the global batch (``criterion.item_names``), or None when the loss was not
            finite and the step was skipped (counted in ``skipped_steps`` and ``bad_in_row``).
        """
        current = step + self.steps_per_epoch * epoch
        if current <= self.warmup_total:
            apply_warmup(self.optimizer, current, self.warmup_total, self.lr_factor, self.hyp)
        # the backward convolutions keep their forward's precision; None: the caller's (a benchmark sets it)
        with use_precision(self.precision) if self.precision else nullcontext():
            loss, items = self.criterion(self.forward(images), targets, epoch, step)
        # Each process's loss and items are its part of the global batch's (ComputeLoss divides
        # by the global normaliser): their sums are the 1-process values, the same in every process.
        items = sum_over_processes(items)
        if not math.isfinite(float(sum_over_processes(loss.detach()))):
            self.skipped_steps += 1
            self.bad_in_row += 1
            return None
        self.bad_in_row = 0
        # Q17: the official trainer multiplies the loss by the world size under DDP, whose gradients
        # are averaged over ranks. Jittor's Optimizer.backward averages them too (mpi_all_reduce
        # "mean"). The global loss is the sum of the processes' losses, so its gradient is
        # world_size x that average: with this scaling the update is the 1-process update on the
        # same global batch (the MPI test checks it). The official DDP divides each rank's loss by
        # its own soft-target sum, about 1/world_size of the global one, so there the same scaling
        # gives about world_size x the 1-process gradient.
        self.optimizer.backward(self.scaler.scale(loss * world_size()))
        # Jittor leaves the accumulated gradients lazy until step(), which keeps the activations of every
        # accumulated batch alive (memory would grow with the accumulation count); computing them here keeps one.
        jt.sync(float32_grads(self.optimizer))
        if current - self.last_opt_step >= accumulation(current, self.warmup_total, self.batch_size,
                                                        self.nominal_batch):
            self.scaler.step(self.optimizer)  # skips the step when a scaled gradient overflowed
            self.scaler.update()
            if self.ema is not None:
                self.ema.update(self.model)
            self.last_opt_step = current
        return items
