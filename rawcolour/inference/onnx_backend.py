"""The network through onnxruntime on a CPU: which backend a run uses, the exported graph cached on
disk, and a session the tiler calls in place of the torch net.

On this project's 2-core CPU the default developer (sgan-isp-tiny) at 12 MP took 2.93 s through
onnxruntime against 4.49 s for torch's fastest layout, with the same output up to float rounding
(benchmarks/throughput.py, "network"; a folder of four 12 MP DNGs 6.8 s a file against 9.1).
``--backend auto`` takes onnxruntime where that holds: fp32 on a CPU, onnxruntime installed, and
a net without norms that take statistics of the picture itself (the tiler freezes those in the
torch modules, rawcolour.inference.norm_stats, which a graph cannot do). Anything else runs in
torch.

The graph is rawcolour.export's (dynamic batch and size, checked against torch when made), cached
in :func:`cache_folder` under a name keyed by :func:`graph_key`: the net's tensors and modules, the
code that builds and exports it, and the versions involved, so a graph is only ever reused for the
net it was made from. A cache file that does not load is made again, and a cache that cannot be
written only costs the export next time.

Memory: the tiler sizes ``tile="auto"`` from the torch net's activations (rawcolour.inference
.tile_memory), which holds for the session too. onnxruntime keeps what a run allocated in its arena
for the next picture (the first picture pays for fresh memory, the others do not); its memory
pattern is off, because with it the second run of a shape allocated the whole plan again beside the
arena (12 MP: 5.2 GB held instead of 3.0 GB). Without the arena the network ran about twice as
slow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import weakref
from contextlib import suppress
from pathlib import Path

import torch
import torch.nn as nn

import rawcolour
from rawcolour.checkpoint import LoadedModel
from rawcolour.errors import OutputError, RawcolourError, UsageError
from rawcolour.inference.device import net_fingerprint, precision_name
from rawcolour.io.files import atomic_write_bytes
from rawcolour.nets.norms import has_sample_statistics

# Packages the backend needs: the runtime, and the exporter that makes its graph (rawcolour.export).
_NEEDS = ("onnxruntime", "onnx", "onnxscript")


def cache_folder() -> Path | None:
    """Where exported graphs are kept: $RAWCOLOUR_CACHE, else $XDG_CACHE_HOME/rawcolour, else
    ~/.cache/rawcolour; None (no cache: each process exports) when none of these is an absolute
    path, e.g. without $HOME."""
    if os.environ.get("RAWCOLOUR_CACHE"):
        folder = Path(os.environ["RAWCOLOUR_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = Path(base) / "rawcolour"
    return folder if folder.is_absolute() else None


def why_not_onnxruntime(model: LoadedModel, device: torch.device, dtype: torch.dtype) -> str | None:
    """Why onnxruntime cannot run ``model``'s network on ``device`` in ``dtype``; None when it can."""
    if model.net is None:
        return f"{model.name} has no network"
    if device.type != "cpu":
        return f"it runs on the CPU only, not on {device.type}"
    if dtype is not torch.float32:
        return f"it runs fp32 only, not {precision_name(dtype)}"
    if has_sample_statistics(model.net):
        return f"{model.name} normalises with statistics of each picture, which tiles freeze in torch"
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return f"{', '.join(missing)} {verb} not installed (pip install 'rawcolour[onnx]')"
    return None


def choose_backend(asked: str, model: LoadedModel, device: torch.device, dtype: torch.dtype) -> str:
    """'torch' | 'onnxruntime' for ``--backend asked`` (auto | torch | onnxruntime); a UsageError
    when onnxruntime is asked for where it cannot run."""
    if asked == "torch":
        return "torch"
    reason = why_not_onnxruntime(model, device, dtype)
    if asked == "onnxruntime" and reason is not None:
        raise UsageError(f"--backend onnxruntime cannot run here: {reason}", hint="use --backend auto or torch")
    return "onnxruntime" if reason is None else "torch"


class OnnxNet:
    """The network as an onnxruntime session: (B, C, h, w) float32 tensor -> output tensor, the
    contract of the torch net's call (rawcolour.inference.tiling.NetCall)."""

    def __init__(self, session) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        fed = x.detach().to("cpu", torch.float32).contiguous().numpy()
        try:
            y = self.session.run([self.output_name], {self.input_name: fed})[0]
        except Exception as err:  # onnxruntime's own types; an allocation failure is the tiler's to shrink
            text = str(err).lower()
            if "failed to allocate" in text or "bad_alloc" in text:
                raise MemoryError(f"onnxruntime: {_first_line(err)}") from err
            raise RawcolourError(f"onnxruntime failed on this picture ({_first_line(err)})",
                                 hint="try --backend torch") from err
        return torch.from_numpy(y)


