"""Import generator weights saved by the reference implementations into rawcolour checkpoints.

Two foreign layouts are understood:

- ``pix2pix``: junyanz/pytorch-CycleGAN-and-pix2pix ``latest_net_G.pth``, a plain state dict of the
  nested ``UnetGenerator`` (keys ``model.model.0.weight``, ``model.model.1.model.1.weight``, ...).
  Colourisation checkpoints are unet_256, L (1 channel) -> ab (2 channels).
- ``sgan``: zhaoyuzhi/RAW2RGB-GAN generator checkpoints (``network.Generator``), either a state dict or
  the pickled WHOLE module the reference code saves with ``torch.save(generator)``.

Reading never executes code from the file. State dicts go through ``torch.load(weights_only=True)``;
what that refuses (a pickled module) is read again by a restricted unpickler that rebuilds only
tensors, storages and plain containers, and turns every other class into an inert stub that records
its ``_parameters`` / ``_buffers`` / ``_modules`` without importing or instantiating anything.
Functions outside a small allow-list are refused, and so is calling any stub.

Spectral norm. The reference ``SpectralNorm`` keeps ``weight_bar`` (the raw weight), ``weight_u`` and
``weight_v``, and on EVERY forward (eval too) runs one power iteration from the stored u:
``v = n(W^T u)``, ``u' = n(W v)``, ``sigma = u'.(W v)``, weight = W / sigma (``n(x) = x / (|x| + 1e-12)``;
the stored v is never read). The import stores W as our SN parametrization's ``original`` and that one
iteration's (u', v) as its ``_u`` / ``_v``. In eval mode our spectral norm computes ``u'.(W v)`` from them
without iterating, so the imported net reproduces the reference's first forward after loading exactly,
and keeps its SN structure for fine-tuning (training resumes the power iteration from u', v).
The reference itself drifts from forward to forward until u has converged (it has, after training).
"""

from __future__ import annotations

import _compat_pickle
import dataclasses
import pickle
import re
import sys
import types
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rawcolour.checkpoint import strip_wrappers
from rawcolour.errors import CheckpointError, OutputError, UsageError
from rawcolour.io.files import file_sha256
from rawcolour.nets import config_from_dict, config_to_dict, count_parameters, meta_build
from rawcolour.nets.unet import Pix2PixUNetConfig
from rawcolour.nets.uresnet import SGANGeneratorConfig
from rawcolour.registry import ModelSpec, NetSpec, get_spec, list_models

FOREIGN_ARCHS: dict[str, str] = {
    "pix2pix": "junyanz/pytorch-CycleGAN-and-pix2pix UnetGenerator (latest_net_G.pth)",
    "sgan": "zhaoyuzhi/RAW2RGB-GAN network.Generator (state dict or pickled module)",
}

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
                raise CheckpointError(f"not a readable PyTorch checkpoint ({type(err).__name__}: {err})",
                                      path=path) from None
            fmt = "pickled_module"
        except Exception as err:
            raise CheckpointError(f"not a readable PyTorch checkpoint ({type(err).__name__}: {err})",
                                  path=path) from None
    return _weights_from_object(obj, fmt, path)


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


# ----------------------------------------------------------------------------- key mapping: pix2pix


def _pix2pix_level(k: int) -> str:
    """The reference prefix of U-Net level k (0 = outermost): model.model, model.model.1.model, then .3.model."""
    return "model.model" + (".1.model" if k >= 1 else "") + ".3.model" * max(0, k - 1)


def _pix2pix_ref_key(key: str, n: int) -> str:
    """Our Pix2PixUNet state-dict key -> the reference UnetGenerator key (n = num_downs)."""
    m = re.fullmatch(r"(encoder|decoder)\.(\d+)\.(\d+)\.(.+)", key)
    if not m:
        raise KeyError(key)
    part, i, j, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    if part == "encoder":  # level i: [LeakyReLU, downconv, downnorm] in ours and in the reference
        return f"{_pix2pix_level(i)}.{j}.{rest}"
    k = n - 1 - i  # decoder[i] is the up half of level n-1-i
    if k == n - 1:  # innermost: [LeakyReLU, downconv, ReLU, upconv, upnorm]
        pos = {1: 3, 2: 4}[j]
    elif k == 0:  # outermost: [downconv, submodule, ReLU, upconv, Tanh]
        pos = {1: 3}[j]
    else:  # [LeakyReLU, downconv, downnorm, submodule, ReLU, upconv, upnorm, (Dropout)]
        pos = {1: 5, 2: 6}[j]
    return f"{_pix2pix_level(k)}.{pos}.{rest}"


