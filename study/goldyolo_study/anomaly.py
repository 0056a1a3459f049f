"""The loss anomaly of the earlier student report, rebuilt and set beside the real loss.

The earlier report's code is not available; its two losses are rebuilt here from what it printed
(their names, components and values), on this project's Gold-YOLO model:

* ``fixed_target_loss`` (its first loss, 0.85 -> 0.01): the head's outputs are pulled towards a
  fixed artificial target (every class score and box output equal to 1). The target does not
  depend on the image, so a constant output satisfies it: the prediction layers' biases alone
  can drive it to zero.
* ``synthetic_target_loss`` (its "fixed" loss, 2.48 -> 0.78 with reg 0.000, cls 0.684, obj 0.070,
  noobj 0.025): a YOLOv3-style sum reg + cls + obj + noobj whose targets come from a synthetic
  generator (fixed seed) instead of the labels. The synthetic objects carry random soft class
  targets (their best constant prediction costs ln 2 = 0.693 per element) and no boxes, so the
  regression term has no positive to act on and is exactly zero.

Both take the batch's labels as an argument and never read them; ``run_curve`` trains a model
with any of the losses on a fixed batch, with the true or a shuffled assignment of labels to
images, which is how the notebook shows it.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from goldyolo.engine.criterion import Outputs
from goldyolo.engine.loss import ComputeLoss
from goldyolo.engine.solver import build_optimizer
from goldyolo.engine.step import TrainStep
from goldyolo.engine.trainer import seed_everything
from goldyolo.models import build_model
from goldyolo.runtime import jt

TINY = 1e-30  # probability floor: log() and its gradient stay finite where a float32 score reaches 0 or 1


def bce(p: jt.Var, target) -> jt.Var:
    """Element-wise binary cross-entropy on probabilities; log terms floored at log(1e-30) (PyTorch: -100)."""
    log_p = jt.log(p.maximum(TINY))
    log_not_p = jt.log((1 - p).maximum(TINY))
    return -(target * log_p + (1 - target) * log_not_p)


def fixed_target_loss(outputs, targets) -> Tuple[jt.Var, Dict[str, float]]:
    """Mean squared distance of every output (class scores, sigmoid of box outputs) to 1; labels unused."""
    _, cls_probs, reg = outputs
    pred = jt.concat([cls_probs, jt.sigmoid(reg)], dim=-1)
    loss = ((pred - 1.0) ** 2).mean()
    return loss, {"loss": float(loss), "num_pos": 0}


class SyntheticTargets:
    """Synthetic objects on fixed anchors (same for every image) with random soft class targets, no boxes."""

    def __init__(self, num_anchors: int, num_classes: int, objects: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.positive = np.zeros(num_anchors, dtype=bool)
        self.positive[rng.choice(num_anchors, size=min(objects, num_anchors), replace=False)] = True
        self.class_target = rng.random((int(self.positive.sum()), num_classes)).astype(np.float32)
        self.box_mask = np.zeros(int(self.positive.sum()), dtype=bool)  # the generator makes no boxes


def synthetic_target_loss(outputs, targets, synthetic: SyntheticTargets) -> Tuple[jt.Var, Dict[str, float]]:
    """reg + cls + obj + noobj against ``synthetic`` targets; objectness is the highest class score.

    ``targets`` (the labels) is accepted and ignored, as in the loss being rebuilt.
    """
    _, cls_probs, reg = outputs
    pos = jt.array(np.flatnonzero(synthetic.positive).astype(np.int32))
    neg = jt.array(np.flatnonzero(~synthetic.positive).astype(np.int32))
    confidence = cls_probs.max(-1)
    obj = bce(confidence[:, pos], 1.0).mean()
    noobj = bce(confidence[:, neg], 0.0).mean()
    cls = bce(cls_probs[:, pos], jt.array(synthetic.class_target)).mean()
    box_mask = jt.array(synthetic.box_mask.astype(np.float32))
    reg_per_object = (reg[:, pos] ** 2).mean(-1)
    reg_loss = (reg_per_object * box_mask).sum() / max(float(synthetic.box_mask.sum()), 1.0)
    loss = reg_loss + cls + obj + noobj
    # the class scores at the synthetic objects: what a "mean confidence" of this training reads
    items = {"loss": float(loss), "reg": float(reg_loss), "cls": float(cls), "obj": float(obj),
             "noobj": float(noobj), "num_pos": int(synthetic.box_mask.sum()),
             "mean_class_score": float(cls_probs[:, pos].mean())}
    return loss, items


def real_loss(outputs, targets, loss_fn: ComputeLoss) -> Tuple[jt.Var, Dict[str, float]]:
    """The official loss on the labels, with its components and the number of positive anchors."""
    loss, items = loss_fn(outputs, targets, epoch_num=0)
    assignment, _, _ = loss_fn.assign(outputs, targets, 0)
    iou, dfl, cls = (float(v) for v in items.numpy())
    return loss, {"loss": float(loss), "iou": iou, "dfl": dfl, "cls": cls, "num_pos": assignment.num_fg}


def shuffle_labels(targets: np.ndarray, batch_size: int, seed: int = 0) -> np.ndarray:
    """The same boxes handed to other images: a cyclic shift along a random order, so none keeps its own."""
    if batch_size < 2:
        raise ValueError("shuffling labels needs at least two images")
    order = np.random.default_rng(seed).permutation(batch_size)
    mapping = np.empty(batch_size, dtype=np.int64)
    mapping[order] = np.roll(order, 1)
    shuffled = np.array(targets, dtype=np.float32, copy=True)
    shuffled[:, 0] = mapping[shuffled[:, 0].astype(np.int64)]
    return shuffled[np.argsort(shuffled[:, 0], kind="stable")]


def fixed_batch(source, count: int, img_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """The first ``count`` images of ``source`` letterboxed to ``img_size`` (no augmentation) and their labels."""
    from goldyolo.data import DetectionDataset
    dataset = DetectionDataset(source, img_size=img_size, augment=False, batch_size=count)
    images, targets, _ = next(iter(dataset))
    return images, targets


LossFn = Callable[[tuple, np.ndarray], Tuple[jt.Var, Dict[str, float]]]


def make_loss(kind: str, model, seed: int = 0) -> LossFn:
    """``"fixed_target"``, ``"synthetic_target"`` (its generator seeded with ``seed``) or ``"real"`` as a
    function of (outputs, targets)."""
    cfg = model.config
    if kind == "fixed_target":
        return fixed_target_loss
    if kind == "synthetic_target":
        state: Dict[str, SyntheticTargets] = {}

        def loss(outputs, targets):
            if "targets" not in state:
                state["targets"] = SyntheticTargets(outputs[1].shape[1], outputs[1].shape[2], seed=seed)
            return synthetic_target_loss(outputs, targets, state["targets"])
        return loss
    if kind == "real":
        loss_fn = None

        def loss(outputs, targets):
            nonlocal loss_fn
            if loss_fn is None:
                size = outputs[0][0].shape[2] * cfg.strides[0]
                loss_fn = ComputeLoss.for_model(cfg, model.num_classes, size)
            return real_loss(outputs, targets, loss_fn)
        return loss
    raise ValueError(f"unknown loss {kind!r}: choose fixed_target, synthetic_target or real")


class StudyCriterion:
    """One of :func:`make_loss`'s losses behind the criterion interface of
    :class:`~goldyolo.engine.step.TrainStep`; the last call's items stay in ``items``."""
    item_names = ("loss",)
    needs_features = False

    def __init__(self, loss_fn: LossFn):
        self.loss_fn = loss_fn
        self.items: Dict[str, float] = {}

    def __call__(self, outputs: Outputs, targets, epoch: int, step: int = 0) -> Tuple[jt.Var, jt.Var]:
        loss, self.items = self.loss_fn(outputs.student, targets)
        return loss, loss.detach().reshape((1,))


