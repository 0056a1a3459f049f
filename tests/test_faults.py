"""Faults a long run must survive: SIGKILL during a step or a checkpoint write, and a full disk."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from goldyolo.models.checkpoint import read_checkpoint, write_checkpoint
from goldyolo.runtime import tolerate_child_deaths
from goldyolo.engine.trainer import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


WRITER = """
import sys
import numpy as np
from goldyolo.models.checkpoint import write_checkpoint
for version in range(1, 1000):
    write_checkpoint({"version": version, "weights": np.full(6_000_000, version, dtype=np.float32)}, sys.argv[1])
"""


@pytest.fixture(autouse=True)
def survive_killed_children():
    """These tests kill their children on purpose; Jittor's SIGCHLD handler would end pytest with them."""
    tolerate_child_deaths()


def test_sigkill_during_checkpoint_writes_leaves_a_loadable_file(tmp_path):
    target = tmp_path / "last.pkl"
    write_checkpoint({"version": 0, "weights": np.zeros(6_000_000, dtype=np.float32)}, target)
    rng = random.Random(0)
    seen = set()
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        mtime = target.stat().st_mtime_ns
        deadline = time.time() + 120
        while target.stat().st_mtime_ns == mtime and time.time() < deadline:  # writing has begun
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        state = read_checkpoint(target)  # never half-written: the old or a new complete version
        assert np.all(state["weights"] == state["version"])
        seen.add(state["version"])
    assert len(seen) > 1  # the kills landed while versions were being replaced
    assert list(tmp_path.glob(".last.pkl.*.tmp"))  # and some landed mid-write, leaving a temp file behind


def train_command(out: Path, *extra: str) -> list:
    return [sys.executable, "-m", "goldyolo", "train", "--model", "gold_yolo-n", "--data", str(SAMPLE / "train.json"),
            "--images", str(SAMPLE / "images"), "--subset", "8", "--img-size", "64", "--epochs", "3",
            "--batch-size", "4", "--eval-interval", "0", "--nominal-batch", "4", "--min-warmup-steps", "2",
            "--out", str(out), *extra]


def weights(path: Path) -> dict:
    return read_checkpoint(path)["model"]


def test_sigkill_then_resume_reaches_the_uninterrupted_weights(tmp_path):
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    done = subprocess.run(train_command(tmp_path / "whole"), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    killed = tmp_path / "killed"
    process = subprocess.Popen(train_command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while not (killed / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch's steps
    process.send_signal(signal.SIGKILL)
    process.wait()
    epochs_done = len((killed / "metrics.jsonl").read_text().splitlines())
    assert 1 <= epochs_done < 3, "the kill should land after the first checkpoint and before the end"
    read_checkpoint(killed / "last.pkl")  # loadable
    done = subprocess.run(train_command(killed, "--resume"), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed from {killed / 'last.pkl'} after epoch {epochs_done - 1}" in done.stdout
    a, b = weights(tmp_path / "whole" / "last.pkl"), weights(killed / "last.pkl")
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst <= 1e-6, worst  # same data, same draws, same steps on the CPU
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 3


def test_full_disk_fails_before_training(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**20, 9 * 2**20, 2**20))
    config = TrainConfig(model="gold_yolo-n", data=str(SAMPLE / "train.json"), images=str(SAMPLE / "images"),
                         out=str(tmp_path / "run"), img_size=64, epochs=1, batch_size=4)
    with pytest.raises(OSError, match=r"not enough free space in .*run: 1 MiB free, the checkpoints of gold_yolo-n "
                                      r"need about \d+ MiB"):
        Trainer(config)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_stale_checkpoint_temporaries_are_removed_at_start(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    stale = run / ".last.pkl.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = run / "notes.txt"
    keep.write_text("mine")
    Trainer(TrainConfig(model="gold_yolo-n", data=str(SAMPLE / "train.json"), images=str(SAMPLE / "images"),
                        out=str(run), img_size=64, epochs=1, batch_size=4))
    assert not stale.exists() and keep.read_text() == "mine"
    assert f"removed {stale}" in capsys.readouterr().out
