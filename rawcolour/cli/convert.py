"""`rawcolour colourise` and `rawcolour raw2rgb`: convert many pictures with a model.

Parsing and printing only; collecting inputs, naming outputs, converting and writing live in
rawcolour.batch (run_batch). stdout carries nothing but the --json records or, with `-o -`, the picture;
progress, warnings, failures and the summary go to stderr.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from rawcolour import distributed
from rawcolour import batch
from rawcolour.batch.plan import DEFAULT_QUALITY
from rawcolour.io import images
from rawcolour.cli.common import (
    CFA,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PACKED_PNGS,
    TILES,
    BlackOpt,
    CfaOpt,
    DeviceOpt,
    OverlapOpt,
    Precision,
    PrecisionOpt,
    QuietOpt,
    RenderSizeOpt,
    TileOpt,
    TileStats,
    WhiteOpt,
    err_console,
    error_line,
    library_errors,
    print_json,
    silence_stdout,
)
from rawcolour.cli.help import Command, Example, with_examples
from rawcolour.colour_spaces import COLOUR_SPACES
from rawcolour.inference.options import InferenceOptions
from rawcolour.errors import RawcolourError, UsageError, display_path
from rawcolour.io.raw import DEFAULT_DEMOSAIC, DEMOSAIC_ALGORITHMS, EXPOSURE_RANGE, HIGHLIGHT_MODES
from rawcolour.tasks import get_task

app = typer.Typer()

EXIT_TERMINATED = 143  # SIGTERM
EXIT_BROKEN_PIPE = 141  # SIGPIPE: the reader of stdout went away

NOTES = (
    "Outputs are named STEM+SUFFIX.png|.tif|.jpg: next to each input with the suffix {suffix}, or in the "
    "-o folder without one. An input is never overwritten; two inputs that would write the same file "
    "stop the command before any work.\n\n"
    "An existing output is skipped (--on-exist skip) when it records the same model (by SHA-256) and "
    "the same settings that change pixels, so running a command again only does what is missing; an "
    "output made by another model or with other settings fails with one line instead.\n\n"
    "Exit codes: 0 every input converted or skipped; 1 some input failed (each named on stderr) or the "
    "model could not be loaded; 2 usage error; 130 interrupted (Ctrl-C), leaving no partial file."
)

RAW2RGB_EXAMPLES: list[Example] = [
    ("rawcolour raw2rgb IMG_0001.CR2", "IMG_0001_rgb.png beside it, 16 bits per channel"),
    ("rawcolour raw2rgb /media/card/DCIM -o developed/ --recursive",
     "a whole card; developed/ mirrors its folders; run it again to resume"),
    ("rawcolour raw2rgb shoot/ -o out/ -m classic -f tiff --colour-space adobe-rgb",
     "LibRaw's rendering instead, as Adobe RGB TIFFs"),
    ("rawcolour raw2rgb shoot/ -o bright/ --wb daylight --exposure 0.7", "fixed white balance, brighter"),
    ("find shoot -name '*.dng' | rawcolour raw2rgb - -o developed/",
     "paths from another program (find -print0 works too)"),
    ("rawcolour raw2rgb shoot/ -o out/ --json -q | jq -r 'select(.error) | .error'",
     "only what failed, one line each"),
]
COLOURISE_EXAMPLES: list[Example] = [
    ("rawcolour colourise scan.jpg", "scan_colour.png beside it"),
    ("rawcolour colourise scans/ -o coloured/ --only-grey", "a folder, passing over pictures already in colour"),
    ("rawcolour colourise grandma.tif -o grandma-colour.jpg", "one file, one name (8-bit JPEG)"),
    ("rawcolour colourise scan.png -o - | convert - -resize 50% small.jpg", "the picture through a pipe"),
    ("rawcolour colourise scans/ -o coloured/ --model runs/c1/last.safetensors", "your own trained model"),
]


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


DEVELOPMENT = "Development"

# Options both commands share, written once.
Inputs = Annotated[list[str], typer.Argument(
    metavar="INPUT", help="Files, folders, glob patterns (quoted or not), or - to read paths from stdin (one per "
                          "line, or NUL-separated as from find -print0).", show_default=False)]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", metavar="DIR|FILE|-", show_default=False,
    help="Folder for the outputs (created if missing), a file name (.png, .tif, .jpg) for a single input, or - "
         "to write the one picture to stdout. Default: next to each input.")]
RecursiveOpt = Annotated[bool, typer.Option(
    "--recursive", "-r", help="Walk subfolders too and mirror the tree under -o (loose files and stdin paths "
                              "keep their folders below their common parent).")]
SuffixOpt = Annotated[str | None, typer.Option(
    "--suffix", metavar="TEXT", show_default=False,
    help="Added to each output's stem. Default: none when the output goes to another folder than its input, "
         "else _colour (colourise) or _rgb (raw2rgb).")]
OnExistOpt = Annotated[OnExist, typer.Option(
    "--on-exist", help="When an output exists: skip it if it records the same model and settings (resume a "
                       "batch), overwrite it, or fail that file.")]
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", show_default=False, help="Output format. Default: from the -o file name, else png.")]
BitDepthOpt = Annotated[int | None, typer.Option(
    "--bit-depth", metavar="8|16", callback=_bit_depth, show_default=False,
    help="Bits per channel (JPEG: 8 only). Default: 16 for raw2rgb, the input's depth for colourise, 8 for JPEG.")]
QualityOpt = Annotated[int | None, typer.Option(
    "--quality", metavar="1-100", min=1, max=100, show_default=False,
    help=f"JPEG quality, 1 to 100 (JPEG output only). Default: {DEFAULT_QUALITY}.")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="One JSON record per input on stdout (input, output, status ok|skipped|failed, error, model, "
                   "model_sha256, tile, seconds, notes, ...), then a summary record.")]
MaxPixelsOpt = Annotated[int, typer.Option(
    "--max-pixels", metavar="N", min=1, rich_help_panel=TILES,
    help="Refuse inputs with more pixels than this (a decompression-bomb guard).")]
StripOpt = Annotated[bool, typer.Option(
    "--strip-metadata", help="Do not copy the input's EXIF (camera, lens, date and time, GPS, ...) and ICC profile "
                             "into the output; rawcolour's provenance (version, model, model SHA-256, settings) "
                             "is still written.")]
RawStripOpt = Annotated[bool, typer.Option(
    "--strip-metadata", help="Do not copy the camera's EXIF (make, model, lens, exposure, date and time, GPS) into "
                             "the output; its colour profile and rawcolour's provenance (version, model, model "
                             "SHA-256, settings) are still written.")]


def _model_opt(task: str) -> Any:
    return Annotated[str | None, typer.Option(
        "--model", "-m", metavar="NAME|FILE", show_default=False,
        help=f"Registry name (rawcolour models list) or a .safetensors checkpoint. Default: "
             f"{get_task(task).default_model}.")]


ColouriseModelOpt, Raw2rgbModelOpt = _model_opt("colourise"), _model_opt("raw2rgb")


@app.command(cls=with_examples(Command, COLOURISE_EXAMPLES), epilog=NOTES.format(suffix="_colour"),
             help="Colourise greyscale pictures with a colourisation GAN: the picture's lightness is kept, "
                  f"its colour predicted. Default model: {get_task('colourise').default_model}.")
def colourise(
    inputs: Inputs,
    output: OutputOpt = None,
    model: ColouriseModelOpt = None,
    only_grey: Annotated[bool, typer.Option(
        "--only-grey", help="Pass over pictures that already have colour (counted as skipped) instead of "
                            "replacing their colours.")] = False,
    recursive: RecursiveOpt = False,
    suffix: SuffixOpt = None,
    on_exist: OnExistOpt = OnExist.skip,
    fmt: FormatOpt = None,
    bit_depth: BitDepthOpt = None,
    quality: QualityOpt = None,
    strip_metadata: StripOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    render_size: RenderSizeOpt = None,
    tile: TileOpt = "auto",
    overlap: OverlapOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    max_pixels: MaxPixelsOpt = images.DEFAULT_MAX_PIXELS,
) -> None:
    options = _options(device=device, precision=precision.value, tile=tile, overlap=overlap, render_size=render_size)
    _convert("colourise", inputs, options, batch.LoadSettings(max_pixels=max_pixels),
             _Asked(output, model, recursive, suffix, on_exist, fmt, bit_depth, quality, strip_metadata, as_json,
                    quiet, only_grey))


@app.command(cls=with_examples(Command, RAW2RGB_EXAMPLES), epilog=NOTES.format(suffix="_rgb"),
             help="Develop camera RAW files (DNG, CR2, NEF, ARW, ...) and packed RAW PNGs to RGB pictures. "
                  f"Default model: {get_task('raw2rgb').default_model}.")
def raw2rgb(
    inputs: Inputs,
    output: OutputOpt = None,
    model: Raw2rgbModelOpt = None,
    recursive: RecursiveOpt = False,
    suffix: SuffixOpt = None,
    on_exist: OnExistOpt = OnExist.skip,
    fmt: FormatOpt = None,
    bit_depth: BitDepthOpt = None,
    quality: QualityOpt = None,
    strip_metadata: RawStripOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    wb: Annotated[str, typer.Option(
        "--wb", metavar="camera|auto|daylight|R,G,B", callback=_wb, rich_help_panel=DEVELOPMENT,
        help="White balance: camera (as shot; auto when the file has none), auto (grey world), daylight, or "
             "gains R,G,B.")] = "camera",
    exposure: Annotated[float, typer.Option(
        "--exposure", metavar="EV", min=EXPOSURE_RANGE[0], max=EXPOSURE_RANGE[1], rich_help_panel=DEVELOPMENT,
        help=f"Exposure in EV ({EXPOSURE_RANGE[0]:g} to +{EXPOSURE_RANGE[1]:g}), on top of the automatic "
             "brightness.")] = 0.0,
    colour_space: Annotated[ColourSpace, typer.Option(
        "--colour-space", metavar="|".join(COLOUR_SPACES), rich_help_panel=DEVELOPMENT,
        help="Output primaries and curve; its ICC profile is embedded. adobe-rgb: Adobe RGB (1998); prophoto: "
             "ROMM RGB, D50; linear-srgb: 16-bit only.")] = ColourSpace("srgb"),
    highlights: Annotated[Highlights, typer.Option(
        "--highlights", metavar="|".join(HIGHLIGHT_MODES), rich_help_panel=DEVELOPMENT,
        help="clip: blown highlights white (every developer); blend, reconstruct: LibRaw's, keeping some colour "
             "(--model classic).")] = Highlights("clip"),
    demosaic: Annotated[Demosaic | None, typer.Option(
        "--demosaic", metavar="|".join(DEMOSAIC_ALGORITHMS), rich_help_panel=DEVELOPMENT, show_default=False,
        help=f"LibRaw's demosaicing algorithm (--model classic). Default: {DEFAULT_DEMOSAIC}.")] = None,
    half: Annotated[bool, typer.Option(
        "--half", rich_help_panel=DEVELOPMENT,
        help="Half the size each way: a fast preview for culling a card.")] = False,
    tile: TileOpt = "auto",
    overlap: OverlapOpt = None,
    tile_stats: Annotated[TileStats, typer.Option(
        "--tile-stats", rich_help_panel=TILES,
        help="Instance-norm statistics of tiles: auto (from a reduced whole-picture pass) or exact (pooled "
             "over all tiles: the untiled colours at any tile size, about 5x slower).")] = TileStats.auto,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    max_pixels: MaxPixelsOpt = images.DEFAULT_MAX_PIXELS,
    raw_format: Annotated[RawFormat, typer.Option(
        "--raw-format", rich_help_panel=PACKED_PNGS,
        help="camera: a camera RAW file (LibRaw); zurich: 1-channel 16-bit Bayer PNG; rawgan: 4-channel 8-bit "
             "packed PNG; auto: by extension and PNG layout.")] = RawFormat.auto,
    cfa: CfaOpt = CFA.RGGB,
    black: BlackOpt = 0.0,
    white: WhiteOpt = 1020.0,
) -> None:
    if white <= black:
        raise typer.BadParameter(f"--white {white:g} must be above --black {black:g}")
    options = _options(device=device, precision=precision.value, tile=tile, overlap=overlap,
                       tile_stats=tile_stats.value, wb=wb, exposure=exposure, colour_space=colour_space.value,
                       highlights=highlights.value, demosaic=demosaic.value if demosaic else None, half=half)
    load = batch.LoadSettings(max_pixels=max_pixels, raw_format=raw_format.value, cfa=cfa.value, black=black,
                              white=white)
    _convert("raw2rgb", inputs, options, load, _Asked(output, model, recursive, suffix, on_exist, fmt, bit_depth,
                                                       quality, strip_metadata, as_json, quiet))


def _options(**given: Any) -> InferenceOptions:
    """The inference options as the command line gives them (--tile's text is read by InferenceOptions)."""
    with library_errors():
        return InferenceOptions(**given)


@dataclass(frozen=True)
class _Asked:
    """The options both commands share, as given: where outputs go and how the run is reported."""

    output: str | None
    model: str | None
    recursive: bool
    suffix: str | None
    on_exist: OnExist
    fmt: Format | None
    bit_depth: int | None
    quality: int | None
    strip_metadata: bool
    as_json: bool
    quiet: bool
    only_grey: bool = False

    def plan(self) -> batch.OutputPlan:
        return batch.OutputPlan(target=self.output, fmt=self.fmt.value if self.fmt else None,
                                bit_depth=self.bit_depth, suffix=self.suffix, recursive=self.recursive,
                                quality=self.quality)


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
    """Files done / total, the current file and what is happening to it (loading the model,
    decoding, tile k of n, encoding), pictures per second and the time left. The bar and the time
    left move within a file as its tiles are done."""
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}", table_column=Column(width=24, no_wrap=True)),
        TextColumn("{task.fields[stage]}", style="progress.description",
                   table_column=Column(width=13, no_wrap=True)),
        BarColumn(bar_width=None),
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