def run_curve(kind: str, images: np.ndarray, targets: np.ndarray, model_name: str = "gold_yolo-n",
              steps: int = 100, optimizer: str = "adam", lr: float = 1e-2, seed: int = 0,
              shuffled: bool = False) -> List[Dict[str, float]]:
    """Train a fresh model on one fixed batch for ``steps`` steps; one row of loss items per step.

    ``optimizer``: ``"adam"`` (plain Adam, as simple training scripts use) or ``"sgd"`` (the official
    nesterov SGD with its parameter groups), at a constant ``lr``, no warm-up, no augmentation.

    ``shuffled`` hands every image another image's labels, drawn afresh at every step
    (``shuffle_labels``), so that nothing consistent links an image to its targets.
    """
    seed_everything(seed)
    model = build_model(model_name)
    model.train()
    if optimizer == "adam":
        optimizer = jt.optim.Adam(model.parameters(), lr=lr)
    elif optimizer == "sgd":
        hyp = dict(model.config.solver, lr0=lr)
        optimizer = build_optimizer(model, hyp, hyp["weight_decay"])
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}: choose adam or sgd")
    criterion = StudyCriterion(make_loss(kind, model, seed))
    # the trainer's step with this criterion and optimizer: no warm-up, no accumulation, no EMA
    train_step = TrainStep(model, criterion, optimizer, hyp={}, batch_size=len(images), nominal_batch=len(images),
                           warmup_total=-1, steps_per_epoch=1)
    x = jt.array(images)
    rows = []
    for step in range(steps):
        labels = shuffle_labels(targets, len(images), seed * 100003 + step) if shuffled else targets
        if train_step(x, labels, epoch=0, step=step) is None:
            raise FloatingPointError(f"{kind} loss became {criterion.items['loss']} at step {step}")
        rows.append(dict(criterion.items, step=step))
    return rows


