"""`rawcolour colourise` and `rawcolour raw2rgb`: convert many pictures with a model.

Parsing and printing only; collecting inputs, naming outputs, converting and writing live in
rawcolour.batch (run_batch). stdout carries nothing but the --json records or, with `-o -`, the picture;
progress, warnings, failures and the summary go to stderr.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from rawcolour import distributed
from rawcolour import batch
from rawcolour.io import images
from rawcolour.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Precision,
    TileStats,
    err_console,
    error_line,
    library_errors,
    print_json,
    silence_stdout,
)
from rawcolour.errors import RawcolourError, UsageError, display_path
from rawcolour.colour_spaces import COLOUR_SPACES
from rawcolour.io.raw import DEFAULT_DEMOSAIC, DEMOSAIC_ALGORITHMS, EXPOSURE_RANGE, HIGHLIGHT_MODES

app = typer.Typer()

EXIT_TERMINATED = 143  # SIGTERM
EXIT_BROKEN_PIPE = 141  # SIGPIPE: the reader of stdout went away

EPILOG = (
    "Outputs are named STEM+SUFFIX.png|.tif|.jpg. Without -o they go next to each input with the "
    "suffix {suffix}; with -o DIR the suffix is empty unless an output lands in its input's own "
    "folder. An input is never overwritten, and two inputs that would write the same file stop "
    "the command before any work (exit 2).\n\n"
    "Existing outputs are skipped by default (--on-exist skip), so re-running a batch only does "
    "what is missing. Each output records the rawcolour version, model and model sha256.\n\n"
    "Exit codes: 0 every input converted or skipped; 1 some input failed (each named on stderr) "
    "or the model could not be loaded; 2 usage error (bad options, no inputs, name collisions); "
    "130 interrupted (Ctrl-C): no partial file is left. Under torchrun every rank converts its "
    "share and exits 1 if any rank's input failed."
)


class OnExist(str, enum.Enum):
    skip = "skip"
    overwrite = "overwrite"
    error = "error"


class Format(str, enum.Enum):
    png = "png"
    tiff = "tiff"
    tif = "tif"
    jpg = "jpg"
    jpeg = "jpeg"


# The development choices, named once where they are defined (colour_spaces, io.raw).
ColourSpace = enum.Enum("ColourSpace", {name: name for name in COLOUR_SPACES}, type=str)
Highlights = enum.Enum("Highlights", {name: name for name in HIGHLIGHT_MODES}, type=str)
Demosaic = enum.Enum("Demosaic", {name: name for name in DEMOSAIC_ALGORITHMS}, type=str)


class RawFormat(str, enum.Enum):
    auto = "auto"
    camera = "camera"
    zurich = "zurich"
    rawgan = "rawgan"


class CFA(str, enum.Enum):
    RGGB = "RGGB"
    BGGR = "BGGR"
    GRBG = "GRBG"
    GBRG = "GBRG"


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _device(value: str) -> str:
    if not _DEVICE.match(value):
        raise typer.BadParameter(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return value


def _tile(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 0):
        return value
    raise typer.BadParameter(f"{value!r} is not a tile size; use auto, a number of pixels, or 0")


def _wb(value: str) -> str:
    from rawcolour.camera_colour import parse_wb

    try:
        parse_wb(value)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    return value


def _bit_depth(value: int | None) -> int | None:
    if value not in (None, 8, 16):
        raise typer.BadParameter(f"{value} bits is not supported; use 8 or 16")
    return value


# Options both commands share, written once.
Inputs = Annotated[list[str], typer.Argument(
    help="Files, folders, glob patterns (quoted or not), or - to read paths from stdin (one per line, "
         "or NUL-separated as from find -print0).", show_default=False)]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", help="Folder for the outputs (created if missing), a file name (.png, .tif, .jpg) for a "
                           "single input, or - to write the one picture to stdout. Default: next to each input.",
    show_default=False)]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", help="Registry name (see rawcolour models list) or a .safetensors checkpoint file.",
    show_default=False)]
OverlapOpt = Annotated[int | None, typer.Option(
    min=0, help="Pixels of context on each side of a tile. Default: the model's.", show_default=False)]
DeviceOpt = Annotated[str, typer.Option(
    callback=_device, help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")]
PrecisionOpt = Annotated[Precision, typer.Option(
    help="Arithmetic on the device; fp16/bf16 fall back to fp32 if they give non-finite values.")]
RecursiveOpt = Annotated[bool, typer.Option(
    "--recursive", "-r", help="Walk subfolders too and mirror the tree under -o (loose files and stdin paths "
                              "keep their folders below their common parent).")]
SuffixOpt = Annotated[str | None, typer.Option(
    help="Added to each output's stem. Default: none when the output goes to another folder than its "
         "input, else _colour (colourise) or _rgb (raw2rgb).", show_default=False)]
OnExistOpt = Annotated[OnExist, typer.Option(
    "--on-exist", help="What to do when an output exists: skip it (resume a batch), overwrite it, or fail "
                       "that file.")]
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", help="Output format. Default: from the -o file name, else png.", show_default=False)]
BitDepthOpt = Annotated[int | None, typer.Option(
    "--bit-depth", callback=_bit_depth, help="8 or 16 bits per channel (JPEG: 8 only). Default: 16 for "
    "raw2rgb, the input's depth for colourise, 8 for JPEG.", show_default=False)]
QualityOpt = Annotated[int | None, typer.Option(
    "--quality", min=1, max=100, help="JPEG quality, 1 to 100 (JPEG output only). Default: 95.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="One JSON record per input on stdout (input, output, status ok|skipped|failed, error, model, "
                   "model_sha256, tile, seconds, notes), then a summary record.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bar, warnings or summary on stderr; failures are still printed.")]
MaxPixelsOpt = Annotated[int, typer.Option(
    "--max-pixels", min=1, help="Refuse inputs with more pixels than this (decompression-bomb guard).")]
StripOpt = Annotated[bool, typer.Option(
    "--strip-metadata", help="Leave out the input's EXIF (camera, lens, date and time, GPS, ...) and ICC profile. "
                             "rawcolour's provenance (version, model, model SHA-256) stays.")]
RawStripOpt = Annotated[bool, typer.Option(
    "--strip-metadata", help="Leave out the camera's EXIF: make, model, lens, exposure, date and time, GPS. The "
                             "output's colour profile and rawcolour's provenance (version, model, model SHA-256, "
                             "development options) stay.")]


@app.command(epilog=EPILOG.format(suffix="_colour"), no_args_is_help=True)
def colourise(
    inputs: Inputs,
    output: OutputOpt = None,
    model: ModelOpt = None,
    render_size: Annotated[int | None, typer.Option(
        min=16, help="Short side the colour is predicted at (then merged with the full-resolution "
                     "luminance). Default: the model's (256).", show_default=False)] = None,
    tile: Annotated[str, typer.Option(
        callback=_tile, help="0: predict the colour at --render-size from the whole picture (best colours; "
                             "auto means the same); N: predict at native resolution in tiles of N pixels.")] = "0",
    overlap: OverlapOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    recursive: RecursiveOpt = False,
    suffix: SuffixOpt = None,
    on_exist: OnExistOpt = OnExist.skip,
    fmt: FormatOpt = None,
    bit_depth: BitDepthOpt = None,
    quality: QualityOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    max_pixels: MaxPixelsOpt = images.DEFAULT_MAX_PIXELS,
    strip_metadata: StripOpt = False,
) -> None:
    """Colourise greyscale pictures (L in, ab out) with a colourisation GAN. Default model: colorgan-tiny."""
    options = _inference(device, precision, tile, overlap)
    options["render_size"] = render_size
    _convert("colourise", inputs, output=output, model=model, options=options,
             load=batch.LoadSettings(max_pixels=max_pixels), recursive=recursive, suffix=suffix,
             on_exist=on_exist.value, fmt=fmt.value if fmt else None, bit_depth=bit_depth, quality=quality,
             as_json=as_json, quiet=quiet, strip_metadata=strip_metadata)


@app.command(epilog=EPILOG.format(suffix="_rgb"), no_args_is_help=True)
def raw2rgb(
    inputs: Inputs,
    output: OutputOpt = None,
    model: ModelOpt = None,
    tile: Annotated[str, typer.Option(
        callback=_tile, help="Tile side in packed (network-input) pixels: auto picks the largest that fits "
                             "memory; 0 runs the whole picture at once.")] = "auto",
    overlap: OverlapOpt = None,
    tile_stats: Annotated[TileStats, typer.Option(
        "--tile-stats", help="Instance-norm statistics for tiles: auto (a reduced whole-picture pass) or exact "
                             "(pooled over all tiles; the untiled colours at any tile size, about 5x slower).")
    ] = TileStats.auto,
    raw_format: Annotated[RawFormat, typer.Option(
        "--raw-format", help="camera: a camera RAW file (LibRaw); zurich: 1-channel 16-bit Bayer PNG; rawgan: "
                             "4-channel 8-bit packed PNG; auto: by extension and PNG layout.")] = RawFormat.auto,
    cfa: Annotated[CFA, typer.Option(help="Bayer pattern of zurich PNGs (camera files say their own).")] = CFA.RGGB,
    black: Annotated[float, typer.Option(min=0, help="Black level of zurich PNGs.")] = 0.0,
    white: Annotated[float, typer.Option(min=1, help="White level of zurich PNGs (4*255 for the Zurich "
                                                      "dataset).")] = 1020.0,
    wb: Annotated[str, typer.Option(
        "--wb", callback=_wb, help="White balance: camera (as shot; auto when the file has none), auto (grey world), "
                     "daylight, or gains R,G,B.")] = "camera",
    exposure: Annotated[float, typer.Option(
        "--exposure", min=EXPOSURE_RANGE[0], max=EXPOSURE_RANGE[1],
        help="Exposure in EV, on top of the automatic brightness.")] = 0.0,
    colour_space: Annotated[ColourSpace, typer.Option(
        "--colour-space", help="Output primaries and curve; its ICC profile is embedded. adobe-rgb: Adobe RGB "
                               "(1998); prophoto: ROMM RGB, D50; linear-srgb: 16-bit only.")] = ColourSpace("srgb"),
    highlights: Annotated[Highlights, typer.Option(
        "--highlights", help="clip: blown highlights white (every developer); blend, reconstruct: LibRaw's, "
                             "keeping some colour (--model classic).")] = Highlights("clip"),
    demosaic: Annotated[Demosaic | None, typer.Option(
        "--demosaic", help=f"LibRaw's algorithm (--model classic). Default: {DEFAULT_DEMOSAIC}.",
        show_default=False)] = None,
    half: Annotated[bool, typer.Option(
        "--half", help="Half the size each way: a fast preview for culling a card.")] = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    recursive: RecursiveOpt = False,
    suffix: SuffixOpt = None,
    on_exist: OnExistOpt = OnExist.skip,
    fmt: FormatOpt = None,
    bit_depth: BitDepthOpt = None,
    quality: QualityOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    max_pixels: MaxPixelsOpt = images.DEFAULT_MAX_PIXELS,
    strip_metadata: RawStripOpt = False,
) -> None:
    """Develop camera RAW files (and packed RAW PNGs) to RGB pictures. Default model: sgan-tiny."""
    if white <= black:
        raise typer.BadParameter(f"--white {white:g} must be above --black {black:g}")
    options = _inference(device, precision, tile, overlap) | {
        "tile_stats": tile_stats.value, "wb": wb, "exposure": exposure, "colour_space": colour_space.value,
        "highlights": highlights.value, "demosaic": demosaic.value if demosaic else None, "half": half}
    load = batch.LoadSettings(max_pixels=max_pixels, raw_format=raw_format.value, cfa=cfa.value,
                              black=black, white=white)
    _convert("raw2rgb", inputs, output=output, model=model, options=options, load=load, recursive=recursive,
             suffix=suffix, on_exist=on_exist.value, fmt=fmt.value if fmt else None, bit_depth=bit_depth,
             quality=quality, as_json=as_json, quiet=quiet, strip_metadata=strip_metadata)


def _inference(device: str, precision: Precision, tile: str, overlap: int | None) -> dict[str, Any]:
    return {"device": device, "precision": precision.value, "tile": tile if tile == "auto" else int(tile),
            "overlap": overlap}


# ------------------------------------------------------------------------------------------ running


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM, or stdout closed by its reader: stop cleanly (temporary files are removed)."""

    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code, self.why = code, why


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise _Interrupted(EXIT_TERMINATED, "terminated")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. a test runner)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Rate(ProgressColumn):
    """Pictures per second over the whole run (a per-file rate jumps too much to read)."""

    def render(self, task: Any) -> Text:
        elapsed = task.elapsed or 0.0
        if not task.completed or elapsed <= 0:
            return Text("-- pic/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.2f} pic/s", style="progress.data.speed")


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}", table_column=Column(width=32, no_wrap=True)),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
        console=err_console,
        redirect_stdout=False,  # stdout carries --json records / the picture, never the progress
        redirect_stderr=False,
        transient=True,
    )