def _summary_line(task: str, s: batch.Summary, total_seconds: float, kinds: list[str], only_grey: bool = False) -> str:
    parts = [f"{s.ok} converted"]
    passed_colour = s.in_colour if only_grey else 0  # --only-grey passes every picture in colour over
    if s.skipped - passed_colour:
        parts.append(f"{s.skipped - passed_colour} skipped (output exists, same model and settings; "
                     "--on-exist overwrite to redo)")
    if passed_colour:
        parts.append(f"{passed_colour} skipped (already in colour)")
    if s.failed:
        other = (f": {s.mismatched} output{'s' if s.mismatched != 1 else ''} made by another model or with other "
                 "settings (--on-exist overwrite, or another -o)") if s.mismatched else ""
        parts.append(f"{s.failed} failed{other}")
    if s.in_colour and not only_grey:
        parts.append(f"{s.in_colour} input{'s were' if s.in_colour != 1 else ' was'} already in colour: "
                     "colours replaced (--only-grey passes them over)")
    if s.unsupported:
        parts.append(f"{s.unsupported} file{'s' if s.unsupported != 1 else ''} not read by {task} passed over "
                     f"({', '.join(kinds)})")
    if s.ignored:
        parts.append(f"{s.ignored} earlier rawcolour output{'s' if s.ignored != 1 else ''} ignored")
    rate = f", {s.ok / total_seconds:.2f} pictures/s" if s.ok and total_seconds > 0 else ""
    return f"rawcolour: {', '.join(parts)} in {total_seconds:.1f} s{rate}"


