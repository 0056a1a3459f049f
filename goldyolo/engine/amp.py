"""Mixed-precision training (Q17): the official trainer's ``torch.cuda.amp`` in Jittor.

The official engine runs the forward pass and the loss under ``autocast`` and scales the loss
with a ``GradScaler``, both enabled exactly when the device is not the CPU. Here:

* :func:`autocast` builds the forward pass under Jittor's mixed-precision level 4 (operations
  with a float16 input compute in float16; reductions, ``exp`` and ``log`` keep float32) and
  feeds the images as float16, so convolutions, matmuls and activations run in float16 while
  parameters, BN statistics and softmax stay float32, as under PyTorch's autocast.
* :func:`to_float32` casts the head outputs back before the loss. The whole loss then runs in
  float32; the official loss runs under autocast but forces its VFL BCE to float32, and its
  other terms (cross-entropy, the IoU arithmetic of float16 predictions with float32 targets)
  are float32 by autocast's own rules or by type promotion.
* :class:`GradScaler` is PyTorch's dynamic loss scaling with its defaults: the loss is multiplied
  by the scale before backward; at an optimizer step the gradients are checked and divided by
  the scale; a step with a non-finite gradient is skipped and halves the scale, and 2,000
  finite steps in a row double it.

Jittor's float16 kernels are incomplete on the CPU (its max-pool backward does not compile for
float16), so mixed precision is for CUDA, as in the official code; the scaler works anywhere.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Sequence

import numpy as np

from ..runtime import jt

AMP_LEVEL = 4  # jt.flags.auto_mixed_precision_level: float16 where an input is float16, float32 reductions


@contextmanager
def autocast(enabled: bool) -> Iterator[None]:
    """Build the operations inside in mixed precision when ``enabled`` (a no-op otherwise)."""
    if not enabled:
        yield
        return
    with jt.flag_scope(auto_mixed_precision_level=AMP_LEVEL):
        yield


def autocast_input(images: jt.Var, enabled: bool) -> jt.Var:
    """The network input as autocast sees it: float16 when mixed precision is on."""
    return images.float16() if enabled else images


def to_float32(outputs):
    """Cast every Var in a (nested) tuple or list of head outputs to float32."""
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(to_float32(o) for o in outputs)
    return outputs.float32() if outputs.dtype != "float32" else outputs


def forward_for_loss(model, images: jt.Var, enabled: bool, features: bool = False):
    """The model's training outputs on ``images``, in mixed precision when ``enabled``, cast to float32 for the loss;
    with ``features``, ``(outputs, neck outputs)``."""
    with autocast(enabled):
        x = autocast_input(images, enabled)
        outputs = model.execute_with_features(x) if features else model(x)
    return to_float32(outputs)


def optimizer_grads(optimizer: jt.optim.Optimizer) -> List[jt.Var]:
    """The accumulated gradients the optimizer will apply (those of parameters that take gradients)."""
    return [grad for group in optimizer.param_groups
            for param, grad in zip(group["params"], group.get("grads", [])) if not param.is_stop_grad()]


def float32_grads(optimizer: jt.optim.Optimizer) -> List[jt.Var]:
    """The accumulated gradients, cast to float32 where mixed precision left them float16.

    Jittor computes the weight gradients of a float16 operation in float16 (PyTorch too, then casts
    them to the float32 parameter's type); ``Optimizer.backward`` would store them as float16, so
    they are cast after each backward and later batches accumulate in float32.
    """
    grads = optimizer_grads(optimizer)
    for grad in grads:
        if grad.dtype != "float32":
            grad.update(grad.float32())
    return grads


def grads_are_finite(grads: Sequence[jt.Var]) -> bool:
    """True when no gradient holds NaN or inf (one float64 sum of absolute values per gradient)."""
    if not grads:
        return True
    totals = jt.stack([grad.float64().abs().sum() for grad in grads]).numpy()
    return bool(np.isfinite(totals).all())


class GradScaler:
    """Dynamic loss scaling with ``torch.cuda.amp.GradScaler``'s defaults; a pass-through when disabled.

    Use: ``optimizer.backward(scaler.scale(loss))`` and :func:`float32_grads` for each batch; at an optimizer step
    ``scaler.step(optimizer)`` (unscale, then step or skip) and ``scaler.update()``.
    """

    def __init__(self, enabled: bool = True, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000):
        if not (growth_factor > 1.0 and 0.0 < backoff_factor < 1.0 and growth_interval >= 1 and init_scale > 0):
            raise ValueError("GradScaler needs growth_factor > 1, 0 < backoff_factor < 1, growth_interval >= 1, "
                             "init_scale > 0")
        self.enabled = enabled
        self.scale_value = float(init_scale)
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.growth_tracker = 0  # finite steps since the scale last changed
        self.skipped_steps = 0
        self._found_inf = False

    def scale(self, loss: jt.Var) -> jt.Var:
        """The loss multiplied by the current scale (unchanged when disabled)."""
        return loss * self.scale_value if self.enabled else loss

    def step(self, optimizer: jt.optim.Optimizer) -> bool:
        """Unscale the accumulated gradients and step; skip (and drop them) when one is not finite.

        Returns:
            True when the optimizer stepped.
        """
        if not self.enabled:
            optimizer.step()
            return True
        grads = optimizer_grads(optimizer)
        self._found_inf = not grads_are_finite(grads)
        if self._found_inf:
            optimizer.zero_grad()  # the next backward overwrites instead of accumulating
            self.skipped_steps += 1
            return False
        inverse = 1.0 / self.scale_value
        for grad in grads:
            grad.update(grad * inverse)
        optimizer.step()
        return True

    def update(self) -> None:
        """Back off after a skipped step; grow after ``growth_interval`` finite steps in a row."""
        if not self.enabled:
            return
        if self._found_inf:
            self.scale_value *= self.backoff_factor
            self.growth_tracker = 0
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                self.scale_value *= self.growth_factor
                self.growth_tracker = 0
        self._found_inf = False

    def state_dict(self) -> Dict[str, float]:
        """What a checkpoint needs to resume the scaling exactly."""
        return {"scale": self.scale_value, "growth_tracker": self.growth_tracker, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        """Restore :meth:`state_dict`'s values."""
        self.scale_value = float(state["scale"])
        self.growth_tracker = int(state["growth_tracker"])
        self.skipped_steps = int(state["skipped_steps"])
