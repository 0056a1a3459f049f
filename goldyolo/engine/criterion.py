"""The training criterion: one call for plain, anchor-aided (fuse-ab) and distillation training.

Every variant is called as ``criterion(outputs, targets, epoch, step)`` with the :class:`Outputs` of one
forward pass and returns ``(loss, items)``; ``criterion.item_names`` names the items (the keys of
``metrics.jsonl``). The variants are the official ones: ``ComputeLoss`` (plain), the anchor-free plus the
anchor-based loss (``--fuse-ab``) and ``ComputeLossDistill`` (``--distill``, which also needs both necks'
outputs and the teacher's, and the run's epochs for its decay).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

from ..runtime import jt
from .distill import ComputeLossDistill
from .loss import ComputeLoss, ComputeLossAB, fuse_ab_loss
from .loss_items import DISTILL_ITEMS, LOSS_ITEMS


@dataclass
class Outputs:
    """One forward pass as the criterion reads it: the student's training outputs and, for distillation,
    its neck outputs, the teacher's outputs and the teacher's neck outputs."""
    student: tuple
    feats: Optional[Sequence[jt.Var]] = None
    teacher: Optional[tuple] = None
    teacher_feats: Optional[Sequence[jt.Var]] = None


class Criterion:
    """The loss a training configuration optimises (see the module docstring)."""

    def __init__(self, kind: str, loss: ComputeLoss, loss_ab: Optional[ComputeLossAB] = None, epochs: int = 0):
        if kind not in ("plain", "fuse_ab", "distill"):
            raise ValueError(f"unknown criterion {kind!r}")
        self.kind, self.loss, self.loss_ab, self.epochs = kind, loss, loss_ab, epochs
        self.item_names: Tuple[str, ...] = DISTILL_ITEMS if kind == "distill" else LOSS_ITEMS

    @classmethod
    def for_training(cls, config, num_classes: int, img_size: int, fuse_ab: bool = False, distill: bool = False,
                     epochs: int = 0, temperature: float = 20.0, distill_feat: bool = False) -> "Criterion":
        """The criterion of a model config (its loss settings) for the training mode chosen."""
        if distill:
            return cls("distill", ComputeLossDistill.for_model(config, num_classes, img_size, temperature,
                                                               distill_feat), epochs=epochs)
        plain = ComputeLoss.for_model(config, num_classes, img_size)
        if fuse_ab:
            return cls("fuse_ab", plain, ComputeLossAB.for_model(config, num_classes, img_size))
        return cls("plain", plain)

    @property
    def needs_features(self) -> bool:
        """Whether the forward pass must also return the necks' outputs and run the teacher."""
        return self.kind == "distill"

    def __call__(self, outputs: Outputs, targets, epoch: int, step: int = 0) -> Tuple[jt.Var, jt.Var]:
        """``(loss, items)`` of a batch.

        Args:
            outputs: the forward pass (:class:`Outputs`).
            targets: (n, 6) rows [image index, class, cx, cy, w, h], normalised.
        Returns:
            loss: () the scalar to minimise; items: (len(item_names),) its weighted parts, detached.
        """
        if self.kind == "plain":
            return self.loss(outputs.student, targets, epoch, step)
        if self.kind == "fuse_ab":
            return fuse_ab_loss(self.loss, self.loss_ab, outputs.student, targets, epoch, step)
        if outputs.teacher is None or outputs.feats is None or outputs.teacher_feats is None:
            raise ValueError("distillation needs the student's neck outputs and the teacher's outputs")
        return self.loss(outputs.student, outputs.teacher, outputs.feats, outputs.teacher_feats, targets, epoch,
                         self.epochs, step)

    def named(self, values: Sequence[float]) -> Dict[str, float]:
        """Items (e.g. an epoch's means) by name, with their sum as ``loss``."""
        if len(values) != len(self.item_names):
            raise ValueError(f"{len(values)} values for the items {self.item_names}")
        named = {name: float(v) for name, v in zip(self.item_names, values)}
        named["loss"] = float(sum(values))
        return named
