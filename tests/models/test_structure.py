"""State-dict names/shapes, BN settings and counts against the official reference, for all sizes."""
from __future__ import annotations

import json

import pytest

from goldyolo import build_model, fuse, model_info
from goldyolo.models.common import BatchNorm2d

from conftest import REFERENCE, SIZES, reference_keys

BUFFERS = ("num_batches_tracked",)


def _shapes(entries):
    return {name: tuple(shape) for name, shape, _ in entries if not name.endswith(BUFFERS)}


@pytest.fixture(scope="module", params=SIZES)
def size_and_model(request):
    return request.param, build_model(f"gold_yolo-{request.param}")


def test_training_state_dict_matches_official(size_and_model):
    size, model = size_and_model
    expected = _shapes(reference_keys(size)["training"])
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(expected) - set(mine)) == []
    assert sorted(set(mine) - set(expected)) == []
    assert {k: s for k, s in mine.items() if expected[k] != s} == {}


def test_batchnorm_flavours_match_official(size_and_model):
    size, model = size_and_model
    expected = {name: (eps, momentum) for name, _cls, eps, momentum in reference_keys(size)["bn_modules_training"]}
    mine = {name: (m.eps, m.momentum) for name, m in model.named_modules() if isinstance(m, BatchNorm2d)}
    assert set(mine) == set(expected)
    wrong = {n: (mine[n], expected[n]) for n in expected if mine[n] != pytest.approx(expected[n])}
    assert wrong == {}
    sync = {name for name, cls, _, _ in reference_keys(size)["bn_modules_training"] if cls == "SyncBatchNorm"}
    assert {n for n, m in model.named_modules() if isinstance(m, BatchNorm2d) and m.sync} == sync


@pytest.mark.needs_reference("models.json")
def test_counts_match_official_training_and_deploy(size_and_model):
    size, model = size_and_model
    reference = json.loads((REFERENCE / "models.json").read_text())["models"][f"gold_yolo-{size}"]
    for form in ("training_form", "deploy_form"):
        if form == "deploy_form":  # a model of its own: the module's shared one stays in training form
            model = fuse(build_model(f"gold_yolo-{size}"))
            expected_keys = _shapes(reference_keys(size)["deploy"])
            assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_keys
        info = model_info(model, 640)
        ref = reference[form]
        assert info.params == ref["params_total"], form
        assert info.params_trainable == ref["params_trainable"], form
        assert info.gflops == pytest.approx(ref["thop_gflops_640_official_method"], abs=5e-5), form
        assert info.thop_params / 1e6 == pytest.approx(ref["thop_params_M"], abs=5e-5), form
        assert str(info) == ref["get_model_info_string"], form


def test_deploy_form_matches_paper_table():
    for size in SIZES:
        model = fuse(build_model(f"gold_yolo-{size}"))
        info, paper = model_info(model, 640), model.config.paper
        assert round(info.params / 1e6, 1) == paper["params_M"], size
        # S counts 46.14 GFLOPs against the paper's 46.0 (reference README); the others agree to 0.05.
        assert abs(info.gflops - paper["gflops"]) <= (0.15 if size == "s" else 0.05), size
