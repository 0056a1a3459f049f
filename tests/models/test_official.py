"""Official ``.pt`` checkpoints: read without PyTorch's unpickler, refuse code, convert via the CLI.

The checkpoints are made here with PyTorch (skipped when it is not installed): a module tree
with the official parameter names, saved the way the official trainer saves (whole fp16
modules under ``model`` and ``ema``, with function and config attributes as the official
modules hold them).
"""
from __future__ import annotations

import builtins
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import import_torch

torch = import_torch()

from goldyolo import UnsafeCheckpointError, build_model, load_official_checkpoint, load_weights  # noqa: E402

BUFFERS = ("running_mean", "running_var")


class Node(torch.nn.Module):
    """A module of the tree; carries a function and a config dict like the official modules do."""

    def __init__(self):
        super().__init__()
        self.pool = torch.nn.functional.adaptive_avg_pool2d
        self.cfg = {"type": "SyncBN", "requires_grad": True}


def official_like_tree(state: dict) -> torch.nn.Module:
    root = Node()
    for name, value in state.items():
        *path, leaf = name.split(".")
        node = root
        for part in path:
            if part not in node._modules:
                node.add_module(part, Node())
            node = node._modules[part]
        tensor = torch.from_numpy(np.array(value))
        if leaf in BUFFERS:
            node.register_buffer(leaf, tensor)
            if leaf == "running_var":
                node.register_buffer("num_batches_tracked", torch.tensor(5))
        else:
            node.register_parameter(leaf, torch.nn.Parameter(tensor, requires_grad=leaf != "proj"))
    return root


@pytest.fixture(scope="module")
def source_state():
    model = build_model("gold_yolo-n")
    rng = np.random.default_rng(0)
    return {k: rng.normal(0, 0.1, tuple(v.shape)).astype(np.float32) for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def official_file(tmp_path_factory, source_state):
    tree = official_like_tree(source_state).half()
    path = tmp_path_factory.mktemp("official") / "gold_yolo-n.pt"
    torch.save({"model": tree, "ema": tree, "updates": 10, "epoch": 2,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]}}, path)
    return path


def test_reads_every_tensor_as_stored(official_file, source_state):
    state = load_official_checkpoint(official_file)
    expected = set(source_state) | {k.replace("running_var", "num_batches_tracked")
                                    for k in source_state if k.endswith("running_var")}
    assert set(state) == expected
    for key, value in source_state.items():
        assert state[key].dtype == np.float16
        np.testing.assert_array_equal(state[key], value.astype(np.float16), err_msg=key)
    assert int(state["backbone.stem.rbr_dense.bn.num_batches_tracked"]) == 5


def test_reads_without_torch_in_the_process(official_file, tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from goldyolo import load_official_checkpoint\n"
        f"state = load_official_checkpoint({str(official_file)!r})\n"
        "print(len(state))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(len(load_official_checkpoint(official_file)))


def test_convert_cli_gives_the_same_model(official_file, source_state, tmp_path):
    out = tmp_path / "converted.pkl"
    done = subprocess.run([sys.executable, "-m", "goldyolo", "convert", str(official_file), str(out),
                           "--model", "gold_yolo-n"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "training form, 80 classes" in done.stdout
    model = load_weights(build_model("gold_yolo-n"), out)
    for key, value in source_state.items():
        np.testing.assert_array_equal(model.state_dict()[key].numpy(), value.astype(np.float16).astype(np.float32))


def test_convert_cli_rejects_wrong_model(official_file, tmp_path):
    done = subprocess.run([sys.executable, "-m", "goldyolo", "convert", str(official_file),
                           str(tmp_path / "x.pkl"), "--model", "gold_yolo-s"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "shape mismatches: backbone.stem.rbr_dense.conv.weight" in done.stderr
    assert not (tmp_path / "x.pkl").exists()


class CallsSystem:
    def __reduce__(self):
        return (os.system, ("echo owned > owned.txt",))


class CallsEval:
    def __reduce__(self):
        return (builtins.eval, ("open('owned.txt', 'w').write('owned')",))


class CallsPopen:
    def __reduce__(self):
        return (subprocess.Popen, (["touch", "owned.txt"],))


@pytest.mark.parametrize("payload,refused", [(CallsSystem, r"(posix|os|nt)\.system"),
                                             (CallsEval, r"builtins\.eval"),
                                             (CallsPopen, r"subprocess\.Popen")])
def test_malicious_checkpoints_are_refused(payload, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"model": payload(), "epoch": 1}, path)
    with pytest.raises(UnsafeCheckpointError, match=refused):
        load_official_checkpoint(path)
    assert not (tmp_path / "owned.txt").exists()


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a torch zip checkpoint"):
        load_official_checkpoint(path)
