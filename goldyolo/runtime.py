"""Prepare the environment Jittor imports into, then import it.

Two things make a plain ``import jittor`` fail or run slowly on an offline machine:

* **oneDNN.** On first import Jittor downloads oneDNN 2.2 into
  ``$JITTOR_HOME/.cache/jittor/mkl/dnnl_lnx_2.2.0_cpu_gomp``. Offline, the download fails.
  Debian's ``libdnnl-dev`` (oneDNN 2.6, tested) and conda-forge's ``onednn<3`` are API
  compatible, so when one is installed this module links it into that folder
  (``include -> /usr/include``, ``lib/libmkldnn.so -> libdnnl.so.2.x``) before Jittor looks.
  Without either, convolution would fall back to Jittor's generic kernels
  (about 85x slower on the CPU), so the import stops with a message saying what to install.
  ``GOLDYOLO_ALLOW_SLOW_CPU=1`` lets it continue without oneDNN.
* **CUDA.** Jittor compiles for CUDA whenever it finds ``nvcc``, and then fails to import when
  no CUDA driver is present. When ``libcuda.so.1`` cannot be loaded, this module sets
  ``nvcc_path`` to the empty string so that Jittor runs on the CPU. A user-set ``nvcc_path``
  is respected.

``import goldyolo`` calls :func:`prepare` (files and environment variables only, no Jittor), so a
later ``import jittor`` by the user finds both ready. Jittor itself loads on the first use of
:data:`jt` (``from goldyolo.runtime import jt``), which every module with tensors does, so commands
without tensors (``--help``, ``data split``) never pay for it.
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys
from pathlib import Path

from .errors import GoldYoloError

DNNL_DIR_NAME = "dnnl_lnx_2.2.0_cpu_gomp"
DEBIAN_DNNL_GLOBS = ("/usr/lib/x86_64-linux-gnu/libdnnl.so*", "/usr/lib/aarch64-linux-gnu/libdnnl.so*",
                     "/usr/lib/libdnnl.so*")
DEBIAN_DNNL_HEADER = Path("/usr/include/dnnl.h")


class RuntimeSetupError(GoldYoloError, RuntimeError):
    """Raised when the Jittor runtime cannot be prepared; the message says how to fix it."""


def jittor_home() -> Path:
    """The folder Jittor keeps its cache under (``JITTOR_HOME`` or the user's home)."""
    config = Path.home() / ".cache" / "jittor" / "config.json"
    default = str(Path.home())
    if config.is_file():
        import json
        try:
            default = json.loads(config.read_text()).get("JITTOR_HOME", default)
        except (OSError, ValueError):
            pass
    return Path(os.environ.get("JITTOR_HOME", default))


def dnnl_target_dir() -> Path:
    """Where Jittor expects its oneDNN build."""
    return jittor_home() / ".cache" / "jittor" / "mkl" / DNNL_DIR_NAME


def find_system_dnnl() -> tuple[Path, Path] | None:
    """(library file, include folder) of an installed oneDNN 2.x: Debian's ``libdnnl-dev`` or, in a
    conda environment, conda-forge's ``onednn``; None when neither is there."""
    candidates = [(pattern, DEBIAN_DNNL_HEADER) for pattern in DEBIAN_DNNL_GLOBS]
    if os.environ.get("CONDA_PREFIX"):
        prefix = Path(os.environ["CONDA_PREFIX"])
        candidates.insert(0, (str(prefix / "lib" / "libdnnl.so*"), prefix / "include" / "dnnl.h"))
    for pattern, header in candidates:
        for candidate in sorted(glob.glob(pattern), key=len, reverse=True):
            path = Path(candidate).resolve()
            if path.is_file() and header.is_file():
                return path, header.parent
    return None


def ensure_onednn() -> str:
    """Make sure Jittor will find oneDNN; returns how it was found ('cached', 'system', 'none')."""
    if os.environ.get("use_mkl", "1") != "1":
        return "none"
    target = dnnl_target_dir()
    if (target / "lib" / "libmkldnn.so").exists() and (target / "include").exists():
        return "cached"
    found = find_system_dnnl()
    if found is None:
        if os.environ.get("GOLDYOLO_ALLOW_SLOW_CPU") == "1":
            os.environ["use_mkl"] = "0"
            return "none"
        raise RuntimeSetupError(
            "oneDNN not found: `apt-get install libdnnl-dev` (Debian/Ubuntu), or let Jittor "
            f"download its own copy into {target} while online. Without oneDNN, CPU convolution "
            "is about 85x slower; set GOLDYOLO_ALLOW_SLOW_CPU=1 to accept that.")
    library, include = found
    (target / "lib").mkdir(parents=True, exist_ok=True)
    _replace_symlink(target / "include", include)
    _replace_symlink(target / "lib" / "libmkldnn.so", library)
    return "system"


def _replace_symlink(link: Path, destination: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == destination:
            return
        if link.is_dir() and not link.is_symlink():
            raise RuntimeSetupError(f"{link} is a folder; remove it so that it can point to {destination}")
        link.unlink()
    link.symlink_to(destination)


def cuda_driver_available() -> bool:
    """True when the CUDA driver library can be loaded (a GPU machine)."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def ensure_cuda_choice() -> bool:
    """Hide ``nvcc`` from Jittor when no CUDA driver exists; with a driver, apply what ``setup cuda`` chose
    (``~/.cache/goldyolo/cuda.json``: nvcc, downloads off, tensor cores); returns whether CUDA may be used."""
    if cuda_driver_available():
        from .setup.record import apply_record, setup_record
        record = setup_record()
        if record:
            apply_record(record)
    if "nvcc_path" in os.environ:
        return os.environ["nvcc_path"] != ""
    if cuda_driver_available():
        return True
    os.environ["nvcc_path"] = ""
    return False


def prepare(strict: bool = True) -> None:
    """Prepare oneDNN, the CUDA choice and, in a Jupyter kernel, Jittor's C++ output
    (:func:`keep_cpp_output_off_python`) without importing Jittor; a no-op once Jittor is loaded.

    ``import goldyolo`` calls it with ``strict`` False, so it has run before any goldyolo module (or the user)
    imports Jittor, and a missing oneDNN does not stop the commands that never load Jittor: the error is raised
    when Jittor is needed (:func:`import_jittor` prepares again, strictly)."""
    if "jittor" not in sys.modules:
        try:
            ensure_onednn()
        except RuntimeSetupError:
            if strict:
                raise
        ensure_cuda_choice()
        os.environ.setdefault("log_silent", "1")
        if in_jupyter_kernel():
            keep_cpp_output_off_python()


def import_jittor():
    """Prepare (:func:`prepare`), then import and return the ``jittor`` module.

    In a Jupyter kernel, or once this process called :func:`tolerate_child_deaths`, Jittor's SIGCHLD handler
    (installed by the import) is replaced by the default at once; see :func:`tolerate_child_deaths`. Every
    goldyolo module that imports from ``jittor`` also takes :data:`jt` from here; after the first call :data:`jt`
    is a plain attribute of this module, so later imports do not come back here."""
    if "jt" in globals():
        return globals()["jt"]
    prepare()
    import jittor
    if _tolerate_child_deaths or in_jupyter_kernel():
        tolerate_child_deaths()
    else:
        ignore_stopped_children()
    if jittor.has_cuda and getattr(jittor, "cudnn", None) is not None:
        from .setup.record import setup_record
        record = setup_record()
        if record:  # Jittor's default of 100 stops benchmarking convolution algorithms after 100 shapes
            jittor.cudnn.set_algorithm_cache_size(record["cudnn_cache"])
    globals()["jt"] = jittor
    return jittor


def use_cuda() -> None:
    """Run Jittor's operations on the GPU; a clear error where Jittor has no CUDA (no driver, or CUDA 13 /
    cuDNN 9 without ``python -m goldyolo setup cuda``)."""
    from .errors import InputError
    jt = import_jittor()
    if not jt.has_cuda:
        hint = ("no CUDA driver on this machine" if not cuda_driver_available() else
                "run python -m goldyolo setup cuda once (Jittor 1.3.11 needs fixes for CUDA 13 / cuDNN 9: "
                "docs/install.md)")
        raise InputError(f"--device cuda: Jittor has no CUDA here: {hint}")
    jt.flags.use_cuda = 1


def keep_cpp_output_off_python() -> None:
    """In a Jupyter kernel, leave Jittor's C++ output (``std::cout``, ``std::cerr``) on file descriptors 1 and 2.

    Jittor, loaded in a notebook, points them at Python's ``sys.stdout`` and ``sys.stderr`` through a stream
    buffer that calls Python without taking the GIL. While Jittor compiles operators (a cold cache), its
    compiler threads flush ``std::cerr`` and so call Python from a thread that has no Python thread state: the
    kernel dies by SIGSEGV in libpython ("Kernel died"). Jittor decides this from ``jittor_utils.is_in_ipynb``
    before it loads its core; set to False, the output goes to the descriptors, which ipykernel forwards to the
    notebook all the same. Call before Jittor is imported."""
    import jittor_utils
    jittor_utils.is_in_ipynb = False


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (its launcher, the parent, set ``JPY_PARENT_PID``; processes
    the kernel starts inherit the variable but have another parent)."""
    return os.environ.get("JPY_PARENT_PID") == str(os.getppid())


_tolerate_child_deaths = False


def tolerate_child_deaths() -> None:
    """Let this process outlive a child process killed by a signal (its exit status then says so).

    Jittor installs a SIGCHLD handler on import that ends the whole process as soon as any child
    dies by a signal other than SIGTERM (meant for its data-loader workers): ``std::quick_exit(1)``, so
    exit status 1, buffered output lost, and its "Caught SIGCHLD" line hidden by ``log_silent=1``.
    Processes that supervise others (the report build, the benchmark's parent, the test session) call
    this to restore the default: the child's death then shows in its exit status. It holds for the rest
    of the process: when Jittor is loaded later through :data:`jt`, its handler is replaced again.
    Jupyter kernels get the default without asking (:func:`import_jittor`): a notebook kernel that died
    with its child shows only as "Kernel died", and a kernel's parent that runs Jittor (pytest running
    the report build) then quick-exits in turn. Jittor's handler cannot be reinstated from Python.
    """
    import signal
    global _tolerate_child_deaths
    _tolerate_child_deaths = True
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


class _Sigaction(ctypes.Structure):
    """glibc's ``struct sigaction`` on 64-bit Linux (x86_64, aarch64)."""
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]


