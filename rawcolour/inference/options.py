"""How a picture goes through a model: the options every pipeline takes, free of torch (the batch
plans, and the classic baseline runs, without loading it).

:class:`InferenceOptions` normalises and checks itself when it is made, so every layer below the
command line (batch, pipelines, tiler) takes it as it is; the few checks a public function of the
tiler repeats for its own callers are the functions here (``tile_option``, ``check_tile_stats``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from rawcolour.camera_colour import check_gains, parse_wb
from rawcolour.colour_spaces import get_colour_space
from rawcolour.errors import UsageError
from rawcolour.io.classic import EXPOSURE_RANGE, check_highlights, demosaic_algorithm
from rawcolour.tasks import TASKS

# Where frozen instance-norm statistics come from when a picture is tiled (rawcolour.inference.norm_stats):
# "auto", a reduced whole-picture pass; "exact", pooled over all tiles layer by layer.
TILE_STATS = ("auto", "exact")
# What runs the network (rawcolour.inference.onnx_backend): "auto" takes onnxruntime where it is exact
# and faster (fp32 on a CPU, a net without per-picture norm statistics), else torch.
BACKENDS = ("auto", "torch", "onnxruntime")
# --precision's names, and the spellings taken for them
PRECISIONS = ("fp32", "fp16", "bf16")
PRECISION_NAMES = {
    "float32": "fp32", "float": "fp32", "fp32": "fp32", "32": "fp32",
    "float16": "fp16", "half": "fp16", "fp16": "fp16", "16": "fp16",
    "bfloat16": "bf16", "bf16": "bf16",
}


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(name: Any) -> str:
    """The device's name (None: "auto"; a torch.device: its own name) if it names one (auto, cpu,
    cuda, cuda:N, mps), else a UsageError; whether the device is there is device.resolve_device's to
    say, when the network runs."""
    text = "auto" if name is None else name if isinstance(name, str) else str(name)
    if not _DEVICE.fullmatch(text.strip().lower()):
        raise UsageError(f"unknown --device {name!r}", hint="use auto, cpu, cuda, cuda:N or mps")
    return text


def tile_option(tile: int | str | None) -> int | str:
    """'auto' | N | 0 (None: 0, the whole picture), also from strings such as '512'."""
    if tile is None:
        return 0
    if isinstance(tile, str):
        text = tile.strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            return int(text)
    elif not isinstance(tile, bool) and isinstance(tile, (int, np.integer)) and tile >= 0:
        return int(tile)
    raise UsageError(f"--tile must be auto, 0 or a number of pixels, got {tile!r}")


def check_tile_stats(name: str) -> str:
    """``name`` if it is a source of tile statistics (TILE_STATS), else a UsageError."""
    if name not in TILE_STATS:
        raise UsageError(f"unknown tile statistics source {name!r}", hint=f"use one of {', '.join(TILE_STATS)}")
    return name


def check_backend(name: str) -> str:
    """``name`` if it is a backend (BACKENDS), else a UsageError."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}", hint=f"use one of {', '.join(BACKENDS)}")
    return name


def precision_key(precision: str) -> str:
    """A precision's spelling -> 'fp32' | 'fp16' | 'bf16', else a UsageError."""
    key = PRECISION_NAMES.get(str(precision).strip().lower(), "")
    if not key:
        raise UsageError(f"unknown precision {precision!r}", hint="use fp32, fp16 or bf16")
    return key


def _option(default: Any, tasks: tuple[str, ...] = (), **kw: Any) -> Any:
    """A field; ``tasks``: the commands that offer it (what an output's provenance records)."""
    return field(default=default, metadata={"tasks": tasks}, **kw)


