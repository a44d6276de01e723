"""`rawcolour eval colourise|raw2rgb`: the papers' metrics for one or more models, side by side.

Only parses options and prints; the work is rawcolour.eval.evaluation (and rawcolour.eval.report).
The table goes to stdout (or JSON with --json, CSV with --csv), progress and messages to stderr.
"""

from __future__ import annotations

import io
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rawcolour.cli.common import (
    CFA,
    EXIT_FAILED,
    BlackOpt,
    CfaOpt,
    DeviceOpt,
    Layout,
    Precision,
    PrecisionOpt,
    QuietOpt,
    RenderSizeOpt,
    TileOpt,
    WhiteOpt,
    err_console,
    error_line,
    library_errors,
    print_json,
)
from rawcolour.cli.help import Command, Example, Group, with_examples
from rawcolour.errors import OutputError, UsageError
from rawcolour.io.files import nearest_folder, why_unwritable
from rawcolour.io.packed_png import ZURICH_WHITE, check_levels

app = typer.Typer()
eval_app = typer.Typer(
    name="eval",
    help="Evaluate models on a dataset: PSNR, SSIM and the papers' metrics, one table row per model.",
    no_args_is_help=True,
    cls=with_examples(Group, [
        ("rawcolour eval colourise --data kodak24", "the shipped colouriser against the grey and sepia baselines"),
        ("rawcolour eval raw2rgb --data kodak24 --cameras", "the shipped RAW developers against LibRaw"),
        ("rawcolour eval raw2rgb --data kodak24 --cameras --report eval-cameras/", "with an HTML report"),
    ]),
)
app.add_typer(eval_app, name="eval")

COLOURISE_EXAMPLES: list[Example] = [
    ("rawcolour eval colourise --data kodak24", "the shipped colourisers and the baselines (no --model)"),
    ("rawcolour eval colourise --data photos/ -m colorgan-tiny \\\n    -m runs/c1/last.safetensors",
     "two models side by side (the baselines come first)"),
    ("rawcolour eval colourise --data kodak24 --report report/ --run runs/c1", "HTML report with training curves"),
    ("rawcolour eval colourise --data kodak24 --csv - | column -s, -t", "the table as CSV"),
]
RAW2RGB_EXAMPLES: list[Example] = [
    ("rawcolour eval raw2rgb --data kodak24 --cameras", "the shipped developers and LibRaw, realistic protocol"),
    ("rawcolour eval raw2rgb --data zrr/test --layout zurich -m sgan-tiny", "paired Zurich RAW-to-RGB data"),
    ("rawcolour eval raw2rgb --data photos/ --synthetic-raw --json > eval.json", "synthetic raw, as JSON"),
    ("rawcolour eval raw2rgb --data kodak24 --cameras --report cameras/",
     "HTML report with 100% crops"),
]

ModelOpt = Annotated[list[str] | None, typer.Option(
    "--model", "-m", metavar="NAME|FILE", show_default=False,
    help="Registry name (rawcolour models list) or a .safetensors checkpoint; repeat for more rows. Default: "
         "the task's shipped models.")]
NoBaselineOpt = Annotated[bool, typer.Option("--no-baseline", help="Leave out the baseline rows.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of the table.")]
CsvOpt = Annotated[str | None, typer.Option(
    "--csv", metavar="FILE", help="Also write the rows as CSV to FILE (-: to stdout, instead of the table).")]
ReportOpt = Annotated[Path | None, typer.Option(
    "--report", metavar="DIR", file_okay=False,
    help="Write an HTML report to DIR: the table, per-picture figures, pictures, 100% crops, plots.")]
SamplesOpt = Annotated[int, typer.Option("--samples", metavar="N", min=0, help="Pictures shown in the report.")]
RunOpt = Annotated[Path | None, typer.Option(
    "--run", metavar="RUN", exists=True, help="Training run folder: its log.jsonl becomes curves in the report.")]
AllowRandomOpt = Annotated[bool, typer.Option(
    "--allow-random", help="Evaluate a freshly initialised (seeded) network for a model without weights "
                           "(smoke tests; its row says random-init).")]
# raw2rgb's own options
CamerasOpt = Annotated[bool, typer.Option(
    "--cameras", help="--data holds photos: shoot each as DNG files through held-out real cameras "
                      "(4 Bayer phases, 3 noise levels) and score at sensor size after a global tone fit.")]
