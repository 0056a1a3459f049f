"""Per-module forward time: each top-level module and its children, timed with a device sync.

Every profiled module's ``execute`` is wrapped (an instance attribute, removed afterwards) so that
it syncs all pending work before starting its clock and syncs its outputs before stopping it. The
syncs stop Jittor from fusing operations across module boundaries, so the per-module times add up
to more than an unprofiled forward: they locate the slow layers, they are not the latency.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

from jittor import nn

from ..ops.conv import no_chains
from ..runtime import jt


@dataclass
class LayerTime:
    """Forward time of one module, in ms per forward: ``ms`` inclusive, ``self_ms`` without the
    profiled modules called inside it."""
    name: str
    type: str
    depth: int
    calls: int
    ms: float
    self_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def profiled_modules(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """(report name, module): the model's children and theirs. A child that is only a list of
    modules (a ``Sequential`` indexed by the caller, as in the head) reports its items under its
    own name; a re-entrant call of the same name is not timed twice."""
    pairs = []
    for name, top in model.named_children():
        pairs.append((name, top))
        for child_name, child in top.named_children():
            full = f"{name}.{child_name}"
            pairs.append((full, child))
            if isinstance(child, nn.Sequential):
                pairs.extend((full, item) for item in child)
    return pairs


class _Recorder:
    """Accumulates inclusive and child time per report name while the wrapped modules run."""

    def __init__(self):
        self.stack: List[str] = []
        self.total: Dict[str, float] = {}
        self.children: Dict[str, float] = {}
        self.calls: Dict[str, int] = {}

    def wrap(self, name: str, module: nn.Module) -> None:
        original = module.execute

        def timed(*args, **kw):
            if name in self.stack:
                return original(*args, **kw)
            jt.sync_all(True)
            self.stack.append(name)
            start = time.perf_counter()
            out = original(*args, **kw)
            jt.sync_all(True)
            elapsed = (time.perf_counter() - start) * 1e3
            self.stack.pop()
            self.total[name] = self.total.get(name, 0.0) + elapsed
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.stack:
                self.children[self.stack[-1]] = self.children.get(self.stack[-1], 0.0) + elapsed
            return out
        module.execute = timed

    def reset(self) -> None:
        self.total.clear()
        self.children.clear()
        self.calls.clear()


def layer_profile(model: nn.Module, x: jt.Var, warmup: int = 1, runs: int = 3) -> List[LayerTime]:
    """Per-module forward times of ``model(x)`` in its current mode, without gradients, averaged
    over ``runs`` forwards after ``warmup`` (which compile the per-module kernels); sorted by
    ``self_ms``, slowest first."""
    if runs < 1:
        raise ValueError("layer_profile needs runs >= 1")
    pairs = profiled_modules(model)
    saved = [(module, module.__dict__.get("execute")) for _, module in pairs]
    recorder = _Recorder()
    types = {}
    try:
        for name, module in pairs:
            types.setdefault(name, type(module).__name__)
            recorder.wrap(name, module)
        with jt.no_grad(), no_chains():  # a chain of convolutions would skip the modules it spans
            for i in range(warmup + runs):
                if i == warmup:
                    recorder.reset()
                out = model(x)
                jt.sync_all(True)
                del out
    finally:
        for module, execute in reversed(saved):
            if execute is None:
                del module.execute
            else:
                module.execute = execute
    rows = [LayerTime(name, types[name], name.count("."), recorder.calls[name] // runs, total / runs,
                      (total - recorder.children.get(name, 0.0)) / runs)
            for name, total in recorder.total.items()]
    return sorted(rows, key=lambda row: row.self_ms, reverse=True)