def _pix2pix_config(state: dict[str, torch.Tensor], path: Path) -> tuple[Pix2PixUNetConfig, list[str]]:
    first = state.get("model.model.0.weight")
    if first is None:
        _wrong_layout(state, "pix2pix", "model.model.0.weight", path)
    levels = 1
    while any(k.startswith(_pix2pix_level(levels) + ".") for k in state):
        levels += 1
    if levels < 5:
        raise CheckpointError(f"a pix2pix U-Net with {levels} levels is not supported (need at least 5)", path=path)
    ngf, in_ch = first.shape[0], first.shape[1]
    up = state.get("model.model.3.weight")
    if up is None or up.dim() != 4:
        raise CheckpointError("missing the outermost up-convolution model.model.3.weight", path=path)
    out_ch = up.shape[1]  # ConvTranspose2d weight: (in, out, k, k)
    l1 = _pix2pix_level(1)
    notes: list[str] = []
    if f"{l1}.2.running_mean" in state and f"{l1}.2.weight" in state:
        norm = "batch"
    elif f"{l1}.1.bias" in state:
        norm = "instance"
        # Old pix2pix files carry running stats for InstanceNorm; its own loader drops them too.
        stale = [k for k in state if re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)]
        for k in stale:
            del state[k]
        if stale:
            notes.append(f"dropped {len(stale)} instance-norm running-stat tensors: pix2pix's current code never "
                         "uses them and its own loader drops them too")
    else:
        raise CheckpointError("cannot tell the U-Net's normalisation (no batch-norm statistics, no conv biases)",
                              path=path)
    return Pix2PixUNetConfig(in_channels=in_ch, out_channels=out_ch, num_downs=levels, ngf=ngf, norm=norm), notes


# ----------------------------------------------------------------------------- key mapping: RAW2RGB-GAN

# Our conv module path -> the reference Conv2dLayer's conv path (its ``conv2d`` attribute).
_SGAN_CONV_PATHS = (
    (r"e(\d)\.1", r"E\1.conv2d"),
    (r"bottleneck\.(\d+)\.body\.([01])\.1", r"BottleNeck.\1.conv2d.\2.conv2d"),
    (r"d([123])\.2", r"D\1.conv2d.conv2d"),  # TransposeConv2dLayer wraps a Conv2dLayer
    (r"d4\.1", "D4.conv2d"),
    (r"saliency\.from_d1\.([02])\.2", r"SalDecoder.D1.\1.conv2d.conv2d"),
    (r"saliency\.from_d1\.([13])\.1", r"SalDecoder.D1.\1.conv2d"),
    (r"saliency\.from_d2\.0\.2", "SalDecoder.D2.0.conv2d.conv2d"),
    (r"saliency\.from_d2\.1\.1", "SalDecoder.D2.1.conv2d"),
    (r"saliency\.from_d3\.1", "SalDecoder.D3.conv2d"),
    (r"saliency\.fuse\.([01])\.1", r"SalDecoder.D4.\1.conv2d"),
)
_SN_ORIGINAL = "parametrizations.weight.original"
_SN_U, _SN_V = "parametrizations.weight.0._u", "parametrizations.weight.0._v"


def _sgan_ref_conv(path: str) -> str:
    for pattern, repl in _SGAN_CONV_PATHS:
        if re.fullmatch(pattern, path):
            return re.sub(pattern, repl, path)
    raise KeyError(path)


