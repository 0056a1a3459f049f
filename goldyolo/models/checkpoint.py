"""Strict state loading and safe, atomic checkpoint files.

Files use Jittor's own format (``jt.save``: pickle protocol 4, then a SHA-1 and a magic tag),
so ``jittor.load`` and ``Module.load`` read them too. Reading here never runs code from the
file: the unpickler rebuilds only numpy arrays and plain containers and refuses anything else.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Mapping

import numpy as np
from jittor import nn

from ..errors import InputError, InputNotFoundError
from ..runtime import jt

JITTOR_MAGIC = b"HCAJSLHD"
IGNORED_SUFFIXES = ("num_batches_tracked",)

SAFE_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


# the "format" value of a training checkpoint (Trainer.checkpoint_state)
CHECKPOINT_FORMAT = "goldyolo-train-1"


class StateDictError(InputError, KeyError):
    """A state dict does not fit the model: lists missing, unexpected and mis-shaped keys."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnsafeCheckpointError(InputError, pickle.UnpicklingError):
    """A checkpoint asks to import something that is not plain data."""


def load_state_dict_strict(model: nn.Module, state: Mapping[str, Any]) -> None:
    """Load ``state`` (name -> array) into ``model``; any missing, extra or mis-shaped key raises.

    ``num_batches_tracked`` entries are accepted and ignored (Jittor BNs have no counter).
    Floating arrays are cast to float32 (official checkpoints are fp16).
    """
    own = model.state_dict()
    given = {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    mismatched = [f"{k}: checkpoint {tuple(np.shape(given[k]))} vs model {tuple(own[k].shape)}"
                  for k in own if k in given and tuple(np.shape(given[k])) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("shape mismatches", mismatched)):
            if items:
                shown = ", ".join(items[:10]) + (f", ... ({len(items)} in all)" if len(items) > 10 else "")
                parts.append(f"{title}: {shown}")
        raise StateDictError("state dict does not match the model; " + "; ".join(parts))
    for key, var in own.items():
        value = np.asarray(given[key])
        if np.issubdtype(value.dtype, np.floating):
            value = value.astype(np.float32)
        var.update(jt.array(value))
    # Materialise now: a pending array op fused into later kernels can hit Jittor codegen bugs
    # (the [1]-shaped BottleRep alpha triggers one), and it keeps the load out of timed work.
    jt.sync(list(own.values()))


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        raise UnsafeCheckpointError(
            f"refusing to load {module}.{name}: checkpoints may hold only arrays and plain containers")


def safe_unpickle(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing only numpy arrays, scalars and containers."""
    try:
        return _SafeUnpickler(io.BytesIO(data)).load()
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f"{source}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise InputError(f"{source}: not a readable checkpoint ({err})") from None


def read_checkpoint(path: str | os.PathLike) -> Any:
    """Read a Jittor-format checkpoint safely, checking its SHA-1 when present."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    if data.endswith(JITTOR_MAGIC):
        body, checksum = data[:-28], data[-28:-8]
        if hashlib.sha1(body).digest() != checksum:
            raise InputError(f"{path}: checksum mismatch, the file is corrupted or truncated")
        data = body
    return safe_unpickle(data, str(path))


def write_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` (arrays in plain containers) in Jittor's format, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = pickle.dumps(obj, 4)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body + hashlib.sha1(body).digest() + JITTOR_MAGIC)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def remove_stale_temporaries(folder: str | os.PathLike) -> list:
    """Delete the temp files of checkpoint writes that a killed process left in ``folder``; returns them."""
    stale = sorted(Path(folder).glob(".*.pkl.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def state_dict_numpy(model: nn.Module) -> Dict[str, np.ndarray]:
    """The model's state as name -> float32 numpy array, in state_dict order."""
    return OrderedDict((k, v.numpy()) for k, v in model.state_dict().items())


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save the model's weights: an ``.npz`` (no pickles; what ``compare-eval`` and the official side read)
    when ``path`` ends so, else a flat Jittor checkpoint (``Module.load`` can read it); atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        return write_checkpoint(state_dict_numpy(model), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **state_dict_numpy(model))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_state_dict(path: str | os.PathLike) -> Mapping[str, np.ndarray]:
    """Parameter name -> array from a flat weights file: a Jittor checkpoint, or an ``.npz`` (no pickles)."""
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise InputNotFoundError(f"weights file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                return OrderedDict((k, archive[k]) for k in archive.files)
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: not a readable .npz weights file ({err})") from None
    state = read_checkpoint(path)
    if not isinstance(state, Mapping):
        raise InputError(f"{path}: expected a mapping of parameter names to arrays, got {type(state).__name__}")
    return state


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a flat weights file (see :func:`read_state_dict`) into ``model`` strictly and safely."""
    try:
        load_state_dict_strict(model, read_state_dict(path))
    except StateDictError as err:
        raise StateDictError(f"{path}: {err}") from None
    return model
