"""The runtime module: oneDNN wiring, the CPU fallback without a CUDA driver, and the result."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from goldyolo import runtime
from goldyolo.runtime import RuntimeSetupError


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path))
    monkeypatch.setenv("use_mkl", "1")
    monkeypatch.delenv("GOLDYOLO_ALLOW_SLOW_CPU", raising=False)
    return tmp_path


def test_links_debian_onednn_where_jittor_looks(fake_home, tmp_path, monkeypatch):
    lib = tmp_path / "sys" / "libdnnl.so.2.6"
    header = tmp_path / "sys" / "include" / "dnnl.h"
    header.parent.mkdir(parents=True)
    lib.write_bytes(b"")
    header.write_text("")
    monkeypatch.setattr(runtime, "DEBIAN_DNNL_GLOBS", (str(tmp_path / "sys" / "libdnnl.so*"),))
    monkeypatch.setattr(runtime, "DEBIAN_DNNL_HEADER", header)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    assert runtime.ensure_onednn() == "system"
    target = fake_home / ".cache" / "jittor" / "mkl" / "dnnl_lnx_2.2.0_cpu_gomp"
    assert (target / "lib" / "libmkldnn.so").resolve() == lib
    assert (target / "include").resolve() == header.parent
    assert runtime.ensure_onednn() == "cached"


def test_missing_onednn_says_what_to_install(fake_home, tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "DEBIAN_DNNL_GLOBS", (str(tmp_path / "nothing*"),))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    with pytest.raises(RuntimeSetupError, match=r"oneDNN not found: `apt-get install libdnnl-dev`"):
        runtime.ensure_onednn()
    monkeypatch.setenv("GOLDYOLO_ALLOW_SLOW_CPU", "1")
    assert runtime.ensure_onednn() == "none"


def test_a_missing_onednn_stops_only_what_loads_jittor(fake_home, tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "DEBIAN_DNNL_GLOBS", (str(tmp_path / "nothing*"),))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    monkeypatch.setattr(runtime, "ensure_cuda_choice", lambda: False)
    monkeypatch.delitem(sys.modules, "jittor", raising=False)  # as in a fresh process, before Jittor loads
    runtime.prepare(strict=False)  # what ``import goldyolo`` does: help, data split, ... still run
    with pytest.raises(RuntimeSetupError, match="oneDNN not found"):
        runtime.prepare()  # what loading Jittor does first


def test_jt_is_loaded_once_then_a_plain_attribute(monkeypatch):
    jt = runtime.import_jittor()
    assert vars(runtime)["jt"] is jt
    calls = []
    monkeypatch.setattr(runtime, "prepare", lambda *args, **kwargs: calls.append(args))
    from goldyolo.runtime import jt as again
    assert again is jt and runtime.import_jittor() is jt and not calls


def test_no_cuda_driver_hides_nvcc(monkeypatch):
    monkeypatch.delenv("nvcc_path", raising=False)
    monkeypatch.setattr(runtime, "cuda_driver_available", lambda: False)
    assert runtime.ensure_cuda_choice() is False
    assert runtime.os.environ["nvcc_path"] == ""
    monkeypatch.setenv("nvcc_path", "/usr/local/cuda/bin/nvcc")
    assert runtime.ensure_cuda_choice() is True  # an explicit choice is respected


def test_import_uses_onednn_on_this_machine():
    # Importing goldyolo in a fresh process must give Jittor with oneDNN convolution (never silently slow).
    # CUDA is compiled in exactly when a driver exists, whether or not nvcc is installed.
    code = ("import goldyolo, jittor.compile_extern as ce; from goldyolo import runtime; "
            "print(ce.mkl_ops is not None, goldyolo.jt.compiler.has_cuda == runtime.cuda_driver_available())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["True", "True"]


CHILD_KILLER = """
import signal, subprocess, sys, time
import goldyolo.runtime as runtime
runtime.jt  # loads Jittor, which installs its SIGCHLD handler
if sys.argv[1] == "tolerate":
    runtime.tolerate_child_deaths()