def output_gradients(kind: str, images: np.ndarray, targets: np.ndarray, model_name: str = "gold_yolo-n",
                     seed: int = 0) -> Dict[str, float]:
    """What the first gradient asks of the class scores: the share of the (B, A, C) scores it pushes up
    or down, and the share that changes at all when the labels are shuffled."""
    seed_everything(seed)
    model = build_model(model_name)
    model.train()
    loss_fn = make_loss(kind, model, seed)
    grads = []
    for labels in (targets, shuffle_labels(targets, len(images), seed)):
        outputs = model(jt.array(images))
        loss, _ = loss_fn(outputs, labels)
        grads.append(jt.grad(loss, outputs[1]).numpy())
    grad, grad_shuffled = grads
    scale = np.abs(grad).max() or 1.0
    return {"scores pushed up": float((grad < 0).mean()), "scores pushed down": float((grad > 0).mean()),
            "scores whose gradient changes with shuffled labels":
                float((np.abs(grad - grad_shuffled) > 1e-6 * scale).mean())}


def official_agreement(cases: Sequence[Tuple[str, str, dict]]) -> List[Dict[str, float]]:
    """Our loss against official values: ``(label, model name, parity npz as a dict)`` per case."""
    from goldyolo.config import get_config
    rows = []
    for label, model_name, ref in cases:
        cfg = get_config(model_name)
        loss_fn = ComputeLoss.for_model(cfg, 80, ref["input"].shape[-1])
        outputs = ([jt.array(ref[f"feat{i}"]) for i in range(3)], jt.array(ref["train_cls"]),
                   jt.array(ref["train_reg"]))
        loss, _ = loss_fn(outputs, ref["targets"], 0, 1)
        ours, official = float(loss), float(ref["loss"])
        rows.append({"case": label, "official loss": official, "goldyolo loss": ours,
                     "relative difference": abs(ours - official) / abs(official),
                     "official positives": int(ref["num_fg"]),
                     "goldyolo positives": loss_fn.assign(outputs, ref["targets"], 0)[0].num_fg})
    return rows