class _Display(batch.BatchEvents):
    """What the terminal and stdout show of a batch: a warning for each input passed over, the
    progress bar (rank 0, on a terminal), a --json line per file."""

    def __init__(self, task: str, asked: _Asked) -> None:
        self.task, self.asked = task, asked
        self.emit_json = asked.as_json
        self.done = 0  # files recorded
        self.ranks = distributed.Ranks()
        self.shown: contextlib.ExitStack | None = None  # what closes the progress bar
        self.bar: Progress | None = None
        self.row: Any = None  # the bar's task

    def collected(self, collection: batch.Collection) -> None:
        for path in collection.unsupported_named:
            _warn(f"{display_path(path)}: not a file {self.task} reads ({batch.describe_inputs(self.task)}); "
                  "passed over", self.asked.quiet)

    def planned(self, jobs: Any) -> None:
        show = (not self.asked.quiet and err_console.is_terminal and self.ranks.rank == 0
                and not (self.asked.as_json and sys.stdout.isatty()))
        self.bar = _progress(show)
        if self.bar is not None and self.shown is not None:
            self.row = self.bar.add_task("starting", total=len(jobs), stage="")
            self.shown.enter_context(self.bar)

    def started(self, job: batch.Job) -> None:
        if self.bar is not None:
            self.bar.update(self.row, description=escape(_short(job.input.name)), stage="")

    def progress(self, stage: str, share: float) -> None:
        if self.bar is not None:  # within a file: the bar and the time left move with its tiles
            self.bar.update(self.row, completed=self.done + min(max(share, 0.0), 0.99), stage=escape(stage))
            if not stage.startswith("tile"):
                self.bar.refresh()  # a new step shows at once, however short (tiles: 10 times a second)

    def recorded(self, record: batch.Result) -> None:
        self.done += 1
        if record.status == "failed":
            err_console.print(error_line(record.error), markup=False)
        if self.bar is not None:
            self.bar.update(self.row, completed=self.done, stage="")
        if self.emit_json:
            try:
                print_json(record.to_json())
            except BrokenPipeError:
                self.emit_json = False
                silence_stdout()
                raise _Interrupted(EXIT_BROKEN_PIPE, "stdout was closed") from None


