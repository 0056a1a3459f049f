"""Faults a long run must survive: SIGKILL during a step or a checkpoint write, and a full disk.

Each killed process is stopped at a known point, never after a sleep: the checkpoint writer waits at the
point it announces until the test kills it, and the trainer kills itself right after a given step.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from goldyolo.engine.trainer import Trainer
from goldyolo.models.checkpoint import read_checkpoint, write_checkpoint
from goldyolo.runtime import tolerate_child_deaths

from conftest import SAMPLE, tiny_train_config

# Writes checkpoints of versions 1, 2, ... to argv[1] and stops at the point argv[2:] names, announcing it on
# stdout ("reached PHASE VERSION") and waiting there for the test's SIGKILL:
#   partial V   the temp file of version V holds the first half of its bytes
#   written V   the temp file of version V is complete and synced, not yet renamed onto the target
#   replaced V  version V has replaced the target (the next write has not begun)
WRITER = """
import os, signal, sys
import numpy as np
from goldyolo.models.checkpoint import write_checkpoint

target, phase, stop = sys.argv[1], sys.argv[2], int(sys.argv[3])
version = 0
real_fdopen, real_replace = os.fdopen, os.replace


def wait_for_the_kill(point):
    print("reached", point, version, flush=True)
    while True:
        signal.pause()


class HalfWrite:
    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        wait_for_the_kill("partial")


def fdopen(fd, *args, **kwargs):
    handle = real_fdopen(fd, *args, **kwargs)
    return HalfWrite(handle) if (phase, version) == ("partial", stop) else handle


def replace(src, dst):
    if (phase, version) == ("written", stop):
        wait_for_the_kill("written")
    real_replace(src, dst)


os.fdopen, os.replace = fdopen, replace  # what write_checkpoint calls
for version in range(1, stop + 1):
    write_checkpoint({"version": version, "weights": np.full(6_000_000, version, dtype=np.float32)}, target)
wait_for_the_kill("replaced")
"""
KILL_POINTS = [("partial", 1), ("written", 1), ("replaced", 1), ("partial", 3), ("written", 2), ("replaced", 3)]


@pytest.fixture(autouse=True)
def survive_killed_children():
    """These tests kill their children on purpose; Jittor's SIGCHLD handler would end pytest with them."""
    tolerate_child_deaths()


def kill_when_reached(command: list, log: Path) -> str:
    """Start ``command``, SIGKILL it as soon as it prints a line starting with "reached"; that line."""
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = ""
        try:
            while not line.startswith("reached"):
                line = process.stdout.readline()
                if not line:  # ended without reaching a stop
                    break
        finally:
            process.send_signal(signal.SIGKILL)
            process.stdout.close()
            process.wait()
    assert line, f"exit {process.returncode} before any stop:\n{log.read_text()[-3000:]}"
    assert process.returncode == -signal.SIGKILL
    return line.strip()


def test_sigkill_during_checkpoint_writes_leaves_a_loadable_file(tmp_path):
    target = tmp_path / "last.pkl"
    seen = set()
    for phase, version in KILL_POINTS:
        write_checkpoint({"version": 0, "weights": np.zeros(6_000_000, dtype=np.float32)}, target)
        temporaries = set(tmp_path.glob(".last.pkl.*.tmp"))
        reached = kill_when_reached([sys.executable, "-c", WRITER, str(target), phase, str(version)],
                                    tmp_path / "writer.log")
        assert reached == f"reached {phase} {version}"
        state = read_checkpoint(target)  # never half-written: the old or the new complete version
        assert np.all(state["weights"] == state["version"])
        assert state["version"] == (version if phase == "replaced" else version - 1), (phase, version)
        seen.add(state["version"])
        left = set(tmp_path.glob(".last.pkl.*.tmp")) - temporaries
        if phase == "replaced":
            assert not left
        else:  # the kill landed mid-write: the temp file stays behind, the start of the next run removes it
            (temporary,) = left
            if phase == "partial":
                with pytest.raises(ValueError, match="not a readable checkpoint"):
                    read_checkpoint(temporary)
            else:
                assert read_checkpoint(temporary)["version"] == version
    assert seen == {0, 1, 2, 3}  # the kills landed while versions were being replaced
    assert len(list(tmp_path.glob(".last.pkl.*.tmp"))) == 4  # and four landed mid-write


# ``python -m goldyolo ARGS`` that kills itself (SIGKILL) right after the global training step argv[1]
# (epoch * steps per epoch + step), having printed "reached step ..." on stdout.
KILLED_AFTER_STEP = """
import os, runpy, signal, sys
from goldyolo.engine.trainer import Trainer

after = int(sys.argv.pop(1))
train_step = Trainer.train_step


def train_step_then_kill(self, images, targets, epoch, step):
    items = train_step(self, images, targets, epoch, step)
    if epoch * self.steps_per_epoch + step == after:
        print(f"reached step {after} (epoch {epoch}, step {step})", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return items


Trainer.train_step = train_step_then_kill
runpy.run_module("goldyolo", run_name="__main__", alter_sys=True)
"""


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
    # 8 images at batch 4: 2 steps an epoch; killed after the first step of epoch 1, whose weights and
    # optimizer state exist only in memory then
    command = train_command(killed)
    done = subprocess.run([command[0], "-c", KILLED_AFTER_STEP, "2", *command[3:]], capture_output=True, text=True,
                          env=env)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert "reached step 2 (epoch 1, step 0)" in done.stdout
    epochs_done = len((killed / "metrics.jsonl").read_text().splitlines())
    assert epochs_done == 1, "the kill should land after the first checkpoint and before the end"
    assert read_checkpoint(killed / "last.pkl")["epoch"] == 0  # loadable, the end of epoch 0
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
    config = tiny_train_config(tmp_path / "run")
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
    Trainer(tiny_train_config(run))
    assert not stale.exists() and keep.read_text() == "mine"
    assert f"removed {stale}" in capsys.readouterr().out