@dataclass
class InferenceOptions:
    """How a picture goes through a model (the CLI's --device, --precision, --tile, ...)."""

    device: str = _option("auto", TASKS)  # auto|cpu|cuda|cuda:N|mps
    precision: str = _option("fp32", TASKS)  # fp32|fp16|bf16 (automatic fp32 retry on non-finite output)
    backend: str = _option("auto", TASKS)  # auto|torch|onnxruntime (BACKENDS)
    # raw2rgb: "auto" | N network-input (packed) pixels | 0 untiled;
    # colourise: 0 = render-size mode (default), N = native-resolution tiles
    tile: int | str = _option("auto", TASKS)
    overlap: int | None = _option(None, TASKS)  # None: model policy default
    # colourise: short side the chroma is predicted at (None: policy render_size)
    render_size: int | None = _option(None, ("colourise",))
    tile_batch: int = 4  # tiles per device call (at most; "auto" may use fewer)
    # where frozen instance-norm statistics come from when tiling (TILE_STATS)
    tile_stats: str = _option("auto", ("raw2rgb",))
    channels_last: bool | None = None  # NHWC activations; None: the measured default of the device type
    # raw2rgb: camera|auto|daylight or gains "R,G,B" (see camera_colour)
    wb: str | tuple[float, float, float] = _option("camera", ("raw2rgb",))
    exposure: float = _option(0.0, ("raw2rgb",))  # raw2rgb: EV on top of the automatic brightness, in EXPOSURE_RANGE
    colour_space: str = _option("srgb", ("raw2rgb",))  # raw2rgb: output primaries and curve (colour_spaces)
    # raw2rgb: clip|blend|reconstruct (LibRaw's modes; learned developers clip)
    highlights: str = _option("clip", ("raw2rgb",))
    demosaic: str | None = _option(None, ("raw2rgb",))  # raw2rgb, classic only: LibRaw's algorithm (None: AHD)
    half: bool = _option(False, ("raw2rgb",))  # raw2rgb: half the sensor's size each way, a fast preview
    # Called with (tiles done, tiles) as the network works through a picture (tiling.run_tiled);
    # how the picture is made does not depend on it.
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)
    # --wb as it was written (provenance records it so); None when given as gains
    _wb_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_running()
        self._check_development()
        if isinstance(self.wb, str):
            self._wb_text = self.wb
            try:
                self.wb = parse_wb(self.wb)
            except ValueError as err:
                raise UsageError(str(err)) from None
        else:
            try:
                self.wb = check_gains(self.wb, what=f"white-balance gains {self.wb!r}")
            except (ValueError, TypeError) as err:
                raise UsageError(str(err)) from None
        lo, hi = EXPOSURE_RANGE
        if not (isinstance(self.exposure, (int, float)) and lo <= float(self.exposure) <= hi):
            raise UsageError(f"exposure {self.exposure!r} EV is outside {lo:g}..{hi:g}",
                             hint="LibRaw's exposure range; brighten further in an editor")
        self.exposure = float(self.exposure)

    def _check_running(self) -> None:
        self.device = check_device(self.device)
        self.tile = tile_option(self.tile)
        if self.overlap is not None:
            if isinstance(self.overlap, bool) or not isinstance(self.overlap, (int, np.integer)) or self.overlap < 0:
                raise UsageError(f"overlap must be a number of pixels (0 or more), got {self.overlap!r}")
            self.overlap = int(self.overlap)
        check_tile_stats(self.tile_stats)
        check_backend(self.backend)
        if isinstance(self.precision, str):  # (a torch dtype is taken as it is by device.resolve_precision)
            self.precision = precision_key(self.precision)

    def _check_development(self) -> None:
        self.colour_space = get_colour_space(str(self.colour_space).strip().lower()).name
        check_highlights(self.highlights)
        if self.demosaic is not None:
            self.demosaic = demosaic_algorithm(str(self.demosaic).lower())
        self.half = bool(self.half)

    def tile_overlap(self, default: int) -> int:
        """Context on each side of a tile: ``overlap``, or the model's ``default``."""
        return default if self.overlap is None else self.overlap

    def on_device(self, device: str) -> InferenceOptions:
        """A copy that runs on ``device`` (under torchrun: this rank's GPU)."""
        moved = copy.copy(self)
        moved.device = device
        return moved

    def offered(self, task: str) -> dict[str, Any]:
        """The options the ``task``'s command offers, as given (--wb as written): what an output's
        provenance records about how it was made."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if task in f.metadata.get("tasks", ())}
        if "wb" in values and self._wb_text is not None:
            values["wb"] = self._wb_text
        return values


__all__ = ["BACKENDS", "PRECISIONS", "PRECISION_NAMES", "TILE_STATS", "InferenceOptions", "check_backend",
           "check_device", "check_tile_stats", "precision_key", "tile_option"]
