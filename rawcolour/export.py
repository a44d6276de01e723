"""Export a generator to ONNX with dynamic batch, height and width.

The exported graph is the folded inference network (spectral norm and eval-mode batch norm baked
into the convolutions, no saliency decoder): input ``input`` (B, C_in, H, W) in the model's input
scaling, output ``output`` (B, C_out, H, W) in [-1, 1]. H and W may be any multiple of the model's
size multiple (at least its minimum side); the graph does no padding, colour conversion or tiling,
so a caller feeds it exactly what rawcolour's pipelines feed the PyTorch net. The I/O spec and
inference policy travel in the ONNX file's metadata_props as JSON, like a checkpoint's metadata.

Uses PyTorch's torch.export-based ONNX exporter (``torch.onnx.export(dynamo=True)``), which needs
the ``onnxscript`` package; the result is checked against onnxruntime on an input of a different
shape from the one traced.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import rawcolour
from rawcolour.checkpoint import LoadedModel, load_model
from rawcolour.errors import OutputError, RawcolourError, UsageError
from rawcolour.io.files import atomic_write_bytes, output_error, same_file
from rawcolour.nets.fold import fold_for_inference

INPUT_NAME, OUTPUT_NAME = "input", "output"
DEFAULT_TOLERANCE = 1e-4


@dataclass
class ExportResult:
    """What `export_onnx` wrote and how well onnxruntime agreed with PyTorch."""

    path: Path
    name: str
    task: str
    input_name: str
    output_name: str
    size_multiple: int  # H and W must be multiples of this
    min_side: int
    opset: int | None
    checked_shape: tuple[int, ...] | None  # the input shape onnxruntime was compared on
    max_abs_diff: float | None  # None when the check was skipped
    seconds: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def inference_module(net: nn.Module) -> nn.Module:
    """A folded eval-mode copy of `net` without the saliency decoder (what inference runs)."""
    net = copy.deepcopy(net).cpu().float()
    if getattr(net, "saliency", None) is not None:
        net.saliency = None  # only the training loss uses it
    fold_for_inference(net)
    return net.eval()


def _size_rule(loaded: LoadedModel, net: nn.Module) -> tuple[int, int]:
    """(multiple, smallest side) for H and W: the stricter of the policy and the network."""
    cfg = getattr(net, "config", None)
    multiple = max(loaded.policy.size_multiple, getattr(cfg, "size_multiple", 1))
    return multiple, max(loaded.policy.min_size, multiple)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs and warns a lot (missing torchvision ops, deprecations): keep the CLI clean."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "torch.fx",
                                               "torch._dynamo", "torch.utils._pytree", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _need(module: str, why: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise RawcolourError(f"{why} needs the {module!r} package, which is not installed",
                             hint="pip install 'rawcolour[onnx]'")


def export_onnx(model: str | Path | LoadedModel, output: str | Path, *, force: bool = False, check: bool = True,
                tolerance: float = DEFAULT_TOLERANCE) -> ExportResult:
    """Write `model` (a registry name with weights, a checkpoint file, or a LoadedModel) as ONNX.

    H and W are dynamic (multiples of the model's size multiple), and so is the batch. With `check`,
    onnxruntime must reproduce PyTorch within `tolerance` on an input shaped unlike the traced one,
    or nothing is written.
    """
    start = time.perf_counter()
    out = Path(output)
    _check_output(out, force)
    _need("onnxscript", "ONNX export")
    _need("onnx", "ONNX export")
    if check:
        _need("onnxruntime", "checking the exported graph")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, for_inference=True, device="cpu")
    if loaded.source is not None and out.exists() and same_file(out, loaded.source):
        raise OutputError("the ONNX file would overwrite the model's own checkpoint", path=out,
                          hint="choose another --onnx")
    if loaded.net is None:
        raise UsageError(f"{loaded.name!r} is a baseline without a network; there is nothing to export",
                         hint="export a learned model (see `rawcolour models list`)")
    net = inference_module(loaded.net)
    multiple, min_side = _size_rule(loaded, net)
    in_channels = net.config.in_channels
    a = max(2, math.ceil(min_side / multiple))  # traced sides: multiple*a x multiple*(a+1)
    example = torch.randn(2, in_channels, multiple * a, multiple * (a + 1))  # batch 2: 0/1 would be specialised
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(out, err, "ONNX file") from None
    proto = _exported_graph(net, example, loaded, multiple, min_side)
    # Serialised in memory and checked from those bytes, then written by the one atomic writer: a
    # failed export or check never leaves a partial output, a read-only or full target gives one
    # error line, and the file gets the permissions any new file gets.
    data = _serialised(proto, out)
    checked, diff = None, None
    if check:
        x = torch.rand(1, in_channels, multiple * (a + 1), multiple * a) * 2 - 1
        diff = _max_diff_vs_onnxruntime(net, data, x)
        checked = tuple(x.shape)
        if not diff <= tolerance:
            raise RawcolourError(f"the exported graph differs from PyTorch by {diff:.3g} (more than {tolerance:g}) "
                                 f"on a {'x'.join(map(str, checked))} input; nothing written", path=out)
    atomic_write_bytes(out, data, what="ONNX file")
    return ExportResult(path=out, name=loaded.name, task=loaded.task, input_name=INPUT_NAME, output_name=OUTPUT_NAME,
                        size_multiple=multiple, min_side=min_side, opset=_opset(proto), checked_shape=checked,
                        max_abs_diff=diff, seconds=round(time.perf_counter() - start, 2))


def _check_output(out: Path, force: bool) -> None:
    try:
        exists = out.exists()
    except OSError as err:  # a folder on the way we may not enter
        raise output_error(out, err, "ONNX file") from None
    if exists and not force:
        raise OutputError("output exists", path=out, hint="pass --force to replace it, or choose another --onnx")


def _exported_graph(net: nn.Module, example: torch.Tensor, loaded: LoadedModel, multiple: int, min_side: int):
    """The ONNX ModelProto of ``net``, dynamic in batch and in H, W (multiples of ``multiple``, at
    least ``min_side``), with the model's I/O spec and policy in its metadata."""
    dim = torch.export.Dim
    blocks = math.ceil(min_side / multiple)
    h, w = dim("h_blocks", min=blocks), dim("w_blocks", min=blocks)
    dynamic = ({0: dim("batch", min=1), 2: multiple * h, 3: multiple * w},)
    with _quiet_exporter(), torch.no_grad():
        try:
            program = torch.onnx.export(net, (example,), None, dynamo=True, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], dynamic_shapes=dynamic, verbose=False,
                                        external_data=False)
        except Exception as err:  # the exporter raises many types; report one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise RawcolourError(f"ONNX export failed ({type(err).__name__}: {first})") from err
        program.model.metadata_props.update(_metadata(loaded, multiple, min_side))
        program.model.doc_string = (f"rawcolour {loaded.name} ({loaded.task}): {INPUT_NAME} "
                                    f"(B, {example.shape[1]}, H, W), H and W multiples of {multiple}, "
                                    f"at least {min_side}")
        return program.model_proto