SA_NOCLDSTOP = 1


def ignore_stopped_children() -> bool:
    """Keep Jittor's SIGCHLD handler, but only for children that end (``SA_NOCLDSTOP``); True when set.

    Jittor's handler quick-exits on every SIGCHLD, and the kernel sends one when a child is merely stopped:
    Ctrl-Z in a terminal (or ``kill -STOP`` of the process group) stops the data-loader workers and so ended
    a training run ("Caught SIGCHLD. Maybe out of memory", exit status 1). With the flag a stopped or
    continued child sends nothing, and a worker that dies still ends the run as Jittor intends. The handler
    is set again through libc with its own address, mask and flags, the flag added (Python's
    ``signal.getsignal`` does not see a handler set by C code); nothing is done where the handler is the
    default or ignored, or off 64-bit Linux."""
    import signal
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    action = _Sigaction()
    if libc.sigaction(signal.SIGCHLD, None, ctypes.byref(action)) != 0 or (action.handler or 0) <= 1:
        return False
    action.flags |= SA_NOCLDSTOP
    return libc.sigaction(signal.SIGCHLD, ctypes.byref(action), None) == 0


def __getattr__(name: str):
    """``jt``: the ``jittor`` module, imported on first use (PEP 562)."""
    if name == "jt":
        return import_jittor()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
