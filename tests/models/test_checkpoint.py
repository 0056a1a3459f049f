"""Strict loading errors, safe checkpoint files and atomic writes."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from goldyolo import (
    StateDictError,
    UnsafeCheckpointError,
    build_model,
    load_state_dict_strict,
    load_weights,
    save_weights,
)
from goldyolo.models.checkpoint import read_checkpoint, write_checkpoint
from goldyolo.runtime import jt


@pytest.fixture(scope="module")
def model():
    return build_model("gold_yolo-n")


def numpy_state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_strict_load_names_missing_key(model):
    state = numpy_state(model)
    del state["neck.conv_1x1_n.bias"]
    with pytest.raises(StateDictError, match=r"missing keys: neck\.conv_1x1_n\.bias"):
        load_state_dict_strict(model, state)


def test_strict_load_names_unexpected_key(model):
    state = numpy_state(model)
    state["neck.not_a_layer.weight"] = np.zeros(3, np.float32)
    with pytest.raises(StateDictError, match=r"unexpected keys: neck\.not_a_layer\.weight"):
        load_state_dict_strict(model, state)


def test_strict_load_names_shape_mismatch(model):
    state = numpy_state(model)
    state["detect.cls_preds.0.bias"] = np.zeros(20, np.float32)
    with pytest.raises(StateDictError, match=r"detect\.cls_preds\.0\.bias: checkpoint \(20,\) vs model \(80,\)"):
        load_state_dict_strict(model, state)


def test_strict_load_leaves_model_untouched_on_error(model):
    before = model.state_dict()["backbone.stem.rbr_dense.conv.weight"].numpy().copy()
    state = {k: v + 1 for k, v in numpy_state(model).items()}
    del state["detect.proj"]
    with pytest.raises(StateDictError):
        load_state_dict_strict(model, state)
    np.testing.assert_array_equal(model.state_dict()["backbone.stem.rbr_dense.conv.weight"].numpy(), before)


def test_strict_load_accepts_fp16_and_batch_counters():
    model = build_model("gold_yolo-n")
    state = {k: v.astype(np.float16) for k, v in numpy_state(model).items()}
    state["backbone.stem.rbr_dense.bn.num_batches_tracked"] = np.array(7)
    state["backbone.stem.rbr_dense.conv.weight"] = np.full((16, 3, 3, 3), 0.25, np.float16)
    load_state_dict_strict(model, state)
    loaded = model.state_dict()["backbone.stem.rbr_dense.conv.weight"].numpy()
    assert loaded.dtype == np.float32 and np.all(loaded == 0.25)


def test_weights_round_trip_and_jittor_compatibility(tmp_path, model):
    path = save_weights(model, tmp_path / "w.pkl")
    other = build_model("gold_yolo-n")
    other.state_dict()["neck.conv_1x1_n.bias"].update(jt.ones((192,)))
    load_weights(other, path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    assert set(jt.load(str(path))) == set(model.state_dict())  # Jittor's own loader reads it too
    assert [p.name for p in tmp_path.iterdir()] == ["w.pkl"]  # no temporary file left behind


def test_weights_saved_as_npz_are_a_real_npz(tmp_path, model):
    path = save_weights(model, tmp_path / "w.npz")
    with np.load(path, allow_pickle=False) as archive:  # no pickles: what the official side reads
        assert set(archive.files) == set(model.state_dict())
    other = load_weights(build_model("gold_yolo-n"), path)
    key = "neck.conv_1x1_n.bias"
    np.testing.assert_array_equal(other.state_dict()[key].numpy(), model.state_dict()[key].numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_corrupted_checkpoint_is_reported(tmp_path):
    path = write_checkpoint({"a": np.arange(4.0)}, tmp_path / "c.pkl")
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        read_checkpoint(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo exploited > exploited.txt",))


def test_malicious_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"weight": _Exploit()}))
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load (posix|os|nt)\.system"):
        read_checkpoint(path)
    assert not (tmp_path / "exploited.txt").exists()


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = write_checkpoint({"a": np.zeros(2)}, tmp_path / "c.pkl")

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint({"a": np.ones(2)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(read_checkpoint(path)["a"], np.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pkl"]


def test_model_load_state_dict_is_strict(tmp_path):
    model = build_model("gold_yolo-n")
    state = numpy_state(model)
    state["detect.extra.weight"] = np.zeros(1, np.float32)
    with pytest.raises(StateDictError, match=r"unexpected keys: detect\.extra\.weight"):
        model.load_state_dict(state)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"weight": _Exploit()}))
    with pytest.raises(UnsafeCheckpointError):
        model.load(str(path))  # Jittor's Module.load would unpickle it
