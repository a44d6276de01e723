"""Self-describing safetensors checkpoints, and turning a model name or file into a ready network.

A checkpoint's ``__metadata__`` (a str -> str map) carries everything needed to rebuild and feed
the generator without the registry: architecture and config as JSON, task, the I/O spec (colour
space, channel order, value scaling, CFA order, level normalisation) and the inference policy.
Tensors are the generator's state dict; a training checkpoint may add the discriminator's under
``discriminator.``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

import rawcolour
from rawcolour.errors import CheckpointError, MissingWeightsError, RawcolourError
from rawcolour.io.files import atomic_write_bytes, file_sha256
from rawcolour.model_spec import TILING_MODES
from rawcolour.nets.fold import fold_for_inference
from rawcolour.nets.limits import meta_build, state_shapes
from rawcolour.registry import InferencePolicy, IOSpec, ModelSpec, NetSpec, get_spec, is_model, weights_path
from rawcolour.tasks import TASKS

FORMAT = "rawcolour.checkpoint/1"
DISCRIMINATOR_PREFIX = "discriminator."
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class LoadedModel:
    """A network ready to run, with what the pipelines need to feed it."""

    name: str
    task: str
    net: nn.Module | None  # None for the non-learned baselines (grey, classic)
    io: IOSpec | None
    policy: InferencePolicy
    source: Path | None = None  # checkpoint file; None for baselines and fresh networks
    metadata: dict[str, str] = field(default_factory=dict)

    @cached_property
    def sha256(self) -> str | None:
        """Hash of the checkpoint file (for provenance in --json records)."""
        return None if self.source is None else file_sha256(self.source)


# ---------------------------------------------------------------------------------------- saving


def checkpoint_metadata(spec: ModelSpec, generator: NetSpec | None = None,
                        training: dict[str, Any] | None = None) -> dict[str, str]:
    """The ``__metadata__`` map for a generator of `spec` (optionally with another net config)."""
    net = generator or spec.generator
    if net is None or spec.io is None:
        raise CheckpointError(f"model {spec.name!r} has no network to save")
    meta = {
        "format": FORMAT,
        "rawcolour_version": rawcolour.__version__,
        "name": spec.name,
        "task": spec.task,
        "arch": net.arch,
        "config": json.dumps(net.to_dict()["config"], sort_keys=True),
        "io": json.dumps(spec.io.to_dict(), sort_keys=True),
        "policy": json.dumps(spec.policy.to_dict(), sort_keys=True),
    }
    if training:
        meta["training"] = json.dumps(training, sort_keys=True, default=str)
    return meta


def save_checkpoint(path: str | Path, generator: nn.Module, metadata: dict[str, str], *,
                    discriminator: nn.Module | None = None, discriminator_spec: NetSpec | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write the generator (and optionally the discriminator) atomically as safetensors.

    `dtype` (e.g. torch.float16) converts floating tensors for a smaller file; loading converts back.
    """
    path = Path(path)
    tensors = {k: _prepare(v, dtype) for k, v in _unwrap(generator).state_dict().items()}
    meta = dict(metadata)
    if discriminator is not None:
        if discriminator_spec is None:
            raise CheckpointError("saving a discriminator needs its NetSpec", path=path)
        for k, v in _unwrap(discriminator).state_dict().items():
            tensors[DISCRIMINATOR_PREFIX + k] = _prepare(v, dtype)
        meta["discriminator_arch"] = discriminator_spec.arch
        meta["discriminator_config"] = json.dumps(discriminator_spec.to_dict()["config"], sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, save(tensors, metadata=meta), what="checkpoint")


def _unwrap(net: nn.Module) -> nn.Module:
    return getattr(net, "module", net)  # DistributedDataParallel


