"""oneDNN convolutions (goldyolo.ops.conv) against Jittor's own: outputs and the three gradients."""
from __future__ import annotations

import numpy as np
import pytest

from goldyolo.ops import conv as conv_module
from goldyolo.ops.conv import Conv2d, conv2d, use_backend
from goldyolo.runtime import jt

# (n, c, h, w, oc, k, stride, padding, dilation, groups, bias): the model's kinds (3x3, 1x1, stride 2,
# depthwise, grouped) and odd sizes
CASES = [(2, 16, 20, 20, 32, 3, 1, 1, 1, 1, True), (2, 16, 21, 19, 32, 3, 2, 1, 1, 1, False),
         (1, 32, 10, 12, 32, 3, 1, 1, 1, 32, True), (2, 8, 9, 9, 16, 1, 1, 0, 1, 1, True),
         (1, 12, 11, 11, 24, 3, 1, 2, 2, 3, False), (3, 3, 17, 15, 8, 5, 2, 2, 1, 1, True)]


def run(backend, x, w, b, stride, padding, dilation, groups):
    with use_backend(backend):
        y = conv2d(x, w, b, stride, padding, dilation, groups)
        loss = (y * y.detach().sin()).sum()  # a gradient that varies over the output
        grads = jt.grad(loss, [x, w] + ([b] if b is not None else []))
        return [y.numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("case", CASES)
def test_onednn_convolution_equals_jittors_with_gradients(case):
    n, c, h, w, oc, k, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(sum(case[:6]))
    x = jt.array(rng.standard_normal((n, c, h, w)).astype(np.float32))
    weight = jt.array(rng.standard_normal((oc, c // groups, k, k)).astype(np.float32))
    b = jt.array(rng.standard_normal(oc).astype(np.float32)) if bias else None
    ours = run("onednn", x, weight, b, stride, padding, dilation, groups)
    theirs = run("jittor", x, weight, b, stride, padding, dilation, groups)
    assert ours[0].shape == theirs[0].shape
    for name, a, e in zip(("output", "grad x", "grad weight", "grad bias"), ours, theirs):
        assert np.abs(a - e).max() <= 1e-5 * np.abs(e).max(), name
        assert np.abs(e).max() > 0


def test_the_module_keeps_jittors_parameters_and_switches_backend(monkeypatch):
    layer = Conv2d(4, 6, 3, padding=1)
    assert sorted(dict(layer.named_parameters())) == ["bias", "weight"]
    x = jt.array(np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32))
    calls = []
    monkeypatch.setattr(conv_module.OneDNNConv, "apply",
                        classmethod(lambda cls, *args: calls.append(args) or jt.zeros((1, 6, 8, 8))))
    with use_backend("jittor"):
        layer(x)
    assert not calls
    layer(x)
    assert len(calls) == 1 and calls[0][3:] == ((1, 1), (1, 1), (1, 1), 1, "")


def test_an_unknown_backend_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="unknown convolution backend"):
        with use_backend("mkl"):
            pass
    monkeypatch.setitem(conv_module._state, "backend", "cudnn")
    with pytest.raises(ValueError, match="GOLDYOLO_CONV='cudnn'"):
        conv_module.backend()


def test_without_onednn_the_convolutions_are_jittors(monkeypatch):
    monkeypatch.setenv("use_mkl", "0")
    conv_module._flags.cache_clear()
    try:
        assert conv_module.backend() == "jittor"
    finally:
        monkeypatch.undo()
        conv_module._flags.cache_clear()
    assert conv_module.backend() == "onednn"


@pytest.mark.skipif(not conv_module.cpu_has_bf16(), reason="this CPU has no bf16 instructions (AVX-512 BF16 or AMX)")
@pytest.mark.parametrize("case", CASES[:4])
def test_bf16_convolution_is_float32_within_bf16_rounding(case):
    n, c, h, w, oc, k, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(7)
    x = jt.array(rng.standard_normal((n, c, h, w)).astype(np.float32))
    weight = jt.array(rng.standard_normal((oc, c // groups, k, k)).astype(np.float32))
    b = jt.array(rng.standard_normal(oc).astype(np.float32)) if bias else None
    results = {}
    for name in ("float32", "bf16"):
        with conv_module.use_precision(name):
            y = conv2d(x, weight, b, stride, padding, dilation, groups)
            upstream = jt.array(np.cos(np.arange(y.numel())).reshape(y.shape).astype(np.float32))
            grads = jt.grad((y * upstream).sum(), [x, weight])  # bias: a sum of rounded values, not compared
            results[name] = [y.numpy()] + [g.numpy() for g in grads]
    for name, exact, rounded in zip(("output", "grad x", "grad weight"), results["float32"], results["bf16"]):
        error = np.abs(rounded - exact).max() / np.abs(exact).max()
        assert 1e-5 < error < 1e-2, (name, error)  # bf16 keeps 8 bits: about 4e-3 per rounded input


def test_bf16_without_the_instructions_stays_float32(monkeypatch):
    monkeypatch.setattr(conv_module, "cpu_has_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no bf16 instructions"):
        with conv_module.use_precision("bf16"):
            assert conv_module.precision() == "float32"
    with pytest.raises(ValueError, match="unknown precision"):
        with conv_module.use_precision("fp8"):
            pass


@pytest.mark.parametrize("name", ["relu", "silu", "relu6", "identity"])
def test_an_activation_fused_for_inference_equals_the_activation_after(name):
    from goldyolo.models.common import ACTIVATIONS
    layer = Conv2d(6, 8, 3, padding=1)
    x = jt.array(4 * np.random.default_rng(2).standard_normal((2, 6, 9, 9)).astype(np.float32))
    with jt.no_grad():
        fused = layer.with_activation(x, name, ACTIVATIONS[name]).numpy()
        apart = ACTIVATIONS[name](layer(x)).numpy()
    assert np.abs(fused - apart).max() <= 1e-5 * np.abs(apart).max()
    if name == "relu6":
        assert apart.max() == 6.0  # the clip is reached
    with_grad = layer.with_activation(x, name, ACTIVATIONS[name])  # with gradients: not fused, differentiable
    assert jt.grad(with_grad.sum(), layer.weight).shape == layer.weight.shape


def chain_layers():
    jt.set_global_seed(3)
    return [(Conv2d(3, 16, 3, stride=2, padding=1), "relu"), (Conv2d(16, 32, 3, padding=1, bias=False), "silu"),
            (Conv2d(32, 32, 1), ""), (Conv2d(32, 24, 3, stride=2, padding=1), "relu6")]


def in_turn(x, links):
    for layer, act in links:
        x = layer(x, act=act)
    return x


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_a_chain_equals_its_convolutions_in_turn(precision):
    if precision == "bf16" and not conv_module.cpu_has_bf16():
        pytest.skip("this CPU has no bf16 instructions (AVX-512 BF16 or AMX)")
    links = chain_layers()
    x = jt.array(np.random.default_rng(4).standard_normal((2, 3, 30, 22)).astype(np.float32))
    with jt.no_grad(), conv_module.use_precision(precision):
        chained = conv_module.conv_chain(x, links).numpy()
        apart = in_turn(x, links).numpy()
        as_float32 = None
        if precision == "bf16":
            with conv_module.use_precision("float32"):
                as_float32 = in_turn(x, links).numpy()
    assert chained.shape == (2, 24, 8, 6)
    # bf16 between the links is what the next convolution would round its float32 input to: the same numbers
    assert np.array_equal(chained, apart)
    if as_float32 is not None:  # and bf16 it is: not float32's results
        error = np.abs(chained - as_float32).max() / np.abs(as_float32).max()
        assert 1e-5 < error < 3e-2


def test_a_chain_is_refused_with_gradients_or_mismatched_links():
    links = chain_layers()
    x = jt.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="inference"):
        conv_module.conv_chain(x, links)
    with jt.no_grad(), pytest.raises(ValueError, match="link 1 reads 32 channels, the one before gives 16"):
        conv_module.conv_chain(x, [links[0], links[2]])


def test_frozen_weights_are_kept_within_a_period_and_read_again_after():
    layer, act = chain_layers()[1]
    x = jt.rand(1, 16, 12, 12)
    with jt.no_grad():
        before = layer(x).numpy()
        with conv_module.frozen_weights():
            assert np.array_equal(layer(x).numpy(), before)
            layer.weight.data[...] *= 2  # in place, behind the promise: the period's copy is still used
            kept = layer(x).numpy()
        after = layer(x).numpy()
        period = conv_module.new_period()
        with conv_module.frozen_weights(period):
            renewed = layer(x).numpy()
    bias = layer.bias.numpy().reshape(1, -1, 1, 1) if layer.bias is not None else 0
    assert np.array_equal(kept, before)
    assert np.allclose(after - bias, 2 * (before - bias), rtol=1e-5, atol=1e-5)
    assert np.array_equal(renewed, after)
    with conv_module.frozen_weights(period):  # a named period continues: its copies are still there
        with jt.no_grad():
            layer.weight.data[...] *= 2
            assert np.array_equal(layer(x).numpy(), renewed)
    with conv_module.frozen_weights():  # gradients recorded: weights are read at every call
        y = layer(x)
        assert jt.grad(y.sum(), layer.weight).shape == layer.weight.shape


def test_a_deploy_model_runs_its_convolution_chains_with_the_same_result():
    from goldyolo.models import build_model
    from goldyolo.models.common import chain_links
    from goldyolo.models.fuse import fuse
    model = build_model("gold_yolo-n")
    assert chain_links(model.backbone.ERBlock_3) is None  # training form: branches and BN
    fuse(model)
    model.eval()
    stage = chain_links(model.backbone.ERBlock_3)
    assert stage is not None and len(stage) == 1 + 4  # the stride-2 block, then the RepBlock's four
    assert chain_links(model.backbone.ERBlock_5) is None  # the SPPF branches
    x = jt.rand(1, 3, 96, 96)
    with jt.no_grad():
        with conv_module.no_chains():
            apart = model(x).numpy()
            calls_apart = convolution_calls(lambda: model(x))
        with conv_module.frozen_weights():
            chained = model(x).numpy()
            calls_chained = convolution_calls(lambda: model(x))
    assert np.array_equal(chained, apart)
    # N's 95 deploy convolutions; the backbone's stages, the neck's RepBlocks and low_IFM's RepVGG blocks, and
    # each head branch's two convolutions run as chains
    assert calls_apart == 95 and calls_chained == 60


def convolution_calls(fn) -> int:
    from goldyolo.bench.profile_ops import op_profile
    kinds = {k["kind"]: k["kernels"] for k in op_profile(fn, warmup=1)["kinds"]}
    return kinds["convolution forward, oneDNN"]


@pytest.mark.parametrize("shape", [(2, 8, 20, 16), (1, 4, 2, 2)])  # 2x2: a map smaller than the window
def test_pooling_through_onednn_equals_jittors(shape):
    from goldyolo.ops.pool import max_pool, window_mean
    x = jt.array(np.random.default_rng(5).standard_normal(shape).astype(np.float32))
    with jt.no_grad():
        ours = [max_pool(x, 5, 1, 2).numpy(), window_mean(x, 2, 2).numpy()]
        with use_backend("jittor"):
            theirs = [max_pool(x, 5, 1, 2).numpy(), window_mean(x, 2, 2).numpy()]
    for a, e in zip(ours, theirs):
        assert a.shape == e.shape and np.abs(a - e).max() <= 1e-6 * np.abs(e).max()
    assert ours[0].shape == shape and ours[1].shape == shape[:2] + (shape[2] // 2, shape[3] // 2)
    assert (ours[0] >= x.numpy()).all()  # a max over a window that holds the centre
    with_grad = max_pool(x, 5, 1, 2)  # with gradients: Jittor's, differentiable
    assert jt.grad(with_grad.sum(), x).shape == x.shape
