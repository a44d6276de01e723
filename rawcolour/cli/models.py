"""`rawcolour models`: list and show the registry's models, import foreign checkpoints, export to ONNX."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rawcolour import registry
from rawcolour.cli.common import err_console, library_errors, print_json
from rawcolour.cli.help import Command, Example, Group, with_examples

app = typer.Typer(help="List and inspect models; import foreign checkpoints; export to ONNX.", no_args_is_help=True,
                  cls=with_examples(Group, [
                      ("rawcolour models list", "every model and whether its weights are installed"),
                      ("rawcolour models show sgan-isp-tiny", "one model: networks, I/O, policy, recipe, card"),
                      ("rawcolour models import latest_net_G.pth --arch pix2pix", "reference weights"),
                      ("rawcolour models export sgan-tiny --onnx sgan-tiny.onnx", "to ONNX"),
                  ]))


LIST_EXAMPLES: list[Example] = [
    ("rawcolour models list", "every model, its task, size and whether its weights are installed"),
    ("rawcolour models list --task raw2rgb", "the RAW developers only"),
    ("rawcolour models list --json | jq -r '.[].name'", "every name, one a line, for scripts"),
]
SHOW_EXAMPLES: list[Example] = [
    ("rawcolour models show sgan-isp-tiny", "what the default RAW developer is, and where its card is"),
    ("rawcolour models show sgan --json | jq .recipe", "one part, as JSON"),
    ("rawcolour models show colorgan-tiny --json | jq -r .card", "where its model card is installed"),
]
IMPORT_EXAMPLES: list[Example] = [
    ("rawcolour models import latest_net_G.pth --arch pix2pix", "a pix2pix colouriser, beside the input"),
    ("rawcolour models import zyz987.pth --arch sgan -o zyz987.safetensors", "a RAW2RGB-GAN generator"),
    ("rawcolour models import films_G.pth --arch pix2pix --name films --json", "named, with a JSON record"),
    ("rawcolour raw2rgb shot.dng --model zyz987.safetensors", "then use it like any model"),
]
EXPORT_EXAMPLES: list[Example] = [
    ("rawcolour models export sgan-tiny --onnx sgan-tiny.onnx", "a shipped model"),
    ("rawcolour models export runs/s1/last.safetensors --onnx s1.onnx --json", "your own checkpoint"),
    ("rawcolour models export sgan-isp-tiny --onnx isp.onnx --force --no-check", "replace, without the check"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of the text.")]


@app.command("list", cls=with_examples(Command, LIST_EXAMPLES))
def list_command(
    task: Annotated[str | None, typer.Option(metavar="colourise|raw2rgb", help="Only models of this task.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout instead of the table.")] = False,
) -> None:
    """List every model name with its task, parameter count, input size multiple, output size, input space and weights."""
    with library_errors():  # an unknown task is a usage error, not an empty table
        names = registry.list_models(task=task)
    records = [registry.summary(n) for n in names]
    if as_json:
        print_json(records)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("name", "task", "parameters", "multiple", "tiling", "output", "input", "weights"):
        numeric = col in ("parameters", "multiple")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=True)
    for r in records:
        weights = {"not needed": "-"}.get(r["weights"], r["weights"].split(" (")[0])  # the caption explains
        table.add_row(r["name"], r["task"], f"{r['parameters']:,}", str(r["size_multiple"]), r["tiling"],
                      r["output_size"], r["input_space"] or "-", weights)
    table.caption = ("weights: installed (shipped), none (train it: rawcolour train, or import weights: "
                     "rawcolour models import), - (a baseline without weights)")
    table.caption_justify = "left"
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a pipe or file: no terminal width to fit, so cut nothing
        console = Console(width=160)
    console.print(table)


@app.command("show", cls=with_examples(Command, SHOW_EXAMPLES))
def show_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A registry name (see rawcolour models list).")],
    as_json: JsonOpt = False,
) -> None:
    """Everything the registry knows about one model: what it is, its weights and card, its networks,
    what it eats and returns, how it runs on a picture, and its training recipe."""
    with library_errors():
        record = registry.describe(name)
    if as_json:
        print_json(record)
        return
    typer.echo(show_text(record))


def _config_text(config: dict) -> str:
    return ", ".join(f"{k} {_value(v)}" for k, v in config.items())


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v) if v else "-"
    return "-" if v is None else str(v)


def show_text(r: dict) -> str:
    """The readable sections of `models show` (the same facts as --json)."""
    lines = [f"{r['name']}  ({r['task']})", *_indented(r["description"])]
    about = [("weights", r["weights"] + (f": {r['weights_file']}" if r["weights_file"] else "")),
             ("card", r["card"] or "-"), ("paper", r["paper"] or "-")]
    lines += ["", *_rows(about)]
    if r["generator"]:
        nets = [("generator", f"{r['generator']['arch']}, {r['parameters']:,} parameters"),
                ("", _config_text(r["generator"]["config"]))]
        if r["discriminator"]:
            nets += [("discriminator", f"{r['discriminator']['arch']}, {r['discriminator_parameters']:,} "
                                       "parameters"), ("", _config_text(r["discriminator"]["config"]))]
        lines += ["", "Networks", *_rows(nets)]
    if r["io"]:
        io = r["io"]
        rows = [("input", f"{io['input_space']}: {_value(io['input_channels'])}"), ("", io["input_scaling"])]
        if io.get("level_normalisation"):
            rows += [("levels", io["level_normalisation"])]
        rows += [("output", f"{io['output_space']}: {_value(io['output_channels'])}"), ("", io["output_scaling"])]
        lines += ["", "Input and output", *_rows(rows)]
    p = r["policy"]
    run = [("output size", r["output_size"]), ("size multiple", f"{p['size_multiple']}, at least {p['min_size']}"),
           ("tiling", f"{p['tiling']}, overlap {p['default_overlap']}" if p["tiling"] != "none" else "none"),
           ("render size", _value(p["render_size"])), ("fp16/bf16", _value(p["supports_half"]))]
    lines += ["", "Running on a picture", *_rows(run)]
    if r["recipe"]:
        rec = r["recipe"]
        rows = [(f"stage {st['name']}", _config_text({k: v for k, v in st.items() if k != "name"}))
                for st in rec["stages"]]
        rows.append(("", _config_text({k: v for k, v in rec.items() if k != "stages"})))
        lines += ["", "Training recipe (rawcolour train overrides any value)", *_rows(rows)]
    return "\n".join(lines)


def _indented(text: str, width: int | None = None) -> list[str]:
    import shutil
    import textwrap

    width = width or min(shutil.get_terminal_size().columns, 100)
    return textwrap.wrap(text, width - 2, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    """Label / value rows under a section heading, values wrapped beside their labels."""
    import shutil
    import textwrap

    width = min(shutil.get_terminal_size().columns, 100)
    column = max(len(label) for label, _ in rows) + 4
    out = []
    for label, value in rows:
        wrapped = textwrap.wrap(value, max(20, width - column), break_on_hyphens=False, break_long_words=False)
        for i, line in enumerate(wrapped or ["-"]):
            out.append(f"  {label if i == 0 else '':<{column - 2}}{line}")
    return out


class ForeignArch(str, Enum):
    """Layouts `models import` understands (see rawcolour.interop)."""

    pix2pix = "pix2pix"
    sgan = "sgan"


@app.command("import", cls=with_examples(Command, IMPORT_EXAMPLES))
def import_command(
    file: Annotated[Path, typer.Argument(help="A reference checkpoint: pix2pix latest_net_G.pth, or a "
                                              "RAW2RGB-GAN generator (state dict or pickled module).")],
    arch: Annotated[ForeignArch, typer.Option("--arch", help="pix2pix: junyanz unet_256 colouriser (L -> ab); "
                                                             "sgan: zhaoyuzhi RAW2RGB-GAN generator.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write the safetensors "
                                                "checkpoint (default: FILE's stem + .safetensors beside it).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name stored in the checkpoint "
                                             "(default: the matching registry name).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Convert a reference implementation's generator weights into a rawcolour checkpoint.

    Nothing in the file is executed; pickles asking for more than tensors and module layouts are refused.
    """
    from rawcolour.interop import import_checkpoint

    with library_errors():
        result = import_checkpoint(file, arch.value, output, name=name, force=force)
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(f"{result.output}  ({result.name}: {result.parameters:,} parameters, from a "
               f"{result.source_format.replace('_', ' ')})")
    for note in result.notes:
        err_console.print(f"note: {note}", markup=False)


@app.command("export", cls=with_examples(Command, EXPORT_EXAMPLES))
def export_command(
    model: Annotated[str, typer.Argument(help="A registry name with installed weights, or a checkpoint file.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="The .onnx file to write (dynamic batch, height, width).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare onnxruntime with PyTorch on a "
                                        "test input (within 1e-4) before writing.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Export a generator's folded inference network (no saliency decoder) to ONNX."""
    from rawcolour.export import export_onnx

    with library_errors():
        result = export_onnx(model, onnx, force=force, check=check)
    if as_json:
        print_json(result.to_dict())
        return
    checked = (f", onnxruntime max|diff| {result.max_abs_diff:.2g} on {'x'.join(map(str, result.checked_shape))}"
               if result.checked_shape else "")
    typer.echo(f"{result.path}  ({result.name}: input '{result.input_name}' (B, C, H, W), H and W multiples of "
               f"{result.size_multiple}, at least {result.min_side}{checked})")
