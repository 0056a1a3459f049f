"""Deploy conversion: fused and unfused models agree, and fuse is the official conversion only."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo import build_model, fuse, load_state_dict_strict
from goldyolo.models.common import BatchNorm2d, ConvWrapper, GDConv, RepVGGBlock
from goldyolo.models.transformer import Conv2d_BN, ConvModule
from goldyolo.runtime import jt


def randomised(size: str):
    """A model whose every tensor is random (BN statistics included), so that fusion has work to do."""
    model = build_model(f"gold_yolo-{size}")
    rng = np.random.default_rng(0)
    state = {}
    for name, var in model.state_dict().items():
        shape = tuple(var.shape)
        if name.endswith("running_var") or (name.endswith("weight") and len(shape) == 1):
            state[name] = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("alpha"):
            state[name] = rng.uniform(0.5, 1.5, shape)
        elif name in ("detect.proj", "detect.proj_conv.weight"):
            state[name] = var.numpy()
        elif len(shape) >= 2:
            state[name] = rng.normal(0, 0.6 / np.sqrt(np.prod(shape[1:])), shape)
        else:
            state[name] = rng.normal(0, 0.1, shape)
    load_state_dict_strict(model, state)
    return model


@pytest.mark.parametrize("size", ["n", "s"])
def test_fused_equals_unfused(size):
    model = randomised(size).eval()
    x = jt.array(np.random.default_rng(1).random((1, 3, 96, 64), dtype=np.float32))
    before = model(x).numpy()
    after = fuse(model)(x).numpy()
    assert np.abs(after[..., :4] - before[..., :4]).max() <= 1e-2
    assert np.abs(after[..., 4:] - before[..., 4:]).max() <= 2e-5


@pytest.mark.parametrize("size", ["n", "l"])
def test_fuse_touches_only_official_modules(size):
    model = fuse(build_model(f"gold_yolo-{size}"))
    modules = model.modules()
    assert all(m.rbr_reparam is not None and m.rbr_dense is None for m in modules if isinstance(m, RepVGGBlock))
    # Kept BN, as the official fuse_model keeps it: gold_yolo's Conv, Conv2d_BN and ConvModule.
    kept = [m for m in modules if isinstance(m, (GDConv, Conv2d_BN, ConvModule))]
    assert kept and all(isinstance(m.bn, BatchNorm2d) for m in kept)
    if size == "l":
        wrappers = [m for m in modules if isinstance(m, ConvWrapper)]
        assert wrappers and all(m.block.bn is None and m.block.conv.bias is not None for m in wrappers)
    assert not model.is_training()