def _convert(task: str, inputs: list[str], options: InferenceOptions, load: batch.LoadSettings, asked: _Asked) -> None:
    """Run batch.run_batch, printing its records, progress, warnings and summary."""
    start = time.perf_counter()
    summary = batch.Summary()
    display = _Display(task, asked)
    try:
        with library_errors(), _sigterm_as_interrupt(), contextlib.ExitStack() as shown, warnings.catch_warnings():
            # Library warnings and log records never reach the terminal raw: while converting, each
            # file's become a note in its record (BatchRunner); anywhere else they are dropped.
            warnings.simplefilter("ignore")
            _library_logs_off()
            display.ranks, display.shown = distributed.Ranks.from_env(), shown
            stdin_paths = _stdin_paths(inputs, asked, display.ranks)
            try:
                batch.run_batch(task, inputs, options=options, plan=asked.plan(), model=asked.model, load=load,
                                on_exist=asked.on_exist.value, strip_metadata=asked.strip_metadata,
                                only_grey=asked.only_grey, stdin_paths=stdin_paths,
                                stdout=sys.stdout.buffer if asked.output == "-" else None, ranks=display.ranks,
                                summary=summary, events=display)
            except RawcolourError as err:
                if display.emit_json:  # a pipeline always gets its summary record, here with the error
                    summary.seconds = time.perf_counter() - start
                    _json_summary(summary, error=str(err))
                raise
            shown.close()  # the progress bar goes before the summary is printed
            summary.seconds = time.perf_counter() - start
            if display.ranks.rank == 0:
                _print_summary(task, summary, display.emit_json, asked.quiet, asked.only_grey)
    except KeyboardInterrupt as exc:
        raise _stopped(exc, summary, display, start) from None
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)


