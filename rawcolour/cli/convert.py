"""`rawcolour colourise` and `rawcolour raw2rgb`: convert many pictures with a model.

Parsing only; collecting inputs, naming outputs, converting and writing live in rawcolour.batch
(run_batch), and what a running batch shows in rawcolour.cli.batch_view.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from rawcolour import distributed
from rawcolour import batch
from rawcolour.io import images
from rawcolour.cli.common import (
    CFA,
    EXIT_FAILED,
    EXIT_OK,
    PACKED_PNGS,
    TILES,
    Backend,
    BackendOpt,
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
    choice,
    library_errors,
    silence_stdout,
)
from rawcolour.cli.batch_view import (
    EXIT_BROKEN_PIPE,
    Display,
    json_summary,
    library_logs_off,
    print_summary,
    termination_as_interrupt,
    stopped,
)
from rawcolour.cli.help import Command, Example, with_examples
from rawcolour.colour_spaces import COLOUR_SPACES
from rawcolour.inference.inputs import RAW_FORMATS
from rawcolour.inference.options import InferenceOptions
from rawcolour.errors import RawcolourError, UsageError
from rawcolour.io.classic import DEFAULT_DEMOSAIC, DEMOSAIC_ALGORITHMS, EXPOSURE_RANGE, HIGHLIGHT_MODES
from rawcolour.io.packed_png import ZURICH_WHITE
from rawcolour.tasks import get_task

app = typer.Typer()

NOTES = (
    "Outputs are named STEM+SUFFIX.png|.tif|.jpg: next to each input with the suffix {suffix}, or in the "
    "-o folder without one. An input is never overwritten; two inputs that would write the same file "
    "stop the command before any work.\n\n"
    "An existing output is skipped (--on-exist skip) when it records the same input name, the same model "
    "(by SHA-256) and the same settings that change pixels, so running a command again only does what is "
    "missing; an output made from another input, by another model or with other settings fails with one line "
    "instead.\n\n"
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


# The choices, named once where they are defined (batch, io.images, colour_spaces, io.classic, inference).
OnExist = choice("OnExist", batch.ON_EXIST)
Format = choice("Format", list(images.FORMAT_NAMES))
ColourSpace = choice("ColourSpace", COLOUR_SPACES)
Highlights = choice("Highlights", HIGHLIGHT_MODES)
Demosaic = choice("Demosaic", DEMOSAIC_ALGORITHMS)
RawFormat = choice("RawFormat", RAW_FORMATS)

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
         f"else {get_task('colourise').suffix} (colourise) or {get_task('raw2rgb').suffix} (raw2rgb).")]
OnExistOpt = Annotated[OnExist, typer.Option(
    "--on-exist", help="When an output exists: skip it if it records the same model and settings (resume a "
                       "batch), overwrite it, or fail that file.")]
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", show_default=False, help="Output format. Default: from the -o file name, else png.")]
BitDepthOpt = Annotated[int | None, typer.Option(
    "--bit-depth", metavar="8|16", show_default=False,
    help=f"Bits per channel (JPEG: 8 only). Default: {get_task('raw2rgb').output_bit_depth} for raw2rgb, the input's "
         "depth for colourise, 8 for JPEG.")]
QualityOpt = Annotated[int | None, typer.Option(
    "--quality", metavar="1-100", min=1, max=100, show_default=False,
    help=f"JPEG quality, 1 to 100 (JPEG output only). Default: {images.DEFAULT_QUALITY}.")]
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
# colourise's own
OnlyGreyOpt = Annotated[bool, typer.Option(
    "--only-grey", help="Pass over pictures that already have colour (counted as skipped) instead of "
                        "replacing their colours.")]
# raw2rgb's own
WbOpt = Annotated[str, typer.Option(
    "--wb", metavar="camera|auto|daylight|R,G,B", rich_help_panel=DEVELOPMENT,
    help="White balance: camera (as shot; auto when the file has none), auto (grey world), daylight, or "
         "gains R,G,B.")]
ExposureOpt = Annotated[float, typer.Option(
    "--exposure", metavar="EV", rich_help_panel=DEVELOPMENT,  # range checked by InferenceOptions
    help=f"Exposure in EV ({EXPOSURE_RANGE[0]:g} to +{EXPOSURE_RANGE[1]:g}), on top of the automatic "
         "brightness.")]
ColourSpaceOpt = Annotated[ColourSpace, typer.Option(
    "--colour-space", metavar="|".join(COLOUR_SPACES), rich_help_panel=DEVELOPMENT,
    help="Output primaries and curve; its ICC profile is embedded. adobe-rgb: Adobe RGB (1998); prophoto: "
         "ROMM RGB, D50; linear-srgb: 16-bit only.")]
HighlightsOpt = Annotated[Highlights, typer.Option(
    "--highlights", metavar="|".join(HIGHLIGHT_MODES), rich_help_panel=DEVELOPMENT,
    help="clip: blown highlights white (every developer); blend, reconstruct: LibRaw's, keeping some colour "
         "(--model classic).")]
DemosaicOpt = Annotated[Demosaic | None, typer.Option(
    "--demosaic", metavar="|".join(DEMOSAIC_ALGORITHMS), rich_help_panel=DEVELOPMENT, show_default=False,
    help=f"LibRaw's demosaicing algorithm (--model classic). Default: {DEFAULT_DEMOSAIC}.")]
HalfOpt = Annotated[bool, typer.Option(
    "--half", rich_help_panel=DEVELOPMENT,
    help="Half the size each way: a fast preview for culling a card.")]
TileStatsOpt = Annotated[TileStats, typer.Option(
    "--tile-stats", rich_help_panel=TILES,
    help="Instance-norm statistics of tiles: auto (from a reduced whole-picture pass) or exact (pooled "
         "over all tiles: the untiled colours at any tile size, about 5x slower).")]
RawFormatOpt = Annotated[RawFormat, typer.Option(
    "--raw-format", rich_help_panel=PACKED_PNGS,
    help="camera: a camera RAW file (LibRaw); zurich: 1-channel 16-bit Bayer PNG; rawgan: 4-channel 8-bit "
         "packed PNG; auto: by extension and PNG layout.")]


def _model_opt(task: str) -> Any:
    return Annotated[str | None, typer.Option(
        "--model", "-m", metavar="NAME|FILE", show_default=False,
        help=f"Registry name (rawcolour models list) or a .safetensors checkpoint. Default: "
             f"{get_task(task).default_model}.")]


ColouriseModelOpt, Raw2rgbModelOpt = _model_opt("colourise"), _model_opt("raw2rgb")


@app.command(cls=with_examples(Command, COLOURISE_EXAMPLES), epilog=NOTES.format(suffix=get_task("colourise").suffix),
             help="Colourise greyscale pictures with a colourisation GAN: the picture's lightness is kept, "
                  f"its colour predicted. Default model: {get_task('colourise').default_model}.")
def colourise(
    inputs: Inputs,
    output: OutputOpt = None,
    model: ColouriseModelOpt = None,
    only_grey: OnlyGreyOpt = False,
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
    backend: BackendOpt = Backend.auto,
    max_pixels: MaxPixelsOpt = images.DEFAULT_MAX_PIXELS,
) -> None:
    options = _options(device=device, precision=precision.value, backend=backend.value, tile=tile, overlap=overlap,
                       render_size=render_size)
    _convert("colourise", inputs, options, batch.LoadSettings(max_pixels=max_pixels),
             _Asked(output, model, recursive, suffix, on_exist, fmt, bit_depth, quality, strip_metadata, as_json,
                    quiet, only_grey))


@app.command(cls=with_examples(Command, RAW2RGB_EXAMPLES), epilog=NOTES.format(suffix=get_task("raw2rgb").suffix),
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
    wb: WbOpt = "camera",
    exposure: ExposureOpt = 0.0,
    colour_space: ColourSpaceOpt = ColourSpace("srgb"),
    highlights: HighlightsOpt = Highlights("clip"),
    demosaic: DemosaicOpt = None,
    half: HalfOpt = False,
    tile: TileOpt = "auto",
    overlap: OverlapOpt = None,
    tile_stats: TileStatsOpt = TileStats.auto,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    backend: BackendOpt = Backend.auto,
    max_pixels: MaxPixelsOpt = images.DEFAULT_MAX_PIXELS,
    raw_format: RawFormatOpt = RawFormat.auto,
    cfa: CfaOpt = CFA.RGGB,
    black: BlackOpt = 0.0,
    white: WhiteOpt = ZURICH_WHITE,
) -> None:
    options = _options(device=device, precision=precision.value, backend=backend.value, tile=tile, overlap=overlap,
                       tile_stats=tile_stats.value, wb=wb, exposure=exposure, colour_space=colour_space.value,
                       highlights=highlights.value, demosaic=demosaic.value if demosaic else None, half=half)
    with library_errors():  # before any file is read
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


def _convert(task: str, inputs: list[str], options: InferenceOptions, load: batch.LoadSettings, asked: _Asked) -> None:
    """Run batch.run_batch, printing its records, progress, warnings and summary."""
    start = time.perf_counter()
    summary = batch.Summary()
    display = Display(task, as_json=asked.as_json, quiet=asked.quiet)
    try:
        with library_errors(), termination_as_interrupt(), contextlib.ExitStack() as shown, warnings.catch_warnings():
            # Library warnings and log records never reach the terminal raw: while converting, each
            # file's become a note in its record (BatchRunner); anywhere else they are dropped.
            warnings.simplefilter("ignore")
            library_logs_off()
            display.ranks, display.shown = distributed.Ranks.from_env(), shown
            plan = asked.plan()  # its checks come before any input is read
            stdin_paths = _stdin_paths(inputs, asked, display.ranks)
            try:
                batch.run_batch(task, inputs, options=options, plan=plan, model=asked.model, load=load,
                                on_exist=asked.on_exist.value, strip_metadata=asked.strip_metadata,
                                only_grey=asked.only_grey, stdin_paths=stdin_paths,
                                stdout=sys.stdout.buffer if asked.output == "-" else None, ranks=display.ranks,
                                summary=summary, events=display)
            except RawcolourError as err:
                if display.emit_json:  # a pipeline always gets its summary record, here with the error
                    summary.seconds = time.perf_counter() - start
                    json_summary(summary, error=str(err))
                raise
            shown.close()  # the progress bar goes before the summary is printed
            summary.seconds = time.perf_counter() - start
            if display.ranks.rank == 0:
                print_summary(task, summary, display.emit_json, asked.quiet, asked.only_grey)
    except KeyboardInterrupt as exc:
        raise stopped(exc, summary, display, start) from None
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)


def _stdin_paths(inputs: list[str], asked: _Asked, ranks: distributed.Ranks) -> list[str]:
    """Refuse a picture on stdout that cannot go there; the paths piped in for ``-`` (when alone)."""
    if asked.as_json and asked.output == "-":
        raise UsageError("--json and -o - both want stdout", hint="write the picture to a file with -o FILE")
    if (asked.as_json or asked.output == "-") and sys.stdout is None:  # started with stdout closed (>&-)
        raise UsageError("stdout is closed", hint="give the command a stdout, or drop --json / -o -")
    if asked.output == "-" and sys.stdout.isatty() and ranks.world == 1:
        raise UsageError("refusing to write a picture to the terminal",
                         hint="redirect stdout (> out.png) or pipe it to another program")
    if "-" not in inputs or ranks.world != 1:
        return []
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    return batch.read_path_list(stream.read())


