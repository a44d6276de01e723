"""What every command shares: the stderr console and turning library errors into exit codes."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any

import typer

from rich.console import Console

from rawcolour.data.names import LAYOUTS
from rawcolour.errors import OutputError, RawcolourError, UsageError, one_line
from rawcolour.inference.options import BACKENDS, PRECISIONS, TILE_STATS
from rawcolour.io.mosaic import BAYER_PATTERNS
from rawcolour.io.packed_png import ZURICH_WHITE
from rawcolour.registry import get_spec
from rawcolour.tasks import get_task

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


STDOUT_CLOSED = OutputError("cannot write the JSON records: stdout is closed", path="<stdout>",
                            hint="give the command a stdout (> records.json), or drop --json")


def print_json(obj: Any) -> None:
    """One compact JSON record on stdout.

    BrokenPipeError (the reader went away) propagates for the caller to exit 141; any other
    failure to write stdout (a full disk behind ``> file``, /dev/full) is an OutputError, and
    stdout is sent to /dev/null so that Python's own final flush does not fail again.
    """
    if sys.stdout is None:  # started with stdout closed (>&-): one line, whichever command
        raise fail(STDOUT_CLOSED)
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


def choice(name: str, values: tuple[str, ...] | list[str]) -> type[Enum]:
    """A typer choice type of a library's names (its help lists them; the library checks them)."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


# The choices of options, from where the library names them.
Layout = choice("Layout", LAYOUTS)  # paired RAW folder layouts (rawcolour.data.samples)
TileStats = choice("TileStats", TILE_STATS)  # tiles' instance-norm statistics (rawcolour.inference.norm_stats)
Precision = choice("Precision", PRECISIONS)  # fp16/bf16 fall back to fp32 when the output is not finite
Backend = choice("Backend", BACKENDS)  # what runs the network (rawcolour.inference.onnx_backend)
CFA = choice("CFA", BAYER_PATTERNS)  # Bayer patterns of 1-channel mosaic PNGs (camera files state their own)

# ------------------------------------------------------------------ options several commands share
# Declared once, so that an option has the same default and the same words in every command; the
# library checks the values (rawcolour.inference.options, batch.LoadSettings, train.config).

TILES = "Tiles and device"  # the help section of the options below
PACKED_PNGS = "Packed RAW PNGs (datasets)"

DeviceOpt = Annotated[str, typer.Option(
    "--device", metavar="auto|cpu|cuda[:N]|mps", rich_help_panel=TILES,
    help="Where the network runs: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")]
PrecisionOpt = Annotated[Precision, typer.Option(
    "--precision", rich_help_panel=TILES,
    help="Arithmetic on the device; fp16/bf16 fall back to fp32 when they give non-finite values.")]
BackendOpt = Annotated[Backend, typer.Option(
    "--backend", rich_help_panel=TILES,
    help="What runs the network: auto (onnxruntime for fp32 on a CPU when the model has no per-picture norm "
         "statistics and onnxruntime is installed: the same output, faster; else torch), torch or onnxruntime.")]
TileOpt = Annotated[str, typer.Option(
    "--tile", metavar="auto|N|0", rich_help_panel=TILES,
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
         "picture's full-resolution lightness. Default: the model's "
         f"({get_spec(get_task('colourise').default_model).policy.render_size} for the default model).")]
CfaOpt = Annotated[CFA, typer.Option(
    "--cfa", rich_help_panel=PACKED_PNGS,
    help="Bayer pattern of Zurich 1-channel mosaic PNGs (camera RAW files state their own).")]
BlackOpt = Annotated[float, typer.Option(
    "--black", metavar="LEVEL", min=0, rich_help_panel=PACKED_PNGS, help="Black level of Zurich mosaic PNGs.")]
WhiteOpt = Annotated[float, typer.Option(
    "--white", metavar="LEVEL", min=1, rich_help_panel=PACKED_PNGS,
    help=f"White level of Zurich mosaic PNGs ({ZURICH_WHITE:g} for the Zurich dataset).")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Nothing on stderr but errors: no progress, notes, warnings or summary.")]
