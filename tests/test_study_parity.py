"""The report's parity json (``goldyolo.study.parity``): goldyolo against the official outputs, per size."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.errors import InputNotFoundError
from goldyolo.study import parity

from conftest import FIXTURES, REFERENCE


@pytest.mark.needs_reference("weights.py", "keys_n.json")
def test_n_parity_within_the_reference_bounds():
    result = parity.size_parity(REFERENCE, dict(np.load(FIXTURES / "official_outputs.npz")), "n")
    assert result["input"] == [3, 3, 96, 160]
    assert result["eval_box_px"] <= 1e-2 and result["deploy_box_px"] <= 1e-2
    assert result["eval_score"] <= 2e-5 and result["deploy_score"] <= 2e-5
    assert result["train_cls_vs_official"] <= 1e-4 and result["train_reg_vs_official"] <= 2e-3
    assert 0 < result["official_train_cls_vs_float64"] < 1e-4  # the official float32 run's own rounding


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(InputNotFoundError, match="weights.py"):
        parity.parity_report(str(tmp_path), str(tmp_path / "none.npz"), str(tmp_path / "p.json"))
    assert not (tmp_path / "p.json").exists()
    json.dumps(parity.CONV_GAIN)
