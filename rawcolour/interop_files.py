"""Read the tensors of a foreign checkpoint file (.pth / .pt / .safetensors) without executing
anything from it: :func:`read_foreign_checkpoint`.

State dicts go through ``torch.load(weights_only=True)``; what that refuses (a pickled module) is
read again by a restricted unpickler that rebuilds only tensors, storages and plain containers,
and turns every other class into an inert stub that records its ``_parameters`` / ``_buffers`` /
``_modules`` without importing or instantiating anything. Functions outside a small allow-list
are refused, and so is calling any stub. rawcolour.interop turns the tensors into a rawcolour
checkpoint.

Torchvision's VGG weights for the perceptual losses are read here too (:func:`load_vgg_features`).
"""

from __future__ import annotations

import _compat_pickle
import pickle
import sys
import types
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rawcolour.checkpoint import strip_wrappers
from rawcolour.errors import CheckpointError, MissingWeightsError
from rawcolour.nets.vgg import VGGFeatures

# ----------------------------------------------------------------------------- restricted unpickling


class _Refused(Exception):
    """A pickle asked for something outside what we rebuild; carries the global's name."""

    def __init__(self, global_name: str, called: bool = False) -> None:
        super().__init__(global_name)
        self.global_name = global_name
        self.called = called


class _StubMeta(type):
    """Metaclass of stand-in classes: calling one (pickle REDUCE/INST) is refused."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise _Refused(f"{cls.__module__}.{cls.__qualname__}", called=True)


class _Stub(metaclass=_StubMeta):
    """Inert stand-in for a pickled object of a class we never import; keeps its pickled state."""

    dump_patches = False  # read by torch's legacy loader when it compares saved module source

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_rawcolour_state"] = state

    @property
    def stub_class(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"

    @property
    def stub_state(self) -> Any:
        return self.__dict__.get("_rawcolour_state")


def _tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    # Hooks and metadata come from the file: never attach them; only the values matter here.
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, False, OrderedDict())


def _tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    return torch._utils._rebuild_tensor_v3(storage, storage_offset, size, stride, False, OrderedDict(), dtype)


def _tensor_v1(storage, storage_offset, size, stride):
    return torch._utils._rebuild_tensor(storage, storage_offset, size, stride)


def _parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data  # a plain tensor: the stub tree only needs values


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor"): _tensor_v1,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("torch", "UntypedStorage"): torch.UntypedStorage,
}
_ALLOWED.update({("torch", k): v for k, v in vars(torch).items() if isinstance(v, torch.dtype)})

# Module roots whose globals are refused outright (besides the allow-list): the standard library
# (os, posix, subprocess, builtins, ...), Python 2 spellings, and packages with callables worth
# abusing. torch itself is refused except its nn.Module classes, which become stubs.
_REFUSED_ROOTS = frozenset(sys.stdlib_module_names) | {
    "torch", "torchvision", "numpy", "scipy", "pandas",
    "dill", "cloudpickle", "joblib", "IPython", "setuptools", "pip", "pkg_resources", "rawcolour",
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds tensors and containers; every other class becomes a stub; other globals are refused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stubs: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 pickles spell Python 2 names (__builtin__.set); map them as pickle itself does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in _ALLOWED:
            return _ALLOWED[key]
        root = module.split(".", 1)[0]
        if root in _REFUSED_ROOTS and not module.startswith("torch.nn.modules."):
            raise _Refused(f"{module}.{name}")
        if key not in self._stubs:
            self._stubs[key] = _StubMeta(name.rsplit(".", 1)[-1], (_Stub,),
                                         {"__module__": module, "__qualname__": name})
        return self._stubs[key]


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


# Handed to torch.load as its pickle_module: torch's own wrapper only adds storage handling on top.
_RESTRICTED_PICKLE = types.ModuleType("rawcolour_restricted_pickle")
_RESTRICTED_PICKLE.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
_RESTRICTED_PICKLE.load = _restricted_load  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- reading foreign files


@dataclass
class ForeignWeights:
    """Tensors read from a foreign checkpoint, with how they were stored."""

    tensors: dict[str, torch.Tensor]
    format: str  # "state_dict" | "pickled_module" | "safetensors"
    top_class: str | None = None  # pickled module: its class, e.g. "network.Generator"
    classes: tuple[str, ...] = ()  # pickled module: every class seen (never imported)


def _refusal(path: Path, err: _Refused) -> CheckpointError:
    what = (f"calls {err.global_name}(...)" if err.called else f"asks for {err.global_name}")
    return CheckpointError(
        f"refusing to load: the pickle {what}, which is not a tensor, container or module class; "
        "unpickling it could run code",
        path=path,
        hint="only state dicts and pickled nn.Modules are imported; re-save the weights with "
             "torch.save(model.state_dict(), FILE) from code you trust",
    )


def _looks_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 1)[-1] == "constants.pkl" or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _read_safetensors(path: Path) -> ForeignWeights:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"not a readable safetensors file ({err})", path=path) from err
    if meta.get("format", "").startswith("rawcolour.checkpoint"):
        raise CheckpointError("this is already a rawcolour checkpoint; nothing to import", path=path,
                              hint="use it directly with --model FILE")
    return ForeignWeights(tensors, "safetensors")


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n < (1 << 31) and head[8:9] == b"{"


def read_foreign_checkpoint(path: str | Path) -> ForeignWeights:
    """The tensors of a .pth/.pt/.safetensors file, read without executing anything from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such file", path=path)
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError("file is empty", path=path)
    if _is_safetensors(head):
        return _read_safetensors(path)
    if path.suffix.lower() == ".safetensors":  # torch.load would hand it to safetensors by its name alone
        raise _not_safetensors(path, head)
    if head[:2] == b"PK" and _looks_torchscript(path):
        raise CheckpointError("this is a TorchScript archive (it contains code); it is not imported", path=path,
                              hint="save the generator's state_dict with torch.save instead")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            fmt = "state_dict"
        except (pickle.UnpicklingError, RuntimeError) as first:
            if isinstance(first, RuntimeError) and "weights_only" not in str(first):
                raise CheckpointError(f"not a readable PyTorch checkpoint ({first})", path=path) from None
            # Not plain weights (e.g. a pickled nn.Module): read again, rebuilding classes as stubs.
            try:
                obj = torch.load(path, map_location="cpu", pickle_module=_RESTRICTED_PICKLE, weights_only=False)
            except _Refused as err:
                raise _refusal(path, err) from None
            except Exception as err:  # truncated or corrupt data, odd pickles
                raise _unreadable(path, err) from None
            fmt = "pickled_module"
        except Exception as err:
            raise _unreadable(path, err) from None
    return _weights_from_object(obj, fmt, path)