def _warn(text: str, quiet: bool) -> None:
    if not quiet:
        err_console.print(f"rawcolour: warning: {text}", markup=False)


def _summary_line(task: str, s: batch.Summary, total_seconds: float, kinds: list[str]) -> str:
    parts = [f"{s.ok} converted"]
    if s.skipped:
        parts.append(f"{s.skipped} skipped (output exists; --on-exist overwrite to redo)")
    if s.failed:
        parts.append(f"{s.failed} failed")
    if s.unsupported:
        parts.append(f"{s.unsupported} file{'s' if s.unsupported != 1 else ''} not read by {task} passed over "
                     f"({', '.join(kinds)})")
    if s.ignored:
        parts.append(f"{s.ignored} earlier rawcolour output{'s' if s.ignored != 1 else ''} ignored")
    rate = f", {s.ok / total_seconds:.2f} pictures/s" if s.ok and total_seconds > 0 else ""
    return f"rawcolour: {', '.join(parts)} in {total_seconds:.1f} s{rate}"


def _convert(task: str, inputs: list[str], *, output: str | None, model: str | None, options: dict[str, Any],
             load: batch.LoadSettings, recursive: bool, suffix: str | None, on_exist: str, fmt: str | None,
             bit_depth: int | None, quality: int | None, as_json: bool, quiet: bool, strip_metadata: bool) -> None:
    """Run batch.run_batch, printing its records, progress, warnings and summary."""
    start = time.perf_counter()
    summary = batch.Summary()
    emit_json = as_json
    done = 0
    progress: Progress | None = None
    bar: Any = None
    try:
        with library_errors(), _sigterm_as_interrupt(), contextlib.ExitStack() as shown, warnings.catch_warnings():
            # Library warnings and log records never reach the terminal raw: while converting, each
            # file's become a note in its record (BatchRunner); anywhere else they are dropped.
            warnings.simplefilter("ignore")
            _library_logs_off()
            ranks = distributed.Ranks.from_env()
            if as_json and output == "-":
                raise UsageError("--json and -o - both want stdout", hint="write the picture to a file with -o FILE")
            if output == "-" and sys.stdout.isatty() and ranks.world == 1:
                raise UsageError("refusing to write a picture to the terminal",
                                 hint="redirect stdout (> out.png) or pipe it to another program")
            stdin_paths: list[str] = []
            if "-" in inputs and ranks.world == 1:
                stream = getattr(sys.stdin, "buffer", sys.stdin)
                stdin_paths = batch.read_path_list(stream.read())

            def on_collected(collection: batch.Collection) -> None:
                for path in collection.unsupported_named:
                    _warn(f"{display_path(path)}: not a file {task} reads ({batch.describe_inputs(task)}); passed over", quiet)

            def on_planned(mine: Any) -> None:
                nonlocal progress, bar
                show = (not quiet and err_console.is_terminal and ranks.rank == 0
                        and not (as_json and sys.stdout.isatty()))
                progress = _progress(show)
                if progress is not None:
                    bar = progress.add_task("starting", total=len(mine))
                    shown.enter_context(progress)

            def on_start(job: batch.Job) -> None:
                if progress is not None:
                    progress.update(bar, description=escape(_short(job.input.name)))

            def on_record(record: batch.Record) -> None:
                nonlocal done, emit_json
                done += 1
                if record.status == "failed":
                    err_console.print(error_line(record.error), markup=False)
                if progress is not None:
                    progress.advance(bar)
                if emit_json:
                    try:
                        print_json(record.to_json())
                    except BrokenPipeError:
                        emit_json = False
                        silence_stdout()
                        raise _Interrupted(EXIT_BROKEN_PIPE, "stdout was closed") from None

            try:
                batch.run_batch(
                    task, inputs, output=output, model=model, options=options, load=load, recursive=recursive,
                    suffix=suffix, on_exist=on_exist, fmt=fmt, bit_depth=bit_depth, quality=quality,
                    strip_metadata=strip_metadata,
                    stdin_paths=stdin_paths, stdout=sys.stdout.buffer if output == "-" else None, ranks=ranks,
                    summary=summary, on_collected=on_collected, on_planned=on_planned, on_start=on_start,
                    on_record=on_record)
            except RawcolourError as err:
                if emit_json:  # a pipeline always gets its summary record, here with the error
                    summary.seconds = time.perf_counter() - start
                    _json_summary(summary, error=str(err))
                raise
            shown.close()  # the progress bar goes before the summary is printed
            summary.seconds = time.perf_counter() - start
            if ranks.rank == 0:
                _print_summary(task, summary, emit_json, quiet)
    except KeyboardInterrupt as exc:
        code = exc.code if isinstance(exc, _Interrupted) else EXIT_INTERRUPTED
        why = exc.why if isinstance(exc, _Interrupted) else "interrupted"
        if code != EXIT_BROKEN_PIPE:
            err_console.print(f"rawcolour: {why} after {done} of {summary.planned} files; no partial file was left",
                              markup=False)
        if emit_json:  # this rank's counts so far
            summary.interrupted, summary.seconds = True, time.perf_counter() - start
            _json_summary(summary)
        raise typer.Exit(code) from None
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)


def _print_summary(task: str, summary: batch.Summary, emit_json: bool, quiet: bool) -> None:
    if emit_json:
        record = summary.to_json()
        record["total"] = summary.ok + summary.failed + summary.skipped
        if summary.world > 1:
            record["ranks"] = summary.world
        print_json(record)
    if not quiet:
        err_console.print(_summary_line(task, summary, summary.seconds, summary.unsupported_kinds), markup=False)


def _json_summary(summary: batch.Summary, **extra: Any) -> None:
    """The summary record after the batch stopped early: this rank's counts so far, and why."""
    record = summary.to_json()
    record["total"] = summary.ok + summary.failed + summary.skipped
    record.update(extra)
    with contextlib.suppress(BrokenPipeError, RawcolourError):
        print_json(record)


def _library_logs_off() -> None:
    """Library log records (tifffile's on a broken tag, ...) never reach the terminal: without a
    handler of their own, Python's last-resort handler would print them on stderr. While converting,
    BatchRunner keeps each file's as a note of its record."""
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