SyntheticRawOpt = Annotated[bool, typer.Option(
    "--synthetic-raw", help="--data holds photos: unprocess each into a synthetic raw (fixed seed per "
                            "picture) and score at packed resolution.")]
LayoutOpt = Annotated[Layout, typer.Option(
    "--layout", help="Paired folder layout: zurich (huawei_raw/ + canon/) or rawgan (*PhoneRaw/ + "
                     "*CanonRGB/); auto: whichever is there.")]
SeedOpt = Annotated[int, typer.Option("--seed", metavar="N", help="Base seed of the synthetic cameras.")]
RawLimitOpt = Annotated[int | None, typer.Option(
    "--limit", metavar="N", min=1, help="Evaluate only the first N photos or raw samples.")]


def _progress(quiet: bool):
    if quiet:
        return None

    def show(i: int, n: int, name: str) -> None:
        err_console.print(f"[{i}/{n}] {name}", markup=False, highlight=False)

    return show


def _models(task: str, names: list[str] | None, baseline: bool, quiet: bool) -> list[str]:
    """The --model names, or when there are none the task's shipped models (and a note saying so)."""
    if names:
        return names
    from rawcolour.registry import shipped_models
    from rawcolour.tasks import get_task

    shipped = shipped_models(task)
    if not quiet:
        what = f"the shipped {task} models ({', '.join(shipped)})" if shipped else f"no shipped {task} model"
        rows = f"{what} and the baselines ({', '.join(get_task(task).baselines)})" if baseline else what
        err_console.print(f"rawcolour: no --model: evaluating {rows}", markup=False, highlight=False)
    return shipped


def _load_models(task: str, names: list[str] | None, no_baseline: bool, allow_random: bool, quiet: bool) -> Any:
    """The table's rows: the task's baselines (unless --no-baseline), then each --model (or the shipped ones)."""
    from rawcolour.eval.evaluation import load_models

    return load_models(_models(task, names, not no_baseline, quiet), task, baseline=not no_baseline,
                       allow_random=allow_random)


def _inference_options(device: str, precision: Precision, **kw: Any) -> Any:
    from rawcolour.inference.pipelines import InferenceOptions

    return InferenceOptions(device=device, precision=precision.value, **kw)


def _check_outputs(data: Path, as_json: bool, csv_to: str | None, report: Path | None, run: Path | None) -> None:
    if as_json and csv_to == "-":
        raise UsageError("--json and --csv - both want stdout", hint="write the CSV to a file")
    if run is not None and report is None:
        raise UsageError("--run only adds training curves to a report", hint="add --report DIR")
    from rawcolour.io.images import IMAGE_EXTENSIONS
    from rawcolour.io.raw import RAW_EXTENSIONS

    # (option, its path, the folder it is made in, whether inside --data it would be taken for data):
    # a report's pictures would; a CSV only when named like a picture.
    outputs: list[tuple[str, Path, Path, bool]] = []
    if csv_to not in (None, "-"):
        csv = Path(csv_to)
        outputs.append(("--csv", csv, csv.parent, csv.suffix.lower() in IMAGE_EXTENSIONS | RAW_EXTENSIONS))
    if report is not None:
        outputs.append(("--report", report, report, True))
    for option, path, _, as_data in outputs:
        if as_data and path.resolve().is_relative_to(data.resolve()):
            raise UsageError(f"{option} {path} is inside --data {data}: it would become part of the data, or "
                             "replace a picture of it", hint=f"write {option} outside the data folder")
    for option, _, made_in, _ in outputs:
        folder = nearest_folder(made_in)
        reason = why_unwritable(folder)
        if reason:  # said now, not after the whole evaluation has run
            raise OutputError(f"cannot write {option} there ({reason})", path=folder,
                              hint=f"choose a folder you can write to for {option}")


LONG_BELOW = 100  # a terminal narrower than this, or than the table, gets one row per model and metric


def _wide_table(result: Any) -> Table:
    """One row per model, one column per figure; plain (no box lines) so it reads the same in a pipe."""
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("model", no_wrap=True)
    table.add_column("weights", no_wrap=True)
    table.add_column("images", justify="right", no_wrap=True)
    for _, header, _, _ in result.columns:
        table.add_column(escape(header), justify="right", no_wrap=True)
    for r in result.table_rows():
        cells = ["" if r.get(key) is None else fmt.format(r[key]) for key, _, fmt, _ in result.columns]
        table.add_row(escape(str(r["model"])), escape(str(r.get("weights", ""))), str(r.get("images", "")), *cells)
    return table