def _stdin_paths(inputs: list[str], asked: _Asked, ranks: distributed.Ranks) -> list[str]:
    """Refuse a picture on stdout that cannot go there; the paths piped in for ``-`` (when alone)."""
    if asked.as_json and asked.output == "-":
        raise UsageError("--json and -o - both want stdout", hint="write the picture to a file with -o FILE")
    if asked.output == "-" and sys.stdout.isatty() and ranks.world == 1:
        raise UsageError("refusing to write a picture to the terminal",
                         hint="redirect stdout (> out.png) or pipe it to another program")
    if "-" not in inputs or ranks.world != 1:
        return []
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    return batch.read_path_list(stream.read())


def _stopped(exc: KeyboardInterrupt, summary: batch.Summary, display: _Display, start: float) -> typer.Exit:
    """Ctrl-C, SIGTERM or a closed stdout: say so, and end --json with this rank's counts so far."""
    code = exc.code if isinstance(exc, _Interrupted) else EXIT_INTERRUPTED
    why = exc.why if isinstance(exc, _Interrupted) else "interrupted"
    if code != EXIT_BROKEN_PIPE:
        err_console.print(f"rawcolour: {why} after {display.done} of {summary.planned} files; no partial file was left",
                          markup=False)
    if display.emit_json:  # this rank's counts so far
        summary.interrupted, summary.seconds = True, time.perf_counter() - start
        _json_summary(summary)
    return typer.Exit(code)


def _print_summary(task: str, summary: batch.Summary, emit_json: bool, quiet: bool, only_grey: bool) -> None:
    if emit_json:
        record = summary.to_json()
        record["total"] = summary.ok + summary.failed + summary.skipped
        if summary.world > 1:
            record["ranks"] = summary.world
        print_json(record)
    if not quiet:
        err_console.print(_summary_line(task, summary, summary.seconds, summary.unsupported_kinds, only_grey),
                          markup=False)


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


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
