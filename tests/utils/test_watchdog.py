"""run_watched: a child that ends is returned as is; a hung child is reported with its stacks, killed, retried."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from goldyolo.utils.watchdog import ChildHung, catches_signal, dump_stacks_on_signal, run_limited, run_watched

SLEEPER = ("import sys, time\n"
           "from goldyolo.utils.watchdog import dump_stacks_on_signal\n"
           "dump_stacks_on_signal()\n"
           "def stuck_here():\n"
           "    time.sleep(600)\n"
           "print('started', flush=True)\n"
           "stuck_here()\n")


def test_a_child_that_ends_is_returned_with_its_output_and_exit_code():
    done = run_watched([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
                       timeout_s=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_a_hung_child_is_killed_with_its_python_stacks_after_each_attempt(capsys):
    start = time.monotonic()
    with pytest.raises(ChildHung) as hung:
        run_watched([sys.executable, "-c", SLEEPER], timeout_s=3, attempts=2)
    message = str(hung.value)
    assert message.count("hung:") == 2 and "attempt 2 of 2" in message
    assert "stuck_here" in message and "started" in message   # the Python stack and the stdout tail
    if shutil.which("gdb"):
        assert "#0" in message   # a native frame
    assert time.monotonic() - start < 2 * (3 + 2 + 60)
    # this process imported Jittor, whose SIGCHLD handler would have ended it (run_watched restores the default)
    assert capsys.readouterr().out.count("hung:") == 2   # each hang is reported as it happens


def test_the_stacks_of_a_hung_grandchild_are_reported(capsys):
    parent = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {SLEEPER!r}])\n"
    with pytest.raises(ChildHung) as hung:
        run_watched([sys.executable, "-c", parent], timeout_s=4, attempts=1)
    message = str(hung.value)
    assert message.count("--- Python stacks ---") == 1 and message.count("=== pid") >= 2
    assert "stuck_here" in message   # written by the grandchild, whose stderr is a pipe to the killed child


def test_a_command_that_hangs_once_is_retried(tmp_path, capsys):
    marker = tmp_path / "tried"
    script = (f"import pathlib, time\nm = pathlib.Path({str(marker)!r})\n"
              "if not m.exists():\n    m.touch()\n    time.sleep(600)\nprint('second try')\n")
    done = run_watched([sys.executable, "-c", script], timeout_s=3, attempts=2)
    assert done.returncode == 0 and done.stdout == "second try\n"
    assert "attempt 1 of 2 hung" in capsys.readouterr().out


def test_signal_handlers_are_read_from_proc():
    import os
    import signal
    dump_stacks_on_signal()
    assert catches_signal(os.getpid(), signal.SIGUSR1)
    assert not catches_signal(os.getpid(), signal.SIGUSR2)


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="attempts"):
        run_watched([sys.executable, "-c", "pass"], timeout_s=0)


def test_a_limited_command_past_its_time_is_stopped_and_this_process_lives_on():
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_limited([sys.executable, "-c", "import time; time.sleep(600)"], timeout_s=1)
    assert time.monotonic() - start < 30
    done = run_limited([sys.executable, "-c", "print('ok')"], timeout_s=60)
    assert (done.returncode, done.stdout) == (0, "ok\n")
