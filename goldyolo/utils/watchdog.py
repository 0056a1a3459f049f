"""Run a child command under a time limit and, when it overruns, show where it hung before killing it.

The report's notebooks run benchmarks as child processes; a child that hangs would otherwise hold the
notebook until the cell's own limit and leave no trace of where it stopped. :func:`run_watched` waits
``timeout_s``, then collects, for the child and every process it started (its process group), the
Python stacks (``python -m goldyolo`` dumps them on SIGUSR1, see :func:`dump_stacks_on_signal`; the
signal is sent only to processes that catch it) and the native stacks (``gdb``, where installed),
stops the group, prints the report and tries again up to ``attempts`` times in all. When every
attempt hangs it raises :class:`ChildHung` carrying the stacks.

Both runners call :func:`goldyolo.runtime.tolerate_child_deaths` first: Jittor's SIGCHLD handler would
otherwise end the calling process (a notebook kernel) as soon as a child it stopped died by a signal.
"""
from __future__ import annotations

import faulthandler
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

from ..errors import GoldYoloError
from ..runtime import tolerate_child_deaths

STACK_SIGNAL = signal.SIGUSR1
STACKS_DIR_ENV = "GOLDYOLO_STACKS_DIR"
TAIL_CHARS = 4000
_stack_files: list = []   # kept open: faulthandler writes to them from the signal handler


class ChildHung(GoldYoloError, RuntimeError):
    """A child command ran past its time limit; the message carries its Python and native stacks."""


def dump_stacks_on_signal() -> None:
    """Make SIGUSR1 print every thread's Python stack (``kill -USR1 <pid>``) without stopping the process.

    They go to ``$GOLDYOLO_STACKS_DIR/stacks-<pid>.txt`` when that folder exists (the watchdog sets it, so
    that grandchildren whose stderr is a pipe to a killed parent are heard too), else to stderr."""
    folder = os.environ.get(STACKS_DIR_ENV)
    target = sys.stderr
    if folder and Path(folder).is_dir():
        target = open(Path(folder) / f"stacks-{os.getpid()}.txt", "w")
        _stack_files.append(target)
    faulthandler.register(STACK_SIGNAL, file=target, all_threads=True, chain=False)


def run_watched(command: Sequence[str], timeout_s: float, env: Optional[Mapping[str, str]] = None,
                cwd: Optional[Path | str] = None, attempts: int = 2) -> subprocess.CompletedProcess:
    """Run ``command`` with captured text output, at most ``timeout_s`` seconds per attempt.

    A hung attempt is reported on stdout (the stacks of every process it started, its output tail) and
    the command is run again, ``attempts`` times in all; the returned process is the first that ended
    by itself, whatever its exit code. Raises ChildHung when every attempt hangs.
    """
    if attempts < 1 or timeout_s <= 0:
        raise ValueError(f"attempts must be >= 1 and timeout_s > 0, got {attempts} and {timeout_s}")
    tolerate_child_deaths()
    reports = []
    for attempt in range(1, attempts + 1):
        done, hang_report = _run_once(list(command), timeout_s, env, cwd)
        if done is not None:
            return done
        report = f"attempt {attempt} of {attempts} hung: {hang_report}"
        print(report, flush=True)
        reports.append(report)
    raise ChildHung("\n\n".join(reports))


