"""A restricted unpickler for NVIDIA StyleGAN pickles: it never imports or runs code from the file.

NVIDIA's ``.pkl`` checkpoints normally rebuild their networks by executing the
Python source pickled with them (``torch_utils.persistence``). Here only a
whitelist of globals resolves (tensor/storage rebuilders, containers, numpy
arrays and scalars); NVIDIA's network objects become inert
:class:`PersistentRecord`s holding their state dicts, and any other global
raises :class:`UnsafeCheckpointError` before anything is called.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import io
import pickle
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .validate import CheckpointFormatError


class UnsafeCheckpointError(CheckpointFormatError, pickle.UnpicklingError):
    """The pickle references a global outside the whitelist; nothing from it was run."""


class PersistentRecord:
    """Inert stand-in for one pickled NVIDIA network object (a ``torch.nn.Module``).

    Keeps the module state (``_parameters``, ``_buffers``, ``_modules`` and plain
    attributes) and the class name; the module source shipped with it is dropped,
    never compiled or run.
    """

    class_name = "?"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, Mapping) and "class_name" in state and "state" in state:
            self.class_name = str(state["class_name"])  # torch_utils.persistence meta
            state = state["state"]
        self.state = dict(state) if isinstance(state, Mapping) else {}

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Flat ``{dotted name: tensor}`` of all parameters and buffers below this module."""
        state = getattr(self, "state", {})
        out = {}
        for group in ("_parameters", "_buffers"):
            for name, t in (state.get(group) or {}).items():
                if isinstance(t, torch.Tensor):
                    out[prefix + name] = t
        for name, child in (state.get("_modules") or {}).items():
            if isinstance(child, PersistentRecord):
                out |= child.tensors(f"{prefix}{name}.")
        return out

    def attr(self, path: str, default: Any = None) -> Any:
        """Plain attribute at a dotted ``path``, e.g. ``"synthesis.b4.conv1.conv_clamp"``."""
        *modules, name = path.split(".")
        record = self
        for m in modules:
            record = (getattr(record, "state", {}).get("_modules") or {}).get(m)
            if not isinstance(record, PersistentRecord):
                return default
        return getattr(record, "state", {}).get(name, default)


def _record_persistent(meta: Any) -> PersistentRecord:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``."""
    record = PersistentRecord()
    record.__setstate__(meta)
    return record


_RECORD_CLASSES: dict[str, type] = {}


def _record_class(name: str) -> type:
    """Stand-in class for a network class pickled by reference (``training.networks.X``)."""
    if name not in _RECORD_CLASSES:
        _RECORD_CLASSES[name] = type(name, (PersistentRecord,), {"class_name": name})
    return _RECORD_CLASSES[name]


class _EasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict`` (a plain dict here)."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use for ``bytes``, with
    latin-1 only: any other codec name would let the file pick a codec module to import."""
    if not isinstance(encoding, str) or encoding.lower() not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"refused _codecs.encode with codec {encoding!r:.40}: "
                                    "nothing from the file was executed; do not use this file")
    return codecs.encode(text, "latin1")


def _load_storage(data: bytes) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``, via torch's weights-only unpickler."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


_NP_RECONSTRUCT = np.empty(0).__reduce__()[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]
_NP_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")  # numpy 1.x, 2.x
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("builtins", t.__name__): t for t in (dict, list, set, frozenset, tuple)},
    ("_codecs", "encode"): _latin1_encode,  # bytes in protocol-2 pickles
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{(m, "_reconstruct"): _NP_RECONSTRUCT for m in _NP_MULTIARRAY},
    **{(m, "scalar"): _NP_SCALAR for m in _NP_MULTIARRAY},
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record_persistent,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
}
_NETWORK_MODULES = ("training.networks", "training.networks_stylegan2",
                    "training.networks_stylegan3", "training.augment")


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only whitelisted globals; NVIDIA networks become :class:`PersistentRecord`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names (protocol < 3)
            module, name = _compat_pickle.NAME_MAPPING[module, name]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[module, name]
        if module in _NETWORK_MODULES and name.isidentifier():
            return _record_class(name)
        raise UnsafeCheckpointError(
            f"refused global {module}.{name}: the pickle references code outside the "
            "whitelist of a StyleGAN2 checkpoint; nothing from it was executed; do not "
            "use this file, get the checkpoint from its official source")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f"refused persistent id {pid!r} in a plain pickle: "
                                    "nothing from it was executed; do not use this file")