def _metadata(loaded: LoadedModel, multiple: int, min_side: int) -> dict[str, str]:
    """The ONNX file's metadata_props: what rawcolour's pipelines need to feed the graph."""
    meta = {
        "rawcolour_version": rawcolour.__version__,
        "name": loaded.name,
        "task": loaded.task,
        "io": json.dumps(loaded.io.to_dict() if loaded.io else None, sort_keys=True),
        "policy": json.dumps(loaded.policy.to_dict(), sort_keys=True),
        "size_multiple": str(multiple),
        "min_side": str(min_side),
    }
    if loaded.source is not None:
        meta["source_checkpoint"] = loaded.source.name
        meta["source_sha256"] = loaded.sha256 or ""
    return meta


def _serialised(proto, out: Path) -> bytes:
    """The bytes ``onnx.save`` writes for ``proto`` at ``out`` (the format follows the suffix;
    protobuf for ``.onnx`` and any suffix onnx does not know)."""
    import onnx
    from onnx.serialization import registry

    buffer = io.BytesIO()
    onnx.save_model(proto, buffer, format=registry.get_format_from_file_extension(out.suffix))
    return buffer.getvalue()


def _opset(proto) -> int | None:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def _max_diff_vs_onnxruntime(net: nn.Module, graph: bytes, x: torch.Tensor) -> float:
    """Largest |PyTorch - onnxruntime| over one input, ``graph`` being the serialised ONNX model."""
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = net(x).numpy()
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    if got.shape != expected.shape:
        return float("inf")
    return float(np.abs(got - expected).max())


__all__ = ["DEFAULT_TOLERANCE", "ExportResult", "export_onnx", "inference_module"]