child = subprocess.Popen(["sleep", "30"])
child.send_signal(signal.SIGKILL)
child.wait()
time.sleep(0.5)
print("alive, child exit", child.returncode, flush=True)
"""


def run_script(code: str, mode: str, kernel: bool = False) -> subprocess.CompletedProcess:
    """``code`` in a fresh Python with ``mode`` as its argument; ``kernel``: as in a Jupyter kernel."""
    env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
    if kernel:   # what jupyter_client sets in the kernels it starts: its own pid
        env["JPY_PARENT_PID"] = str(os.getpid())
    return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("mode", ["tolerate", "jittor-default"])
def test_a_killed_child_ends_the_process_only_without_tolerate_child_deaths(mode):
    done = run_script(CHILD_KILLER, mode)
    if mode == "tolerate":
        assert "alive, child exit -9" in done.stdout
    else:  # Jittor's own SIGCHLD handler: quick exit, documented in runtime.tolerate_child_deaths
        assert "alive" not in done.stdout and "Caught SIGCHLD" in done.stderr


STOP_A_CHILD = """
import os, signal, subprocess, sys, time
import goldyolo.runtime as runtime
runtime.jt  # loads Jittor, which installs its SIGCHLD handler
child = subprocess.Popen(["sleep", "2"])
time.sleep(0.3)
os.kill(child.pid, signal.SIGSTOP)   # what Ctrl-Z does to a training run's data-loader workers
time.sleep(0.3)
os.kill(child.pid, signal.SIGCONT)
if sys.argv[1] == "then-kill":
    child.send_signal(signal.SIGKILL)
child.wait()
time.sleep(0.5)
print("alive, child exit", child.returncode, flush=True)
"""


@pytest.mark.parametrize("mode", ["stop-continue", "then-kill"])
def test_a_stopped_child_does_not_end_the_process_but_a_killed_one_still_does(mode):
    done = run_script(STOP_A_CHILD, mode)
    if mode == "stop-continue":
        assert "alive, child exit 0" in done.stdout, done.stderr[-2000:]
        assert "Caught SIGCHLD" not in done.stderr
    else:  # Jittor's handler still ends the process when a worker dies
        assert "alive" not in done.stdout and "Caught SIGCHLD" in done.stderr


# The cold-cache failure of tests/study/test_notebooks.py: a notebook kernel (a Jittor process) died by SIGSEGV
# while compiling kernels, and pytest, which had loaded Jittor too, then quick-exited through Jittor's
# SIGCHLD handler: exit status 1, no output at all. These are the handler's three ways in.
KILL_A_CHILD = """
import signal, subprocess, sys
import goldyolo.runtime as runtime
if sys.argv[1] == "tolerate-first":
    runtime.tolerate_child_deaths()   # before Jittor loads, as pytest's conftest and the report build do
runtime.jt
child = subprocess.Popen(["sleep", "30"])
child.send_signal(signal.SIGKILL)
child.wait()
print("alive, child exit", child.returncode, flush=True)
"""


@pytest.mark.parametrize("mode", ["tolerate-first", "jupyter-kernel"])
def test_jittor_loaded_later_or_in_a_kernel_does_not_end_the_process_with_its_child(mode):
    done = run_script(KILL_A_CHILD, mode, kernel=mode == "jupyter-kernel")
    assert "alive, child exit -9" in done.stdout, done.stderr[-2000:]


def test_the_test_session_outlives_a_child_killed_by_a_signal():
    import signal

    from goldyolo.runtime import jt  # noqa: F401  (Jittor loaded in this process, as the suite does)
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
    child = subprocess.Popen(["sleep", "30"])
    child.send_signal(signal.SIGSEGV)
    assert child.wait() == -signal.SIGSEGV


KERNEL_CELL = """
import signal
import jittor_utils
import goldyolo.models.common  # its first import is `from jittor import nn`, before goldyolo.runtime's jt
print(jittor_utils.is_in_ipynb, signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)
"""


def test_in_a_notebook_kernel_jittor_output_stays_off_python_and_children_may_die():
    # Jittor's C++ output redirected into Python (its notebook mode) killed kernels by SIGSEGV when compiler
    # threads flushed it on a cold cache; runtime.keep_cpp_output_off_python keeps it on the descriptors.
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KERNEL_CELL)])
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    assert text.split()[-2:] == ["False", "True"], nb.cells[0].outputs
