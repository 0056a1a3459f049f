"""The official solver: SGD parameter groups, cosine schedule, warm-up, gradient accumulation, EMA."""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np
from jittor import nn

from ..models.checkpoint import state_dict_numpy
from ..models.common import BatchNorm2d
from ..runtime import jt


def parameter_groups(model: nn.Module) -> List[dict]:
    """``build_optimizer``'s groups: [BN weights], [other weights, with weight decay], [biases].

    Like the official code, parameters named neither ``weight`` nor ``bias`` (BottleRep's
    ``alpha``, Detect's ``proj``) belong to no group and are never updated.
    """
    bn_weights, weights, biases = [], [], []
    for module in model.modules():
        bias = getattr(module, "bias", None)
        if isinstance(bias, jt.Var) and not bias.is_stop_grad():
            biases.append(bias)
        weight = getattr(module, "weight", None)
        if not isinstance(weight, jt.Var) or weight.is_stop_grad():
            continue
        (bn_weights if isinstance(module, BatchNorm2d) else weights).append(weight)
    return [{"params": bn_weights}, {"params": weights}, {"params": biases}]


def build_optimizer(model: nn.Module, hyp: Dict[str, float], weight_decay: float) -> jt.optim.SGD:
    """SGD with nesterov momentum; weight decay on the second group only."""
    groups = parameter_groups(model)
    groups[1]["weight_decay"] = weight_decay
    optimizer = jt.optim.SGD(groups, lr=hyp["lr0"], momentum=hyp["momentum"], weight_decay=0.0, nesterov=True)
    for group in optimizer.param_groups:
        group["initial_lr"] = hyp["lr0"]
        group["lr"] = hyp["lr0"]
        group["momentum"] = hyp["momentum"]
    return optimizer


def cosine_factor(epoch: float, epochs: int, lrf: float) -> float:
    """``lf(epoch)``: 1 at the start, ``lrf`` at the end, cosine in between."""
    return ((1 - math.cos(epoch * math.pi / epochs)) / 2) * (lrf - 1) + 1


def warmup_steps(warmup_epochs: float, steps_per_epoch: int, min_steps: int = 1000) -> int:
    """Official warm-up length: ``max(round(warmup_epochs * steps_per_epoch), 1000)`` iterations."""
    return max(round(warmup_epochs * steps_per_epoch), min_steps) if warmup_epochs > 0 else 0


def apply_warmup(optimizer, step: int, total: int, epoch_factor: float, hyp: Dict[str, float]) -> None:
    """Interpolate lr (bias group from ``warmup_bias_lr``, others from 0) and momentum over warm-up."""
    for k, group in enumerate(optimizer.param_groups):
        start = hyp["warmup_bias_lr"] if k == 2 else 0.0
        group["lr"] = float(np.interp(step, [0, total], [start, group["initial_lr"] * epoch_factor]))
        group["momentum"] = float(np.interp(step, [0, total], [hyp["warmup_momentum"], hyp["momentum"]]))


def accumulation(step: int, warmup_total: int, batch_size: int, nominal_batch: int = 64) -> int:
    """Batches per optimizer step: ``round(64 / batch)``, ramped up from 1 during warm-up."""
    full = max(1, round(nominal_batch / batch_size))
    if step <= warmup_total and warmup_total > 0:
        return max(1, int(np.interp(step, [0, warmup_total], [1, nominal_batch / batch_size]).round()))
    return full


class ModelEMA:
    """Exponential moving average of every float state entry (weights and BN buffers).

    decay(n) = 0.9999 * (1 - exp(-n / 2000)) after n updates, as in the official ``ModelEMA``.
    """

    def __init__(self, model: nn.Module, ema_model: nn.Module, decay: float = 0.9999, updates: int = 0):
        self.ema = ema_model
        self.ema.load_state_dict(state_dict_numpy(model))
        self.ema.eval()
        self.base_decay = decay
        self.updates = updates

    def decay(self) -> float:
        return self.base_decay * (1 - math.exp(-self.updates / 2000))

    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay()
        current = model.state_dict()
        ema_state = self.ema.state_dict()
        with jt.no_grad():
            # both products are computed before the sum, as the official in-place ``item *= d; item += (1 - d) *
            # x`` rounds them: one fused kernel would contract them into a multiply-add, which rounds once and
            # differs from it by one unit in the last place in about a fifth of the entries
            kept = [value * d for value in ema_state.values()]
            added = [current[key].detach() * (1 - d) for key in ema_state]
            jt.sync(kept + added)
            for value, a, b in zip(ema_state.values(), kept, added):
                value.update((a + b).stop_grad())
        jt.sync(list(ema_state.values()))
