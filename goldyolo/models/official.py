"""Read official Gold-YOLO ``.pt`` checkpoints without PyTorch and without running their code.

An official checkpoint is a ``torch.save`` zip: ``<root>/data.pkl`` holds a dict whose ``model``
and ``ema`` entries are whole (fp16) ``nn.Module`` objects, and ``<root>/data/<key>`` hold the raw
tensor storages. The unpickler here resolves every name in the pickle itself:

* tensor and parameter rebuild functions -> numpy arrays viewed on the stored bytes;
* storage types and dtypes -> numpy dtypes; plain containers -> themselves;
* any class (``Model``, ``Conv2d``, ...) and any torch / model-package function kept as a module
  attribute -> an inert stand-in that only records ``__dict__`` state; calling one (what a
  ``REDUCE`` would do) is refused;
* every other function or name -> refused with :class:`UnsafeCheckpointError`.
"""
from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Optional

import numpy as np

from ..errors import InputError, InputNotFoundError
from .checkpoint import SAFE_GLOBALS, UnsafeCheckpointError

STORAGE_DTYPES = {
    "HalfStorage": np.float16, "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "UntypedStorage": np.uint8,
}
TORCH_DTYPES = {
    "float16": np.float16, "half": np.float16, "float32": np.float32, "float": np.float32,
    "float64": np.float64, "double": np.float64, "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
    "bool": np.bool_, "bfloat16": np.uint16,
}
# Packages whose functions official modules keep as attributes (e.g. ``self.pool =
# F.adaptive_avg_pool2d``); they are rebuilt as inert references that refuse to be called.
MODEL_PACKAGES = {"torch", "yolov6", "gold_yolo", "mmcv"}
CONTAINERS = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
              ("builtins", "list"): list, ("builtins", "dict"): dict, ("builtins", "tuple"): tuple,
              ("torch", "Size"): tuple}


class ModuleState:
    """Inert stand-in for a pickled object: keeps the state given to it, runs nothing."""

    _qualname = "object"

    def __init__(self, *args, **kwargs):
        raise UnsafeCheckpointError(f"refusing to call {self._qualname}(...): only module state may be rebuilt")

    def __setitem__(self, key: Any, value: Any) -> None:  # dict subclasses, e.g. mmcv ConfigDict
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value: Any) -> None:  # list subclasses
        self.__dict__.setdefault("_list", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("_list", []).extend(values)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = dict(state[0] or {}, **state[1])
        if isinstance(state, ModuleState):
            state = state.__dict__
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state


def _stand_in(module: str, name: str) -> type:
    return type(name, (ModuleState,), {"_qualname": f"{module}.{name}", "__module__": "goldyolo.models.official"})


def _rebuild_tensor(storage, offset, size, stride, *unused) -> np.ndarray:
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * item for s in stride))
    return np.array(view)


def _rebuild_parameter(data, *unused) -> np.ndarray:
    return data


def _reconstructor(cls, base, state):
    if not (isinstance(cls, type) and issubclass(cls, ModuleState)):
        raise UnsafeCheckpointError("refusing copyreg._reconstructor on a non-module class")
    return object.__new__(cls)


TORCH_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("copyreg", "_reconstructor"): _reconstructor,
}


class _OfficialUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.root = root
        self.storages: Dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol-2 pickles use Python 2 names
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in TORCH_FUNCTIONS:
            return TORCH_FUNCTIONS[key]
        if key in SAFE_GLOBALS:
            return SAFE_GLOBALS[key]
        if key in CONTAINERS:
            return CONTAINERS[key]
        if module == "torch" and name in STORAGE_DTYPES:
            return np.dtype(STORAGE_DTYPES[name])
        if module == "torch" and name in TORCH_DTYPES:
            return np.dtype(TORCH_DTYPES[name])
        if name.isidentifier() and (name[:1].isupper() or module.split(".")[0] in MODEL_PACKAGES):
            return _stand_in(module, name)
        raise UnsafeCheckpointError(
            f"refusing to load {module}.{name}: an official checkpoint holds only tensors and module state")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"unsupported persistent id {pid!r}")
        _, dtype, key, _location, _numel = pid
        key = str(key)
        if key not in self.storages:
            raw = self.archive.read(f"{self.root}/data/{key}")
            self.storages[key] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        return self.storages[key]


def read_torch_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a ``torch.save`` zip file with the restricted unpickler (tensors -> numpy)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a torch zip checkpoint (saved by torch >= 1.6 expected)")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            raise InputError(f"{path}: no <root>/data.pkl inside; not a torch checkpoint")
        root = pickles[0].split("/")[0]
        try:
            return _OfficialUnpickler(archive.read(pickles[0]), archive, root).load()
        except UnsafeCheckpointError as err:
            raise UnsafeCheckpointError(f"{path}: {err}") from None
        except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as err:
            raise InputError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})") from None


def module_state_dict(module: ModuleState, prefix: str = "") -> "OrderedDict[str, np.ndarray]":
    """The PyTorch ``state_dict`` of a rebuilt module tree: parameters, persistent buffers, children."""
    state: "OrderedDict[str, np.ndarray]" = OrderedDict()
    skip = set(getattr(module, "_non_persistent_buffers_set", ()) or ())
    for name, value in (getattr(module, "_parameters", {}) or {}).items():
        if value is not None:
            state[prefix + name] = np.asarray(value)
    for name, value in (getattr(module, "_buffers", {}) or {}).items():
        if value is not None and name not in skip:
            state[prefix + name] = np.asarray(value)
    for name, child in (getattr(module, "_modules", {}) or {}).items():
        if child is not None:
            state.update(module_state_dict(child, f"{prefix}{name}."))
    return state


def load_official_checkpoint(path: str | os.PathLike) -> Dict[str, np.ndarray]:
    """State dict (name -> array, stored dtype) of an official checkpoint, without PyTorch.

    Takes ``ema`` when the file has one (what the official evaluation uses), else ``model``;
    a file holding a plain state dict is returned as it is.
    """
    obj = read_torch_pickle(path)
    if isinstance(obj, dict) and ("model" in obj or "ema" in obj):
        obj = obj.get("ema") or obj.get("model")
    if isinstance(obj, ModuleState):
        state = module_state_dict(obj)
    elif isinstance(obj, dict) and obj and all(isinstance(v, np.ndarray) for v in obj.values()):
        state = OrderedDict(obj)
    else:
        raise InputError(f"{path}: no model found (expected 'model'/'ema' modules or a state dict)")
    if not state:
        raise InputError(f"{path}: the model in this checkpoint has no parameters")
    return state


def convert(source: str, output: str, model: str, num_classes: Optional[int] = None) -> str:
    """Official ``.pt`` -> Jittor weights file, every tensor checked against ``model``; returns a summary line.

    ``num_classes`` defaults to the checkpoint's (the class head's bias length), a deploy-form
    checkpoint (``rbr_reparam`` keys) is loaded into the fused model."""
    from .checkpoint import load_state_dict_strict, save_weights
    from .fuse import fuse
    from .yolo import build_model
    state = load_official_checkpoint(source)
    if num_classes is None:
        num_classes = int(state["detect.cls_preds.0.bias"].shape[0]) if "detect.cls_preds.0.bias" in state else 80
    net = build_model(model, num_classes=num_classes)
    deploy = any(".rbr_reparam." in key for key in state)
    if deploy:
        fuse(net)
    load_state_dict_strict(net, state)
    save_weights(net, output)
    return (f"converted {source} -> {output}: {model}, {'deploy' if deploy else 'training'} form, "
            f"{num_classes} classes, {len(state)} tensors")
