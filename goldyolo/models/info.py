"""Parameter and FLOP counts, the way the official ``get_model_info`` (thop) counts them.

thop hooks leaf modules and counts, per call, ``out.numel() * in_c/groups * kh * kw`` for a conv
(bias not counted) and ``4 * in.numel()`` for an affine BatchNorm; activations, pooling,
resizing and the attention matmuls count zero. The official method profiles a 1x3x64x64 input
in eval mode and scales by ``(img_size / 64)^2 * 2``. Here shapes come from Jittor's lazy
graph, so counting runs no kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Union

from jittor import nn

from ..ops.conv import no_chains
from ..runtime import jt
from .common import BatchNorm2d

BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
PROFILE_SIZE = 64


@dataclass(frozen=True)
class ModelInfo:
    """Counts of one model. ``gflops`` and ``thop_params`` follow the official tool."""
    params: int
    params_trainable: int
    thop_params: int
    gflops: float
    img_size: tuple

    def __str__(self) -> str:
        return f"Params: {self.thop_params / 1e6:.2f}M, Gflops: {self.gflops:.2f}"


def parameters(model: nn.Module) -> Dict[str, jt.Var]:
    """Named parameters in the PyTorch sense: the state_dict without BN buffers."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith(BUFFER_SUFFIXES)}


def is_trainable(model: nn.Module, var: jt.Var) -> bool:
    """Whether ``var`` takes gradients in training mode (eval mode stops them only temporarily)."""
    backup = getattr(model, "backup_grad_state", {})
    if not model.is_training() and id(var) in backup:
        return backup[id(var)]
    return not var.is_stop_grad()


def _profile_ops(model: nn.Module, size: Sequence[int]) -> tuple:
    """Run a zero input through ``model`` in eval mode, counting thop ops and params per leaf call."""
    totals = {"ops": 0, "params": 0}
    counted = set()
    patched: List[nn.Module] = []

    def wrap(module: nn.Module) -> None:
        original = module.execute

        def counting(x, *args, **kwargs):
            y = original(x, *args, **kwargs)
            if isinstance(module, nn.Conv):
                in_c, (_, _, kh, kw) = x.shape[1], module.weight.shape
                totals["ops"] += y.numel() * (in_c // module.groups) * kh * kw
            else:
                totals["ops"] += 4 * x.numel()
            if id(module) not in counted:
                counted.add(id(module))
                totals["params"] += sum(p.numel() for p in (module.weight, module.bias) if p is not None)
            return y

        module.execute = counting
        patched.append(module)

    was_training = model.is_training()
    model.eval()
    try:
        for module in model.modules():
            if isinstance(module, (nn.Conv, BatchNorm2d)):
                wrap(module)
        with jt.no_grad(), no_chains():  # every convolution through its own execute, to be counted
            model(jt.zeros((1, 3, size[0], size[1])))
    finally:
        for module in patched:
            del module.execute
        if was_training:
            model.train()
    return totals["ops"], totals["params"]


def model_info(model: nn.Module, img_size: Union[int, Sequence[int]] = 640) -> ModelInfo:
    """Parameters (total, trainable, thop) and GFLOPs at ``img_size`` by the official method."""
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    named = parameters(model)
    total = sum(v.numel() for v in named.values())
    trainable = sum(v.numel() for v in named.values() if is_trainable(model, v))
    ops, thop_params = _profile_ops(model, (PROFILE_SIZE, PROFILE_SIZE))
    gflops = ops / 1e9 * size[0] * size[1] / PROFILE_SIZE / PROFILE_SIZE * 2
    return ModelInfo(int(total), int(trainable), int(thop_params), float(gflops), size)


def layer_rows(model: nn.Module, depth: int) -> List[tuple]:
    """(name, type, parameters) of every module down to ``depth`` dots."""
    state = model.state_dict()
    rows = []
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue
        count = sum(v.numel() for k, v in state.items()
                    if k.startswith(name + ".") and not k.endswith(BUFFER_SUFFIXES))
        rows.append((name, type(module).__name__, int(count)))
    return rows


def describe(model: str, img_size: int = 640, num_classes: int = 80, depth: int = 2, layers: bool = True) -> str:
    """Counts of ``model`` in training and deploy form, beside the paper's, and its layer summary."""
    from ..config import get_config
    from .fuse import fuse
    from .yolo import build_model
    net = build_model(model, num_classes=num_classes)
    train = model_info(net, img_size)
    lines = [f"{model} ({num_classes} classes) at {img_size}x{img_size}",
             f"  training form: {train.params:,} parameters ({train.params_trainable:,} trainable), "
             f"{train.gflops:.2f} GFLOPs   [{train}]"]
    if layers:
        lines.append(f"\n{'module':48s} {'type':28s} {'params':>12s}")
        lines += [f"{'  ' * name.count('.') + name:48s} {kind:28s} {count:12,d}"
                  for name, kind, count in layer_rows(net, depth)]
    deploy = model_info(fuse(net), img_size)
    lines.append(f"  deploy form:   {deploy.params:,} parameters, {deploy.gflops:.2f} GFLOPs   [{deploy}]")
    paper = get_config(model).paper
    if paper:
        lines.append(f"  paper:         {paper['params_M']} M parameters, {paper['gflops']} GFLOPs, "
                     f"COCO AP {paper['ap']}")
    return "\n".join(lines)


def model_rows(img_size: int = 640) -> List[dict]:
    """Counts of the four models from the code (deploy and training form) beside the paper's numbers."""
    from ..config import CONFIGS
    from .fuse import fuse
    from .yolo import build_model
    rows = []
    for name, config in CONFIGS.items():
        net = build_model(name)
        train = model_info(net, img_size)
        deploy = model_info(fuse(net), img_size)
        paper = config.paper
        rows.append({"model": name, "params": deploy.params, "gflops": deploy.gflops,
                     "training_params": train.params, "paper_params_M": paper["params_M"],
                     "paper_gflops": paper["gflops"], "paper_ap": paper["ap"]})
    return rows


def model_table(img_size: int = 640) -> str:
    """Markdown table of the four models: counts from the code, next to the paper's numbers."""
    lines = [f"| model | params (M) | GFLOPs ({img_size}) | training-form params (M) | paper params (M) "
             "| paper GFLOPs | paper COCO AP |",
             "|---|---|---|---|---|---|---|"]
    for row in model_rows(img_size):
        lines.append(f"| {row['model']} | {row['params'] / 1e6:.2f} | {row['gflops']:.2f} "
                     f"| {row['training_params'] / 1e6:.2f} | {row['paper_params_M']} | {row['paper_gflops']} "
                     f"| {row['paper_ap']} |")
    return "\n".join(lines)