def _run_once(command: list, timeout_s: float, env: Optional[Mapping[str, str]],
              cwd: Optional[Path | str]) -> tuple:
    """(CompletedProcess, None) when the command ends in time, else (None, the hang report)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryDirectory() as stacks_dir:
        child_env = dict(os.environ if env is None else env, **{STACKS_DIR_ENV: stacks_dir})
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=cwd, env=child_env,
                                 start_new_session=True)
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stacks = group_stacks(child.pid, Path(stacks_dir))
            _stop_group(child)
            return None, (f"`{' '.join(command)}` (pid {child.pid}) still running after {timeout_s:.0f} s; "
                          f"stopped.\n{stacks}\n--- stdout tail ---\n{_read(out)[-TAIL_CHARS:]}"
                          f"\n--- stderr tail ---\n{_read(err)[-TAIL_CHARS:]}")
        return subprocess.CompletedProcess(command, child.returncode, _read(out), _read(err)), None


def run_limited(command: Sequence[str], timeout_s: float, **popen_kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)`` for a Jittor process.

    Past ``timeout_s`` the command's process group is stopped and ``subprocess.TimeoutExpired`` is raised."""
    tolerate_child_deaths()
    child = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, **popen_kwargs)
    try:
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop_group(child)
        child.communicate()
        raise
    return subprocess.CompletedProcess(list(command), child.returncode, out, err)


def group_stacks(pgid: int, stacks_dir: Path) -> str:
    """Native (gdb) and Python (SIGUSR1) stacks of every process in process group ``pgid``.

    Forked copies of a process (a worker pool: same command line as its parent) are counted, not shown."""
    members = group_members(pgid)
    shown = {pid: line for pid, (ppid, line) in members.items() if members.get(ppid, (0, None))[1] != line}
    forks = len(members) - len(shown)
    native = {pid: native_stacks(pid) for pid in shown}
    asked = [pid for pid in shown if catches_signal(pid, STACK_SIGNAL)]
    for pid in asked:
        os.kill(pid, STACK_SIGNAL)
    if asked:
        time.sleep(2.0)
    parts = [f"{len(members)} processes in the group" + (f", {forks} forked workers not shown" if forks else "")]
    for pid, line in shown.items():
        dumped = stacks_dir / f"stacks-{pid}.txt"
        python = dumped.read_text()[-TAIL_CHARS:] if dumped.exists() else ""
        parts.append(f"=== pid {pid}: {line}\n--- native stacks ---\n{native[pid]}"
                     + (f"\n--- Python stacks ---\n{python}" if python.strip() else ""))
    return "\n".join(parts)


def group_members(pgid: int) -> Dict[int, Tuple[int, str]]:
    """{pid: (parent pid, command line)} of process group ``pgid`` (from ``/proc``), the leader first."""
    members = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()   # after the name: state, ppid, pgrp, ...
            line = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            members[int(stat.parent.name)] = (int(fields[1]), line[:300])
    return dict(sorted(members.items(), key=lambda item: (item[0] != pgid, item[0])))


FRAME = re.compile(r"^(#\d+)\s+(?:0x[0-9a-f]+ in )?(\S+)(?: \(.*?\))?(?: at (\S+)| from (\S+))?")


def native_stacks(pid: int, timeout_s: float = 60.0) -> str:
    """Every thread's native backtrace of process ``pid`` from gdb, or why there is none."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "gdb not installed: no native stacks"
    try:
        done = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 25"],
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"gdb did not answer within {timeout_s:.0f} s"
    frames = [_short_frame(line) for line in done.stdout.splitlines() if line.startswith(("Thread ", "#"))]
    return "\n".join(frames)[-TAIL_CHARS:] if frames else f"gdb found no stacks: {done.stderr.strip()[-500:]}"


def _short_frame(line: str) -> str:
    """'#3 function at file.c:12' (or 'from lib.so') from a gdb backtrace line; thread headers as they are."""
    match = FRAME.match(line)
    if not line.startswith("#") or match is None:
        return line[:160]
    number, function, source, library = match.groups()
    where = Path(source).name if source else (Path(library).name if library else "")
    return f"{number} {function}" + (f"  {where}" if where else "")


def catches_signal(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (its ``SigCgt`` mask in ``/proc``; False elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) >> (signum - 1) & 1)


def _stop_group(child: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop the child and everything it started (its own session): SIGTERM, then SIGKILL after ``grace_s``."""
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            break
        try:
            child.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    child.wait()


def _read(handle) -> str:
    handle.flush()
    handle.seek(0)
    return handle.read()