def _prepare(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    t = t.detach().to("cpu")
    if dtype is not None and t.is_floating_point():
        t = t.to(dtype)
    return t.contiguous()


# ---------------------------------------------------------------------------------------- loading

# The floating point types torch computes with here; a weight of any other type (bool, integers,
# complex, float8) is refused: cast to float32 it computes garbage, or the NaN check cannot run.
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Buffers that count (batch norm's num_batches_tracked) are integers.
_COUNT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
# safetensors' dtype names -> torch's; any name not here is refused as it is spelt.
_SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
                       "I8": torch.int8, "I16": torch.int16, "I32": torch.int32, "I64": torch.int64,
                       "U8": torch.uint8, "BOOL": torch.bool, "C64": torch.complex64, "C128": torch.complex128,
                       "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}


def _dtype_name(dtype: torch.dtype | str) -> str:
    return dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")


def _not_weights(key: str, dtype: torch.dtype | str, path: Path | None) -> CheckpointError:
    return CheckpointError(f"tensor {key} is {_dtype_name(dtype)}; a network's weights are floating point "
                           "(float16, bfloat16, float32 or float64)", path=path,
                           hint="export the checkpoint again from the trained network without casting its weights")


def check_tensor_type(key: str, tensor: torch.Tensor, own: torch.Tensor, path: Path | None) -> None:
    """Refuse ``tensor`` as the value of the network's ``own`` tensor ``key`` unless it is of a type
    that holds it: floating point (WEIGHT_DTYPES) for weights, integers for counters."""
    if tensor.dtype not in (WEIGHT_DTYPES if own.is_floating_point() else _COUNT_DTYPES):
        raise _not_weights(key, tensor.dtype, path)


def read_checkpoint_header(path: str | Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Every tensor's shape and the metadata of a rawcolour safetensors file, without reading the
    tensors; anything else raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such checkpoint file", path=path)
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: 8-byte header length, then the JSON header's "{". Only without that look for a
    # zip ("PK\x03\x04") or pickle (0x80, protocol) signature: a header length can start with 0x80.
    if head[8:9] != b"{" and (head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05")):
        raise CheckpointError("this is a PyTorch pickle/zip checkpoint, not safetensors", path=path,
                              hint="convert it once with `rawcolour models import FILE --arch ...`")
    if len(head) < 8:
        raise CheckpointError("file is too short to be safetensors (empty or truncated)", path=path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            slices = {k: f.get_slice(k) for k in f.keys()}
            shapes = {k: tuple(s.get_shape()) for k, s in slices.items()}
            dtypes = {k: s.get_dtype() for k, s in slices.items()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"not a readable safetensors file ({err})", path=path,
                              hint="the file is corrupt or truncated; download or export it again") from err
    if metadata.get("format") != FORMAT:
        raise CheckpointError("safetensors file without rawcolour metadata", path=path,
                              hint="import foreign weights with `rawcolour models import`")
    for key, name in dtypes.items():  # no network holds bool, complex or float8 tensors
        dtype = _SAFETENSORS_DTYPES.get(name, name)
        if dtype not in WEIGHT_DTYPES + _COUNT_DTYPES:
            raise _not_weights(key, dtype, path)
    return shapes, metadata


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a rawcolour safetensors file; anything else raises CheckpointError."""
    path = Path(path)
    _shapes, metadata = read_checkpoint_header(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"not a readable safetensors file ({err})", path=path,
                              hint="the file is corrupt or truncated; download or export it again") from err
    return tensors, metadata


_NOT_OURS = "the file does not describe a network rawcolour can build; download or export it again"


def net_spec_from_metadata(metadata: dict[str, str], path: Path | None = None,
                           prefix: str = "") -> NetSpec:
    """Rebuild the NetSpec stored under `arch`/`config` (or `discriminator_arch`/... with prefix).

    The config is checked against its architecture's limits (rawcolour.nets.limits) here, before
    anything is built.
    """
    try:
        arch = metadata[f"{prefix}arch"]
        return NetSpec.from_dict({"arch": arch, "config": json.loads(metadata[f"{prefix}config"])})
    except KeyError as err:
        raise CheckpointError(f"metadata lacks {err}", path=path, hint=_NOT_OURS) from None
    except RawcolourError as err:
        raise CheckpointError(err.problem, path=path, hint=err.hint) from None
    except (ValueError, TypeError, AttributeError, RecursionError) as err:
        raise CheckpointError(f"metadata config does not fit its architecture ({err})", path=path,
                              hint=_NOT_OURS) from None


def checked_net_spec(metadata: dict[str, str], shapes: dict[str, tuple[int, ...]], path: Path | None = None,
                     prefix: str = "") -> NetSpec:
    """The NetSpec of a checkpoint, validated before anything real is built: its config within the
    architecture's limits, the network within the parameter budget, and every tensor the network
    needs present in ``shapes`` with its exact shape (a meta-device build: no memory)."""
    spec = net_spec_from_metadata(metadata, path, prefix)
    try:
        expected = state_shapes(meta_build(spec.build))
    except (ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"metadata config does not fit its architecture ({err})", path=path,
                              hint=_NOT_OURS) from None
    check_shapes(expected, {strip_wrappers(k): v for k, v in shapes.items()}, path)
    return spec


def check_shapes(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]],
                 path: Path | None = None) -> None:
    """One clear CheckpointError for missing, unexpected or mis-shaped tensors."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        raise CheckpointError("weights do not match the architecture: " + ", ".join(parts), path=path)
    for k, shape in expected.items():
        if tuple(found[k]) != tuple(shape):
            raise CheckpointError(f"tensor {k} has shape {tuple(found[k])}, the architecture "
                                  f"needs {tuple(shape)}", path=path)


def load_state(net: nn.Module, state: dict[str, torch.Tensor], path: Path | None = None) -> None:
    """Load a state dict strictly, with one clear error for missing, unexpected or mis-shaped tensors."""
    state = {strip_wrappers(k): v for k, v in state.items()}
    own = net.state_dict()
    check_shapes({k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in state.items()}, path)
    for k, v in own.items():  # before the NaN check: isfinite is not implemented for every type
        check_tensor_type(k, state[k], v, path)
    broken = [k for k in own if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all())]
    if broken:  # e.g. saved by a run that diverged: every picture would come out black
        raise CheckpointError(f"{len(broken)} of {len(own)} weight tensors hold NaN or infinite values "
                              f"({broken[0]} first)", path=path,
                              hint="use a checkpoint saved before the training diverged")
    converted = {k: state[k].to(own[k].dtype) for k in own}
    net.load_state_dict(converted, strict=True)


def _json_object(metadata: dict[str, str], key: str, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(metadata[key])
    except KeyError:
        raise CheckpointError(f"metadata lacks {key!r}", path=path, hint=_NOT_OURS) from None
    except (ValueError, RecursionError) as err:
        raise CheckpointError(f"metadata {key!r} is not valid JSON ({err})", path=path, hint=_NOT_OURS) from None
    if not isinstance(value, dict):
        raise CheckpointError(f"metadata {key!r} is a JSON {type(value).__name__}, not an object", path=path,
                              hint=_NOT_OURS)
    return value


# Inference policy fields read from a file: (type, lowest, highest); None where any value of the type is fine.
_POLICY_LIMITS: dict[str, tuple[type, int | None, int | None]] = {
    "size_multiple": (int, 1, 4096), "default_overlap": (int, 0, 4096), "min_size": (int, 1, 65536),
    "render_size": (int, 16, 65536), "supports_half": (bool, None, None), "tiling": (str, None, None),
}


def io_and_policy(metadata: dict[str, str], path: Path) -> tuple[IOSpec, InferencePolicy]:
    """The I/O spec and inference policy a checkpoint states, checked field by field."""
    io_d, policy_d = _json_object(metadata, "io", path), _json_object(metadata, "policy", path)
    for key, value in policy_d.items():
        kind, lo, hi = _POLICY_LIMITS.get(key, (object, None, None))
        if value is None and key == "render_size":
            continue
        bad = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if not bad and lo is not None and not lo <= value <= hi:
            bad = True
        if bad or (key == "tiling" and value not in TILING_MODES):
            raise CheckpointError(f"metadata policy {key} = {value!r:.40} is not valid", path=path, hint=_NOT_OURS)
    for key, value in io_d.items():
        if key == "output_scale":
            ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 16
        else:  # names and formulas: text, or short lists of text
            ok = value is None or isinstance(value, str) or (
                isinstance(value, list) and len(value) <= 64 and all(isinstance(x, str) for x in value))
        if not ok:
            raise CheckpointError(f"metadata io {key} = {value!r:.40} is not valid", path=path, hint=_NOT_OURS)
    try:
        return IOSpec.from_dict(io_d), InferencePolicy.from_dict(policy_d)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"metadata has no valid io/policy ({err})", path=path, hint=_NOT_OURS) from None


def strip_wrappers(key: str) -> str:
    """A state-dict key without DDP (``module.``) and torch.compile (``_orig_mod.``) wrapper prefixes."""
    for prefix in _WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def load_checkpoint(path: str | Path, *, for_inference: bool = True,
                    device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a generator from a checkpoint file alone (metadata -> architecture -> weights).

    For inference, spectral norm is folded into plain weights and eval-mode batch norm into the
    preceding convolution; the saliency decoder runs only when asked for in forward.
    A training checkpoint's discriminator is read by `load_discriminator`.
    """
    path = Path(path)
    # Everything a file states is checked before anything real is built or read (a hostile file
    # costs milliseconds): metadata, config limits, parameter budget, every tensor's shape.
    shapes, metadata = read_checkpoint_header(path)
    gen_shapes = {k: v for k, v in shapes.items() if not k.startswith(DISCRIMINATOR_PREFIX)}
    net_spec = checked_net_spec(metadata, gen_shapes, path)
    io, policy = io_and_policy(metadata, path)
    if metadata.get("task", "") and metadata["task"] not in TASKS:  # no command could use it
        raise CheckpointError(f"the checkpoint's metadata names an unknown task {metadata['task']!r:.40}", path=path,
                              hint=f"its task must be {' or '.join(TASKS)}; {_NOT_OURS}")
    tensors, metadata = read_checkpoint(path)
    net = net_spec.build()
    gen_state = {k: v for k, v in tensors.items() if not k.startswith(DISCRIMINATOR_PREFIX)}
    load_state(net, gen_state, path)
    if for_inference:
        net.eval()
        fold_for_inference(net)
    else:
        net.train()
    return LoadedModel(name=metadata.get("name", path.stem), task=metadata.get("task", ""), net=net.to(device),
                       io=io, policy=policy, source=path, metadata=metadata)


def load_discriminator(path: str | Path) -> nn.Module:
    """The discriminator stored in a training checkpoint."""
    path = Path(path)
    shapes, metadata = read_checkpoint_header(path)
    if "discriminator_arch" not in metadata:
        raise CheckpointError("checkpoint holds no discriminator", path=path)
    n = len(DISCRIMINATOR_PREFIX)
    spec = checked_net_spec(metadata, {k[n:]: v for k, v in shapes.items() if k.startswith(DISCRIMINATOR_PREFIX)},
                            path, prefix="discriminator_")
    tensors, metadata = read_checkpoint(path)
    net = spec.build()
    load_state(net, {k[n:]: v for k, v in tensors.items() if k.startswith(DISCRIMINATOR_PREFIX)}, path)
    return net


def load_model(name_or_path: str | Path, *, device: str | torch.device = "cpu", for_inference: bool = True,
               allow_random: bool = False) -> LoadedModel:
    """A registry name (shipped weights, or a baseline) or a checkpoint path -> LoadedModel.

    `allow_random` builds a freshly initialised network when a learned model has no weights
    (benchmarks, tests, the start of training); otherwise that is a MissingWeightsError.
    """
    text = str(name_or_path)
    if is_model(text):
        spec = get_spec(text)
        if not spec.learned:
            return LoadedModel(name=spec.name, task=spec.task, net=None, io=spec.io, policy=spec.policy)
        found = weights_path(text)
        if found is not None:
            loaded = load_checkpoint(found, for_inference=for_inference, device=device)
            loaded.name = spec.name
            return loaded
        if not allow_random:
            raise MissingWeightsError(
                f"model {text!r} has no installed weights",
                hint="train it (`rawcolour train`), import foreign weights (`rawcolour models import`), "
                     "or pass a checkpoint file with --model")
        net = spec.build_generator()
        if for_inference:
            net.eval()
            fold_for_inference(net)
        return LoadedModel(name=spec.name, task=spec.task, net=net.to(device), io=spec.io, policy=spec.policy)
    path = Path(text)
    if path.exists() or path.suffix == ".safetensors" or os.sep in text:
        return load_checkpoint(path, for_inference=for_inference, device=device)
    get_spec(text)  # raises UnknownModelError with suggestions
    raise AssertionError("unreachable")