def _unreadable(path: Path, err: Exception) -> CheckpointError:
    if isinstance(err, MemoryError):  # e.g. a pickle opcode claiming a terabyte of bytes
        return CheckpointError("not a readable PyTorch checkpoint (it claims more data than there is memory for: "
                               "damaged or not a checkpoint)", path=path,
                               hint="re-save the weights with torch.save(model.state_dict(), FILE)")
    return CheckpointError(f"not a readable PyTorch checkpoint ({type(err).__name__}: {err})", path=path)


def _not_safetensors(path: Path, head: bytes) -> CheckpointError:
    """A file named .safetensors without a safetensors header, with what it looks like."""
    if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"):
        looks = "a zip archive, as torch.save writes" if head[:2] == b"PK" else "a pickle, as old torch.save writes"
        return CheckpointError(f"not a safetensors file, whatever its name: it looks like {looks}", path=path,
                               hint="if it is a PyTorch checkpoint, rename it to .pth and import that")
    return CheckpointError("not a safetensors file, whatever its name: it does not start with a safetensors header",
                           path=path, hint="the file is corrupt or not a checkpoint; download or export it again")


_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "generator", "netG", "G", "net")


# Deeper than any real network's module tree (the reference generators nest 4 levels, pix2pix's U-Net
# about 20): a file that nests further, or contains itself, is refused before Python's own
# recursion limit is met.
MAX_NESTING = 100


def _too_deep(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"the pickled {what} nests more than {MAX_NESTING} levels deep (or contains itself); "
                           "no network is built like that", path=path,
                           hint="re-save the generator's state_dict with torch.save from code you trust")


