"""`rawcolour eval colourise|raw2rgb`: the papers' metrics for one or more models, side by side.

Only parses options and prints; the work is rawcolour.eval.evaluation (and rawcolour.eval.report).
The table goes to stdout (or JSON with --json, CSV with --csv), progress and messages to stderr.
"""

from __future__ import annotations

import csv
import io
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rawcolour.cli.common import Layout, Precision, EXIT_FAILED, err_console, library_errors, print_json
from rawcolour.errors import UsageError

app = typer.Typer()
eval_app = typer.Typer(
    name="eval",
    help="Evaluate models on a dataset: PSNR, SSIM and the papers' metrics, one table row per model.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


DataOpt = Annotated[Path, typer.Option("--data", exists=True, help="Folder of pictures (or paired RAW data).")]
ModelOpt = Annotated[list[str] | None, typer.Option(
    "--model", "-m", help="Registry name or checkpoint file; repeat for more rows.")]
NoBaselineOpt = Annotated[bool, typer.Option("--no-baseline", help="Leave out the baseline row (grey / classic).")]
LimitOpt = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Evaluate only the first N pictures (colourise: the first N colour photos).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of the table.")]
CsvOpt = Annotated[str | None, typer.Option(
    "--csv", help="Also write the rows as CSV to FILE ('-': to stdout, instead of the table).")]
ReportOpt = Annotated[Path | None, typer.Option(
    "--report", file_okay=False, help="Write an HTML report (index.html, images, plots) to DIR.")]
SamplesOpt = Annotated[int, typer.Option("--samples", min=0, help="Pictures shown in the report's grid.")]
RunOpt = Annotated[Path | None, typer.Option(
    "--run", exists=True, help="Training run folder: its log.jsonl becomes curves in the report.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
PrecisionOpt = Annotated[Precision, typer.Option(
    "--precision", help="fp32, fp16 or bf16 (fp32 retry on non-finite output).")]
AllowRandomOpt = Annotated[bool, typer.Option(
    "--allow-random", help="Evaluate a freshly initialised (seeded) network for a model without weights "
                           "(smoke tests; its row says random-init).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")]


def _progress(quiet: bool):
    if quiet:
        return None

    def show(i: int, n: int, name: str) -> None:
        err_console.print(f"[{i}/{n}] {name}", markup=False, highlight=False)

    return show


def _inference_options(device: str, precision: Precision, **kw: Any) -> Any:
    from rawcolour.inference.pipelines import InferenceOptions

    return InferenceOptions(device=device, precision=precision.value, **kw)


def _check_outputs(as_json: bool, csv_to: str | None, report: Path | None, run: Path | None) -> None:
    if as_json and csv_to == "-":
        raise UsageError("--json and --csv - both want stdout", hint="write the CSV to a file")
    if run is not None and report is None:
        raise UsageError("--run only adds training curves to a report", hint="add --report DIR")


def _print_table(result: Any) -> None:
    cols = result.columns
    table = Table(header_style="bold")
    table.add_column("model")
    table.add_column("weights")
    table.add_column("images", justify="right")
    for _, header, _, _ in cols:
        table.add_column(escape(header), justify="right")
    rows = list(result.rows) + ([{"weights": "", **result.reference}] if result.reference else [])
    for r in rows:
        cells = []
        for key, _, fmt, _ in cols:
            v = r.get(key)
            cells.append("" if v is None else fmt.format(v))
        table.add_row(escape(str(r["model"])), escape(str(r.get("weights", ""))), str(r.get("images", "")), *cells)
    # As wide as the table needs (a pipe or a log keeps whole rows; a narrow terminal scrolls).
    needed = Console(width=1000).measure(table).maximum
    console = Console(soft_wrap=False, width=max(needed, Console().width))
    console.print(f"rawcolour eval {result.task}: {result.data} ({result.settings.get('images', 0)} pictures)",
                  markup=False, highlight=False)
    console.print(table)


def _csv_text(result: Any) -> str:
    keys = ["model", "weights", "images"] + [k for k, _, _, _ in result.columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    rows = list(result.to_dict()["rows"])
    if result.reference:
        rows.append({"weights": "", **result.reference})
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in keys})
    return buf.getvalue()


def _finish(result: Any, *, as_json: bool, csv_to: str | None, report: Path | None, run: Path | None) -> None:
    if csv_to is not None:
        text = _csv_text(result)
        if csv_to == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            from rawcolour.io.files import atomic_write_bytes

            atomic_write_bytes(csv_to, text.encode("utf-8"), what="CSV")
    if as_json:
        record = result.to_dict()
        if report is not None:
            record["report"] = str(report / "index.html")
        print_json(record)
    elif csv_to != "-":
        _print_table(result)
    if report is not None:
        from rawcolour.eval.report import write_report

        index = write_report(result, report, run_dir=run, command=shlex.join(["rawcolour", *sys.argv[1:]]))
        err_console.print(f"report: {index}", markup=False)
    for note in result.notes:
        err_console.print(f"note: {note}", markup=False)
    if result.skipped:
        err_console.print(f"skipped {len(result.skipped)} picture(s): "
                          + ", ".join(sorted({d['reason'] for d in result.skipped})), markup=False)
    for d in result.failed:
        who = f" ({d['model']})" if d.get("model") else ""
        err_console.print(f"rawcolour: error: {d['image']}{who}: {d['error']}", markup=False)
    if result.failed:
        raise typer.Exit(EXIT_FAILED)


@eval_app.command("colourise")
def colourise_command(
    data: DataOpt,
    model: ModelOpt = None,
    no_baseline: NoBaselineOpt = False,
    limit: LimitOpt = None,
    vgg_weights: Annotated[Path | None, typer.Option(
        "--vgg-weights", exists=True, dir_okay=False,
        help="torchvision VGG19 weights file (.pth or .safetensors): adds Table I's perceptual distance.")] = None,
    render_size: Annotated[int | None, typer.Option(
        "--render-size", min=1, help="Short side the chroma is predicted at (default: the model's).")] = None,
    as_json: JsonOpt = False,
    csv_to: CsvOpt = None,
    report: ReportOpt = None,
    samples: SamplesOpt = 6,
    run: RunOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    allow_random: AllowRandomOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Colourise the colour photos of --data from their L channel and compare with the originals.

    Rows: the `grey` (zero ab) and `sepia` (one warm tone) baselines unless --no-baseline, then each --model.

    Columns: PSNR and SSIM on RGB; ab L1 and ab PSNR after the paper's Lab -> 8-bit RGB -> Lab round trip.

    Colourfulness (Hasler & Suesstrunk) and its ratio to the ground truth's (last row).

    Overlap of the dataset's a and b histograms with the ground truth's (the paper's Fig. 4; 64 bins).

    Hue accuracy: where the truth is colourful (C*ab > 20), the share of pixels given a hue within 45
    degrees, averaged over six hue sectors so that every hue counts (grey scores 0).

    L_perc (Table I) with --vgg-weights. Photos are used at full size; greyscale ones are skipped and counted.
    """
    from rawcolour.eval import evaluation

    with library_errors():
        _check_outputs(as_json, csv_to, report, run)
        models = evaluation.load_models(model or [], "colourise", baseline=not no_baseline,
                                        allow_random=allow_random)
        options = _inference_options(device, precision, render_size=render_size)
        result = evaluation.evaluate_colourise(data, models, options=options, limit=limit,
                                               samples=samples if report else 0, vgg_weights=vgg_weights,
                                               progress=_progress(quiet))
        _finish(result, as_json=as_json, csv_to=csv_to, report=report, run=run)


@eval_app.command("raw2rgb")
def raw2rgb_command(
    data: DataOpt,
    model: ModelOpt = None,
    no_baseline: NoBaselineOpt = False,
    layout: Annotated[Layout, typer.Option(
        "--layout", help="Paired folder layout: Zurich (huawei_raw/ + canon/) or RAW2RGB-GAN "
                         "(*PhoneRaw/ + *CanonRGB/).")] = Layout.auto,
    synthetic_raw: Annotated[bool, typer.Option(
        "--synthetic-raw", help="--data holds ordinary photos: unprocess each into a synthetic raw "
                                "(fixed seed per picture).")] = False,
    cameras: Annotated[bool, typer.Option(
        "--cameras", help="--data holds ordinary photos: shoot each as DNG files through held-out real cameras "
                          "(4 Bayer phases, 3 noise levels) and score at sensor size after a global tone fit.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Base seed of the synthetic cameras.")] = 0,
    cfa: Annotated[str, typer.Option("--cfa", help="Bayer pattern of Zurich mosaics.")] = "RGGB",
    black: Annotated[float, typer.Option("--black", help="Black level of Zurich mosaics.")] = 0.0,
    white: Annotated[float, typer.Option("--white", help="White level of Zurich mosaics.")] = 1020.0,
    tile: Annotated[str, typer.Option("--tile", help="auto, N packed pixels, or 0 (whole picture).")] = "auto",
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
    csv_to: CsvOpt = None,
    report: ReportOpt = None,
    samples: SamplesOpt = 6,
    run: RunOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    allow_random: AllowRandomOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Develop the raw samples of --data with each model; PSNR (eq. 7) and SSIM at packed resolution.

    Rows: the `classic` baseline unless --no-baseline, then each --model.

    Data: a paired folder in the Zurich or RAW2RGB-GAN layout, or --synthetic-raw or --cameras from a folder
    of photos.

    --cameras (the realistic protocol): each photo becomes DNG files shot through held-out real cameras, in all
    four Bayer phases and at three noise levels, developed like a user's files and scored at sensor size after
    one global tone fit (an exposure gain; one curve shared by R, G and B): PSNR, SSIM, mean CIEDE2000.

    Synthetic raw: each photo's camera is drawn from --seed and its file name, so every model and run sees the same raw.
    """
    from rawcolour.eval import evaluation

    with library_errors():
        _check_outputs(as_json, csv_to, report, run)
        if (synthetic_raw or cameras) and layout is not Layout.auto:
            raise UsageError("--layout is for paired folders, --synthetic-raw and --cameras for photos",
                             hint="pass one of them")
        if synthetic_raw and cameras:
            raise UsageError("--synthetic-raw and --cameras are two protocols", hint="pass one of them")
        tile_value: int | str = tile
        if tile != "auto":
            if not tile.isdigit():
                raise UsageError(f"--tile must be auto or a number of pixels, got {tile!r}")
            tile_value = int(tile)
        models = evaluation.load_models(model or [], "raw2rgb", baseline=not no_baseline,
                                        allow_random=allow_random)
        options = _inference_options(device, precision, tile=tile_value)
        if cameras:
            from rawcolour.eval.cameras import evaluate_raw2rgb_cameras

            result = evaluate_raw2rgb_cameras(data, models, options=options, seed=seed, limit=limit,
                                              samples=samples if report else 0, progress=_progress(quiet))
            _finish(result, as_json=as_json, csv_to=csv_to, report=report, run=run)
            return
        result = evaluation.evaluate_raw2rgb(data, models, options=options, synthetic=synthetic_raw,
                                             layout=layout.value, seed=seed, cfa=cfa, black=black, white=white,
                                             limit=limit, samples=samples if report else 0,
                                             progress=_progress(quiet))
        _finish(result, as_json=as_json, csv_to=csv_to, report=report, run=run)
