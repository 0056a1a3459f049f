"""ONNX export: the deploy graph written from goldyolo's modules runs in onnxruntime and gives Jittor's outputs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from goldyolo import fuse
from goldyolo.cli import main
from goldyolo.models.export import OPSET, export_onnx

from conftest import model_with_reference_weights, reference_state

SCORE_TOL, BOX_REL_TOL = 1e-4, 1e-4


@pytest.mark.parametrize("size", ["n", "s"])
def test_onnx_outputs_equal_jittor(size, tmp_path, reference_weights):
    model = fuse(model_with_reference_weights(reference_weights, size).eval())
    result = export_onnx(model, str(tmp_path / f"{size}.onnx"), img_size=128, batch=2)
    assert result["output"] == [2, 16 * 16 + 8 * 8 + 4 * 4, 85] and result["opset"] == OPSET
    assert result["scores_max_abs_difference"] <= SCORE_TOL
    assert result["boxes_max_relative_difference"] <= BOX_REL_TOL
    graph = onnx.load(str(tmp_path / f"{size}.onnx")).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["outputs"]
    assert {n.op_type for n in graph.node} >= {"Conv", "MatMul", "Softmax", "Concat", "Sigmoid", "MaxPool"}


def test_export_command_writes_a_checked_file(tmp_path, reference_weights):
    np.savez(tmp_path / "n.npz", **reference_state(reference_weights, "n"))
    assert main(["export", str(tmp_path / "n.npz"), "--model", "gold_yolo-n", "--img-size", "64",
                 "--out", str(tmp_path / "n.onnx")]) == 0
    assert (tmp_path / "n.onnx").stat().st_size > 1_000_000
    assert main(["export", str(tmp_path / "n.npz"), "--img-size", "64"]) == 2  # plain weights need --model