def _sgan_config(state: dict[str, torch.Tensor], path: Path) -> tuple[SGANGeneratorConfig, list[str]]:
    if "E1.conv2d.module.weight_bar" in state:
        sn, e1 = True, state["E1.conv2d.module.weight_bar"]
    elif "E1.conv2d.weight" in state:
        sn, e1 = False, state["E1.conv2d.weight"]
    else:
        _wrong_layout(state, "sgan", "E1.conv2d.module.weight_bar", path)
    norm_keys = [k for k in state if ".norm." in k]
    if norm_keys:
        raise CheckpointError(f"normalisation layers with weights ({norm_keys[0]}): only the released "
                              "instance-norm generator (--norm in) is supported", path=path)
    w = "module.weight_bar" if sn else "weight"
    d4 = state.get(f"D4.conv2d.{w}")
    if d4 is None:
        raise CheckpointError(f"missing the output convolution D4.conv2d.{w}", path=path)
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"BottleNeck\.(\d+)\.", k))}
    if blocks != set(range(len(blocks))):
        raise CheckpointError(f"bottleneck blocks are not numbered 0..n-1 (found {sorted(blocks)})", path=path)
    width = e1.shape[0]
    saliency = any(k.startswith("SalDecoder.") for k in state)
    if saliency:
        d3 = state.get(f"SalDecoder.D3.conv2d.{w}")
        if d3 is not None and d3.shape[0] != width:
            raise CheckpointError(f"the saliency decoder is {d3.shape[0]} wide but the generator {width}; "
                                  "rawcolour's saliency decoder has the generator's width", path=path)
    config = SGANGeneratorConfig(in_channels=e1.shape[1], out_channels=d4.shape[0], width=width,
                                 num_resblocks=len(blocks), spectral_norm=sn, saliency_decoder=saliency)
    notes = [] if saliency else ["the file has no saliency decoder: imported without one (RGB output only)"]
    return config, notes


def _wrong_layout(state: dict[str, torch.Tensor], arch: str, expected: str, path: Path) -> None:
    keys = list(state)
    if arch == "sgan" and "model.model.0.weight" in state:
        raise CheckpointError("this looks like a pix2pix U-Net checkpoint, not a RAW2RGB-GAN generator",
                              path=path, hint="use --arch pix2pix")
    if arch == "pix2pix" and any(k.startswith("E1.conv2d.") for k in keys):
        raise CheckpointError("this looks like a RAW2RGB-GAN generator, not a pix2pix U-Net",
                              path=path, hint="use --arch sgan")
    sample = ", ".join(keys[:3])
    raise CheckpointError(f"not a {FOREIGN_ARCHS[arch]} checkpoint: no {expected} (keys start {sample})",
                          path=path, hint="check --arch, and that the file is a generator (not a discriminator)")


# ----------------------------------------------------------------------------- key maps and conversion


def reference_key_map(net: nn.Module, arch: str) -> dict[str, str]:
    """Our state-dict key -> the reference implementation's key, for a net built by rawcolour.

    For spectral-normalised convs our ``original`` / ``_u`` / ``_v`` map to the reference's
    ``weight_bar`` / ``weight_u`` / ``weight_v`` (see the module docstring for how u and v differ).
    """
    keys = list(net.state_dict())
    if arch == "pix2pix":
        n = net.config.num_downs
        return {k: _pix2pix_ref_key(k, n) for k in keys}
    if arch != "sgan":
        raise UsageError(f"unknown foreign architecture {arch!r}", hint=f"choose one of {', '.join(FOREIGN_ARCHS)}")
    out = {}
    for path, m in net.named_modules():
        if not isinstance(m, nn.Conv2d):
            continue
        ref = _sgan_ref_conv(path)
        if hasattr(m, "parametrizations"):
            out[f"{path}.{_SN_ORIGINAL}"] = f"{ref}.module.weight_bar"
            out[f"{path}.{_SN_U}"] = f"{ref}.module.weight_u"
            out[f"{path}.{_SN_V}"] = f"{ref}.module.weight_v"
        else:
            for name, _ in m.named_parameters(recurse=False):
                out[f"{path}.{name}"] = f"{ref}.{name}"
    missing = sorted(set(keys) - set(out))
    if missing:  # every tensor of ours must have a place in the reference layout
        raise KeyError(f"no reference key for {missing[0]}")
    return out


def _l2n(x: torch.Tensor) -> torch.Tensor:
    return x / (x.norm() + 1e-12)  # the reference's l2normalize (not F.normalize's max(|x|, eps))


