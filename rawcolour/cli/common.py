"""What every command shares: the stderr console and turning library errors into exit codes."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any

import typer

from rich.console import Console

from rawcolour.errors import OutputError, RawcolourError, UsageError, one_line

# Results go to stdout, everything else (progress, messages, errors) to stderr.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def error_line(err: BaseException | str) -> str:
    """The one line a user sees for an error (whatever the message holds, it stays one line)."""
    return f"rawcolour: error: {one_line(str(err))}"


def fail(err: BaseException, code: int | None = None) -> typer.Exit:
    """Print `err` as one line on stderr and return the Exit to raise."""
    if code is None:
        code = EXIT_USAGE if isinstance(err, UsageError) else EXIT_FAILED
    err_console.print(error_line(err), markup=False)
    return typer.Exit(code)


@contextlib.contextmanager
def library_errors() -> Iterator[None]:
    """Turn RawcolourError into one stderr line and exit 1 (2 for usage errors)."""
    try:
        yield
    except RawcolourError as err:
        raise fail(err) from None


def print_json(obj: Any) -> None:
    """One compact JSON record on stdout.

    BrokenPipeError (the reader went away) propagates for the caller to exit 141; any other
    failure to write stdout (a full disk behind ``> file``, /dev/full) is an OutputError, and
    stdout is sent to /dev/null so that Python's own final flush does not fail again.
    """
    try:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        silence_stdout()
        raise OutputError(f"cannot write the JSON records to stdout ({exc.strerror or exc})", path="<stdout>",
                          hint="check where stdout goes (a full disk?)") from None


def silence_stdout() -> None:
    """Send further writes to stdout (and Python's final flush) nowhere: after its reader went
    away, or it cannot be written."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # what is still buffered is flushed there at exit


class Layout(str, Enum):
    """Paired RAW folder layouts (see rawcolour.data.samples.list_raw_pairs)."""

    auto = "auto"
    zurich = "zurich"
    rawgan = "rawgan"


class TileStats(str, Enum):
    """Where frozen instance-norm statistics come from when a picture is tiled (rawcolour.inference.tiling)."""

    auto = "auto"  # a point-sampled whole-picture pass the size of one device call
    exact = "exact"  # pooled over all tiles layer by layer: untiled colours, about 5x the work


class Precision(str, Enum):
    """Inference precision; fp16/bf16 fall back to fp32 when the output is not finite."""

    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


class Backend(str, Enum):
    """What runs the network (rawcolour.inference.onnx_backend)."""

    auto = "auto"  # onnxruntime for fp32 on a CPU where the model allows it, else torch
    torch = "torch"
    onnxruntime = "onnxruntime"


class CFA(str, Enum):
    """Bayer patterns of 1-channel mosaic PNGs (camera files state their own)."""

    RGGB = "RGGB"
    BGGR = "BGGR"
    GRBG = "GRBG"
    GBRG = "GBRG"


# ------------------------------------------------------------------ options several commands share
# Declared once, so that an option has the same default and the same words in every command.

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _device(value: str) -> str:
    if not _DEVICE.match(value):
        raise typer.BadParameter(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return value


def _tile(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 0):
        return value
    raise typer.BadParameter(f"{value!r} is not a tile size; use auto, a number of pixels, or 0")


def tile_value(text: str) -> int | str:
    """--tile's text as InferenceOptions keeps it: "auto" or a number of pixels (0: whole picture)."""
    from rawcolour.inference.options import tile_option

    return tile_option(text)


TILES = "Tiles and device"  # the help section of the options below
PACKED_PNGS = "Packed RAW PNGs (datasets)"

DeviceOpt = Annotated[str, typer.Option(
    "--device", metavar="auto|cpu|cuda[:N]|mps", callback=_device, rich_help_panel=TILES,
    help="Where the network runs: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")]
PrecisionOpt = Annotated[Precision, typer.Option(
    "--precision", rich_help_panel=TILES,
    help="Arithmetic on the device; fp16/bf16 fall back to fp32 when they give non-finite values.")]
BackendOpt = Annotated[Backend, typer.Option(
    "--backend", rich_help_panel=TILES,
    help="What runs the network: auto (onnxruntime for fp32 on a CPU when the model has no per-picture norm "
         "statistics and onnxruntime is installed: the same output, faster; else torch), torch or onnxruntime.")]
TileOpt = Annotated[str, typer.Option(
    "--tile", metavar="auto|N|0", callback=_tile, rich_help_panel=TILES,
    help="auto: the whole picture if it fits memory, else the largest tiles that do; 0: the whole picture; "
         "N: tiles of N x N network-input pixels (RAW: packed pixels, one per 2x2 Bayer quad). A colouriser "
         "sees the whole picture at --render-size unless N is given.")]
OverlapOpt = Annotated[int | None, typer.Option(
    "--overlap", metavar="N", min=0, rich_help_panel=TILES, show_default=False,
    help="Context on each side of a tile, in the network-input pixels of --tile (RAW: packed pixels, one "
         "per 2x2 Bayer quad). Default: the model's (rawcolour models show NAME).")]
RenderSizeOpt = Annotated[int | None, typer.Option(
    "--render-size", metavar="N", min=16, rich_help_panel=TILES, show_default=False,
    help="Short side in pixels at which a colouriser predicts the colour, which is then merged with the "
         "picture's full-resolution lightness. Default: the model's (256).")]
CfaOpt = Annotated[CFA, typer.Option(
    "--cfa", rich_help_panel=PACKED_PNGS,
    help="Bayer pattern of Zurich 1-channel mosaic PNGs (camera RAW files state their own).")]
BlackOpt = Annotated[float, typer.Option(
    "--black", metavar="LEVEL", min=0, rich_help_panel=PACKED_PNGS, help="Black level of Zurich mosaic PNGs.")]
WhiteOpt = Annotated[float, typer.Option(
    "--white", metavar="LEVEL", min=1, rich_help_panel=PACKED_PNGS,
    help="White level of Zurich mosaic PNGs (4 x 255 for the Zurich dataset).")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Nothing on stderr but errors: no progress, notes, warnings or summary.")]