# Bumped whenever the graph exported for the same net, code and versions changes meaning.
GRAPH_FORMAT = 1
# The code the exported graph is made by: the nets' modules, their inference rewrites, the exporter.
_GRAPH_CODE = ("nets", "export.py")

# One session per loaded net and thread count, while the net lives (a batch converts many files),
# with the net's fingerprint when it was made; or the message of why it could not be made (text,
# not the exception: its traceback would keep the net alive).
_SESSIONS: "weakref.WeakKeyDictionary[nn.Module, dict[int, tuple[tuple, OnnxNet | str]]]" = (
    weakref.WeakKeyDictionary())


def onnx_net(model: LoadedModel) -> OnnxNet:
    """``model``'s network as an onnxruntime session with torch's thread count (cached per net).
    Raises RawcolourError when the graph cannot be made or loaded."""
    threads, stamp = torch.get_num_threads(), net_fingerprint(model.net)
    sessions = _SESSIONS.setdefault(model.net, {})
    if threads not in sessions or sessions[threads][0] != stamp:
        try:
            made: OnnxNet | str = OnnxNet(_cached_session(model, threads))
        except RawcolourError as err:
            made = str(err)  # not tried again for every picture of a batch
        sessions[threads] = (stamp, made)
    made = sessions[threads][1]
    if isinstance(made, str):
        raise RawcolourError(made)
    return made


def graph_key(model: LoadedModel) -> str:
    """A SHA-256 of what ``model``'s exported graph depends on: the net's tensors (names, shapes,
    types, values) and modules, the code that builds and exports it (_GRAPH_CODE), GRAPH_FORMAT and
    the versions of rawcolour, torch and the ONNX packages. A net changed in any way, loaded from
    another file or by other code gets another key."""
    from importlib.metadata import PackageNotFoundError, version

    import onnxruntime

    digest = hashlib.sha256()
    for name, tensor in model.net.state_dict().items():
        values = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{values.dtype}|{tuple(values.shape)}|".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(repr(model.net).encode())
    package = Path(rawcolour.__file__).parent
    for part in _GRAPH_CODE:
        for source in sorted((package / part).rglob("*.py")) if (package / part).is_dir() else [package / part]:
            digest.update(source.relative_to(package).as_posix().encode() + source.read_bytes())
    versions = [rawcolour.__version__, torch.__version__, onnxruntime.__version__, str(GRAPH_FORMAT)]
    for name in ("onnx", "onnxscript"):  # their versions without importing them (onnxscript is slow to)
        with suppress(PackageNotFoundError):
            versions.append(f"{name} {version(name)}")
    digest.update("|".join(versions).encode())
    return digest.hexdigest()


def cache_path(model: LoadedModel) -> Path | None:
    """The cache file of ``model``'s graph (keyed by :func:`graph_key`); None without a cache folder."""
    folder = cache_folder()
    return None if folder is None else folder / f"{model.name}-{graph_key(model)[:24]}.onnx"


def _cached_session(model: LoadedModel, threads: int):
    """A session on the cached graph when it loads, else on a graph exported now (and cached when
    the cache can be written)."""
    try:
        path = cache_path(model)
    except OSError:  # the package's own files unreadable: export without the cache
        path = None
    if path is not None:
        with suppress(OSError, RawcolourError):  # missing, unreadable, cut short or corrupted
            return _session(path.read_bytes(), threads)
    from rawcolour.export import export_onnx

    try:
        with tempfile.TemporaryDirectory(prefix="rawcolour-onnx-") as tmp:
            data = export_onnx(model, Path(tmp) / "net.onnx").path.read_bytes()
    except RawcolourError:
        raise
    except Exception as err:  # the exporter's and onnxruntime's own types: one line for the record
        raise RawcolourError(f"ONNX export failed ({type(err).__name__}: {_first_line(err)})") from err
    if path is not None:
        with suppress(OutputError, OSError):  # an unwritable cache: the next process exports again
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, what="ONNX cache file")
    return _session(data, threads)


def _session(graph: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    # Threads sleep between operators instead of spinning: a batch encodes and decodes other files
    # beside the network, and spinning only takes their cores (no slower alone: 5.3 s against 5.7 s).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No memory pattern: a batch's memory would double from its second picture (module docstring).
    options.enable_mem_pattern = False
    try:
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise RawcolourError(f"onnxruntime cannot load the exported graph ({_first_line(err)})") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


__all__ = ["GRAPH_FORMAT", "OnnxNet", "cache_folder", "cache_path", "choose_backend", "graph_key", "onnx_net",
           "why_not_onnxruntime"]