def reference_sn_vectors(weight_bar: torch.Tensor, weight_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(u', v) after the one power iteration the reference's SpectralNorm runs on a forward."""
    w = weight_bar.reshape(weight_bar.shape[0], -1)
    v = _l2n(torch.mv(w.t(), weight_u))
    u = _l2n(torch.mv(w, v))
    return u, v


def convert_state(arch: str, foreign: dict[str, torch.Tensor], path: Path | None = None
                  ) -> tuple[NetSpec, nn.Module, list[str]]:
    """Build our generator for a foreign state dict and load it: (net spec, net, notes)."""
    path = path or Path("<state dict>")
    state = {strip_wrappers(k): v for k, v in foreign.items()}
    notes: list[str] = []
    if arch not in FOREIGN_ARCHS:
        raise UsageError(f"unknown foreign architecture {arch!r}", hint=f"choose one of {', '.join(FOREIGN_ARCHS)}")
    try:
        if arch == "pix2pix":
            config, notes = _pix2pix_config(state, path)
            netspec = NetSpec("pix2pix_unet", config)
        else:
            config, notes = _sgan_config(state, path)
            netspec = NetSpec("sgan_generator", config)
        # The config read off the tensors' shapes is held to the architecture's limits, and the
        # network is built on the meta device (no memory) until every shape is known to fit.
        config_from_dict(netspec.arch, config_to_dict(config))
        meta_net = meta_build(netspec.build)
    except (ValueError, TypeError, IndexError, AttributeError) as err:
        raise CheckpointError(f"the tensors describe no {arch} generator rawcolour can build ({err})", path=path,
                              hint="check --arch, and that the file is a generator checkpoint") from None
    key_map = reference_key_map(meta_net, arch)
    own = meta_net.state_dict()
    new: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    for ours, ref in key_map.items():
        if ours.endswith(_SN_U) or ours.endswith(_SN_V):
            continue  # filled from weight_bar and weight_u below
        if ref not in state:
            if ref.endswith("num_batches_tracked"):  # files from PyTorch < 0.4.1 lack it
                new[ours] = torch.zeros((), dtype=torch.long)
                continue
            missing.append(ref)
            continue
        if not isinstance(state[ref], torch.Tensor) or tuple(state[ref].shape) != tuple(own[ours].shape):
            found = tuple(state[ref].shape) if isinstance(state[ref], torch.Tensor) else type(state[ref]).__name__
            raise CheckpointError(f"tensor {ref} has shape {found}, the {arch} generator needs "
                                  f"{tuple(own[ours].shape)}", path=path)
        new[ours] = state[ref]
        used.add(ref)
        if ours.endswith(_SN_ORIGINAL):
            base = ours[: -len(_SN_ORIGINAL)]
            u_key = ref[: -len("weight_bar")] + "weight_u"
            if u_key not in state:
                missing.append(u_key)
                continue
            w_bar = state[ref].float()
            u0 = state[u_key].float().reshape(-1)
            if u0.numel() != w_bar.shape[0]:
                raise CheckpointError(f"{u_key} has {u0.numel()} entries; its weight has {w_bar.shape[0]} rows",
                                      path=path)
            new[base + _SN_U], new[base + _SN_V] = reference_sn_vectors(w_bar, u0)
            used.add(u_key)
            used.add(ref[: -len("weight_bar")] + "weight_v")  # never read by the reference forward
    if missing:
        raise CheckpointError(f"{len(missing)} tensors of the {arch} generator are missing from the file "
                              f"(e.g. {missing[0]})", path=path,
                              hint="the file is incomplete or from another architecture; check --arch")
    unexpected = sorted(set(state) - used)
    if unexpected:
        raise CheckpointError(f"{len(unexpected)} tensors in the file have no place in the {arch} generator "
                              f"(e.g. {unexpected[0]})", path=path,
                              hint="the file holds a different architecture or a modified generator; check --arch")
    for k, v in own.items():
        if tuple(new[k].shape) != tuple(v.shape):
            raise CheckpointError(f"tensor {key_map[k]} has shape {tuple(new[k].shape)}, the {arch} generator "
                                  f"needs {tuple(v.shape)}", path=path)
    net = netspec.build()  # every shape fits: now build it for real
    net.load_state_dict({k: new[k].to(own[k].dtype) for k in own}, strict=True)
    net.eval()
    return netspec, net, notes


# ----------------------------------------------------------------------------- the import command


@dataclass
class ImportResult:
    """What `import_checkpoint` wrote."""

    source: Path
    output: Path
    name: str
    arch: str  # the foreign layout: pix2pix | sgan
    model: str  # the registry entry whose task, I/O spec and policy the checkpoint carries
    source_format: str
    parameters: int
    config: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["source"], d["output"] = str(self.source), str(self.output)
        return d


_BASE_SPEC = {"pix2pix": "pix2pix", "sgan": "sgan"}


def _target_spec(arch: str, netspec: NetSpec, path: Path) -> ModelSpec:
    """The registry entry for the imported net: an exact config match if any, else the base model."""
    base = get_spec(_BASE_SPEC[arch])
    io = base.io
    assert io is not None
    cfg = netspec.config
    if (cfg.in_channels, cfg.out_channels) != (len(io.input_channels), len(io.output_channels)):
        raise CheckpointError(
            f"the generator maps {cfg.in_channels} -> {cfg.out_channels} channels; rawcolour's {base.name} "
            f"({base.task}) needs {len(io.input_channels)} ({', '.join(io.input_channels)}) -> "
            f"{len(io.output_channels)} ({', '.join(io.output_channels)})",
            path=path,
            hint="only colourisation (L -> ab) pix2pix and RAW (4 -> RGB) RAW2RGB-GAN generators are imported")
    for name in list_models(task=base.task):
        spec = get_spec(name)
        if spec.generator is not None and spec.generator == netspec:
            return spec
    policy = base.policy
    multiple = getattr(cfg, "size_multiple", policy.size_multiple)
    if multiple != policy.size_multiple:
        policy = dataclasses.replace(policy, size_multiple=multiple, min_size=max(policy.min_size, multiple))
    return dataclasses.replace(base, generator=netspec, policy=policy)


def default_output(path: str | Path) -> Path:
    """FILE -> FILE's stem + .safetensors beside it."""
    path = Path(path)
    return path.with_name(path.stem + ".safetensors")


def import_checkpoint(path: str | Path, arch: str, output: str | Path | None = None, *,
                      name: str | None = None, force: bool = False) -> ImportResult:
    """Convert a reference implementation's generator checkpoint into a rawcolour safetensors file.

    The output (default: FILE's stem + .safetensors) is never the input, and an existing one is
    replaced only with `force`.
    """
    from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint

    if arch not in FOREIGN_ARCHS:
        raise UsageError(f"unknown --arch {arch!r}", hint=f"choose one of {', '.join(FOREIGN_ARCHS)}")
    path = Path(path)
    out = Path(output) if output is not None else default_output(path)
    if path.exists() and out.exists() and out.resolve() == path.resolve():
        raise OutputError("the output would overwrite the input checkpoint", path=out,
                          hint="choose another output with -o")
    if out.exists() and not force:
        raise OutputError("output exists", path=out, hint="pass --force to replace it, or choose another -o")
    foreign = read_foreign_checkpoint(path)
    netspec, net, notes = convert_state(arch, foreign.tensors, path)
    spec = _target_spec(arch, netspec, path)
    training: dict[str, Any] = {
        "imported_from": path.name,
        "imported_sha256": file_sha256(path),
        "imported_format": foreign.format,
        "imported_layout": FOREIGN_ARCHS[arch],
    }
    if foreign.top_class:
        training["imported_class"] = foreign.top_class
    if getattr(netspec.config, "spectral_norm", False) and arch == "sgan":
        training["spectral_norm"] = ("u, v = one power iteration from the file's weight_u, as the reference "
                                     "forward computes them; weight = weight_bar / sigma(u, v)")
    if notes:
        training["import_notes"] = notes
    meta = checkpoint_metadata(spec, netspec, training=training)
    if name:
        meta["name"] = name
    save_checkpoint(out, net, meta)
    return ImportResult(source=path, output=out, name=meta["name"], arch=arch, model=spec.name,
                        source_format=foreign.format, parameters=count_parameters(net),
                        config=netspec.to_dict()["config"], notes=notes)


__all__ = [
    "FOREIGN_ARCHS",
    "ForeignWeights",
    "ImportResult",
    "convert_state",
    "default_output",
    "import_checkpoint",
    "read_foreign_checkpoint",
    "reference_key_map",
    "reference_sn_vectors",
]