def _long_table(result: Any) -> Table:
    """One row per model and metric, for a narrow terminal: nothing is cut or wrapped."""
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    for name, justify in (("model", "left"), ("metric", "left"), ("value", "right"), ("better", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "better")  # type: ignore[arg-type]
    rows = result.table_rows()
    for i, r in enumerate(rows):
        if i:
            table.add_row("", "", "", "")
        label = str(r["model"])
        about = ", ".join(x for x in (str(r.get("weights") or ""), f"{r.get('images', '')} pictures") if x)
        table.add_row(escape(label), escape(about), "", "")
        reference = bool(result.reference) and i == len(rows) - 1  # the ground truth's own figures
        for key, header, fmt, better in result.columns:
            if r.get(key) is not None:
                table.add_row("", escape(header), fmt.format(r[key]), "" if reference else escape(better))
    return table


def _print_table(result: Any) -> None:
    """The table on stdout: as wide as it needs in a pipe or a file (whole rows, cut nothing); in a
    terminal, wide when it fits, else one row per model and metric."""
    console = Console(highlight=False, soft_wrap=False)
    title = f"rawcolour eval {result.task}: {result.data} ({result.settings.get('images', 0)} pictures)"
    table = _wide_table(result)
    needed = Console(width=10_000).measure(table).maximum
    if console.is_terminal:
        if console.width < LONG_BELOW or needed > console.width:
            table = _long_table(result)
        console.print(title, markup=False)
        console.print(table)
        return
    # a pipe or a file: plain text, whole rows, no trailing blanks (grep, awk and diff read it as it is)
    text = Console(highlight=False, soft_wrap=False, width=max(needed, 80), file=io.StringIO(), color_system=None)
    text.print(table)
    lines = [title] + [line.rstrip() for line in text.file.getvalue().splitlines()]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _finish(result: Any, *, as_json: bool, csv_to: str | None, report: Path | None, run: Path | None,
            quiet: bool) -> None:
    if csv_to is not None:
        text = result.to_csv()
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
        if not quiet:
            err_console.print(f"report: {index}", markup=False)
    for note in [] if quiet else result.notes:
        err_console.print(f"note: {note}", markup=False)
    if result.skipped and not quiet:
        err_console.print(f"skipped {len(result.skipped)} picture(s): "
                          + ", ".join(sorted({d['reason'] for d in result.skipped})), markup=False)
    for d in result.failed:
        who = f" ({d['model']})" if d.get("model") else ""
        named = d["error"].split(": ", 1)[0].endswith(d["image"])  # an input's error names its file already
        err_console.print(error_line(d["error"] if named and not who else f"{d['image']}{who}: {d['error']}"),
                          markup=False)
    if result.failed:
        raise typer.Exit(EXIT_FAILED)


@eval_app.command("colourise", cls=with_examples(Command, COLOURISE_EXAMPLES))
def colourise_command(
    data: Annotated[Path, typer.Option(
        "--data", metavar="DIR", exists=True, file_okay=False, help="Folder of colour photos (greyscale ones are skipped and "
                                                   "counted); each model sees only their lightness.")],
    model: ModelOpt = None,
    no_baseline: NoBaselineOpt = False,
    limit: Annotated[int | None, typer.Option(
        "--limit", metavar="N", min=1, help="Evaluate only the first N colour photos.")] = None,
    vgg_weights: Annotated[Path | None, typer.Option(
        "--vgg-weights", metavar="FILE", exists=True, dir_okay=False,
        help="torchvision VGG19 weights file (.pth or .safetensors): adds Table I's perceptual distance.")] = None,
    as_json: JsonOpt = False,
    csv_to: CsvOpt = None,
    report: ReportOpt = None,
    samples: SamplesOpt = 6,
    run: RunOpt = None,
    allow_random: AllowRandomOpt = False,
    quiet: QuietOpt = False,
    render_size: RenderSizeOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
) -> None:
    """Colourise the colour photos of --data from their lightness and compare with the originals.

    Rows: the grey (zero ab) and sepia (one warm tone) baselines unless --no-baseline, then each --model
    (default: the shipped colourisers).

    Columns: PSNR and SSIM on RGB; ab L1 and ab PSNR after the paper's Lab -> 8-bit RGB -> Lab round trip;
    colourfulness (Hasler and Suesstrunk) and its ratio to the ground truth's (last row); overlap of the
    dataset's a and b histograms with the ground truth's (the paper's Fig. 4; 64 bins); hue accuracy: where
    the truth is colourful (C*ab > 20), the share of pixels given a hue within 45 degrees, averaged over six
    hue sectors (grey scores 0); L_perc (Table I) with --vgg-weights.
    """
    from rawcolour.eval import evaluation

    with library_errors():
        _check_outputs(data, as_json, csv_to, report, run)
        options = _inference_options(device, precision, render_size=render_size)
        models = _load_models("colourise", model, no_baseline, allow_random, quiet)
        result = evaluation.evaluate_colourise(data, models, options=options, limit=limit,
                                               samples=samples if report else 0, vgg_weights=vgg_weights,
                                               progress=_progress(quiet))
        _finish(result, as_json=as_json, csv_to=csv_to, report=report, run=run, quiet=quiet)


@eval_app.command("raw2rgb", cls=with_examples(Command, RAW2RGB_EXAMPLES))
def raw2rgb_command(
    data: Annotated[Path, typer.Option(
        "--data", metavar="DIR", exists=True, file_okay=False,
        help="Paired RAW data (Zurich or RAW2RGB-GAN layout), or colour photos with --cameras or --synthetic-raw.")],
    model: ModelOpt = None,
    no_baseline: NoBaselineOpt = False,
    cameras: CamerasOpt = False,
    synthetic_raw: SyntheticRawOpt = False,
    layout: LayoutOpt = Layout.auto,
    seed: SeedOpt = 0,
    limit: RawLimitOpt = None,
    as_json: JsonOpt = False,
    csv_to: CsvOpt = None,
    report: ReportOpt = None,
    samples: SamplesOpt = 6,
    run: RunOpt = None,
    allow_random: AllowRandomOpt = False,
    quiet: QuietOpt = False,
    tile: TileOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = Precision.fp32,
    cfa: CfaOpt = CFA.RGGB,
    black: BlackOpt = 0.0,
    white: WhiteOpt = ZURICH_WHITE,
) -> None:
    """Develop the raw samples of --data with each model and score them against the truth.

    Rows: the classic (LibRaw) baseline unless --no-baseline, then each --model (default: the shipped
    developers).

    --cameras (the realistic protocol): each photo becomes DNG files shot through held-out real cameras, in all
    four Bayer phases and at three noise levels, developed like a user's files and scored at sensor size after
    one global tone fit (an exposure gain; one curve shared by R, G and B): PSNR, SSIM, mean CIEDE2000.

    Paired folders and --synthetic-raw: PSNR (eq. 7) and SSIM at packed resolution; each synthetic photo's
    camera is drawn from --seed and its file name, so every model and run sees the same raw.
    """
    from rawcolour.eval.cameras import evaluate_raw2rgb_cameras
    from rawcolour.eval.evaluation import evaluate_raw2rgb

    with library_errors():
        _check_outputs(data, as_json, csv_to, report, run)
        if (synthetic_raw or cameras) and layout is not Layout.auto:
            raise UsageError("--layout is for paired folders, --synthetic-raw and --cameras for photos",
                             hint="pass one of them")
        if synthetic_raw and cameras:
            raise UsageError("--synthetic-raw and --cameras are two protocols", hint="pass one of them")
        options = _inference_options(device, precision, tile=tile)
        check_levels(black, white)
        models = _load_models("raw2rgb", model, no_baseline, allow_random, quiet)
        common = {"options": options, "seed": seed,
                  "limit": limit, "samples": samples if report else 0, "progress": _progress(quiet)}
        if cameras:
            result = evaluate_raw2rgb_cameras(data, models, **common)
        else:
            result = evaluate_raw2rgb(data, models, synthetic=synthetic_raw, layout=layout.value, cfa=cfa.value,
                                      black=black, white=white, **common)
        _finish(result, as_json=as_json, csv_to=csv_to, report=report, run=run, quiet=quiet)