def _weights_from_object(obj: Any, fmt: str, path: Path, depth: int = 0) -> ForeignWeights:
    if depth > len(_WRAPPER_KEYS):  # each level unwraps a different key; more means a cycle
        raise _too_deep(path, "dict")
    if isinstance(obj, _Stub):
        classes: list[str] = []
        tensors = _module_tensors(obj, "", classes, path, set())
        if not tensors:
            raise CheckpointError(f"the pickled {obj.stub_class} holds no parameters", path=path)
        return ForeignWeights(tensors, "pickled_module", obj.stub_class, tuple(dict.fromkeys(classes)))
    if isinstance(obj, Mapping):
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return ForeignWeights(dict(obj), "state_dict")
        for key in _WRAPPER_KEYS:
            if key in obj and (isinstance(obj[key], (Mapping, _Stub))):
                return _weights_from_object(obj[key], fmt, path, depth + 1)
        keys = ", ".join(map(str, list(obj)[:5]))
        raise CheckpointError(f"found a dict without a generator state dict (keys: {keys})", path=path,
                              hint="pass a file holding the generator's state_dict or the pickled generator")
    what = obj.stub_class if isinstance(obj, _Stub) else type(obj).__name__
    raise CheckpointError(f"the file holds a {what}, not a state dict or a network", path=path)


def _module_tensors(stub: _Stub, prefix: str, classes: list[str], path: Path,
                    above: set[int]) -> dict[str, torch.Tensor]:
    """The state dict of a stubbed nn.Module: its parameters and persistent buffers, recursively
    (at most MAX_NESTING levels; a module that contains itself is refused)."""
    if len(above) >= MAX_NESTING or id(stub) in above:
        raise _too_deep(path, "module")
    above = above | {id(stub)}
    classes.append(stub.stub_class)
    state = stub.stub_state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        state = state[0]  # (dict state, slot state)
    if not isinstance(state, dict) or "_modules" not in state:
        raise CheckpointError(f"{prefix or 'the top object'} ({stub.stub_class}) is not a pickled nn.Module",
                              path=path)
    out: dict[str, torch.Tensor] = {}
    skip = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{prefix}{name} is a {type(value).__name__}, not a tensor", path=path)
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, _Stub):
            raise CheckpointError(f"submodule {prefix}{name} is a {type(child).__name__}", path=path)
        out.update(_module_tensors(child, f"{prefix}{name}.", classes, path, above))
    return out


# ----------------------------------------------------------------------------- VGG weights

_VGG_FORMATS = "give a torchvision VGG state dict as .pth or .safetensors"


def read_vgg_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a torchvision-layout VGG state dict from .pth (weights_only) or .safetensors, keys without 'features.'."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any reader failure means the same to the user
        raise CheckpointError(f"cannot read VGG weights ({err})", path, _VGG_FORMATS) from err
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise CheckpointError("not a state dict", path, _VGG_FORMATS)
    out = {}
    for key, value in sd.items():
        key = strip_wrappers(key).removeprefix("features.")
        if not key.startswith("classifier.") and isinstance(value, torch.Tensor):
            out[key] = value
    return out


def load_vgg_features(arch: str, layers: Sequence[str], weights: str | Path | None, *,
                      pre_relu: bool = True, normalize_input: bool = True) -> VGGFeatures:
    """Frozen VGGFeatures with torchvision's ImageNet weights from the file ``weights``.

    Raises MissingWeightsError without that file, CheckpointError when it is not such weights."""
    net = VGGFeatures(arch, layers, pre_relu=pre_relu, normalize_input=normalize_input)
    hint = (
        f"the perceptual loss needs torchvision's ImageNet {arch} weights as a local file "
        f"(e.g. {'vgg16-397923af.pth' if arch == 'vgg16' else 'vgg19-dcbb9e9d.pth'}, "
        ".pth or .safetensors); rawcolour downloads nothing"
    )
    if weights is None:
        raise MissingWeightsError(f"no {arch} weights file given", hint=hint)
    path = Path(weights)
    if not path.is_file():
        raise MissingWeightsError(f"{arch} weights not found (expected this file)", path, hint)
    try:
        net.load_weights(read_vgg_state_dict(path))
    except ValueError as err:
        raise CheckpointError(str(err), path, hint) from None
    return net


__all__ = ["MAX_NESTING", "ForeignWeights", "load_vgg_features", "read_foreign_checkpoint", "read_vgg_state_dict"]
