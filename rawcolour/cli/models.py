"""`rawcolour models`: list and show the registry's models, import foreign checkpoints, export to ONNX."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rawcolour import registry
from rawcolour.cli.common import err_console, library_errors, print_json

app = typer.Typer(help="List and inspect models; import foreign checkpoints; export to ONNX.", no_args_is_help=True)


def model_summary(name: str) -> dict:
    """The facts `models list/show` print for one registry name."""
    spec = registry.get_spec(name)
    generator_parameters, discriminator_parameters = registry.parameter_counts(name)
    record = {
        "name": spec.name,
        "task": spec.task,
        "description": spec.description,
        "parameters": generator_parameters,
        "size_multiple": spec.policy.size_multiple,
        "tiling": spec.policy.tiling,
        "input_space": spec.io.input_space if spec.io and spec.learned else None,
        "output_size": _output_size(spec),
        "weights": registry.weights_status(name),
    }
    if discriminator_parameters is not None:
        record["discriminator_parameters"] = discriminator_parameters
    return record


def _output_size(spec: registry.ModelSpec) -> str:
    """What size of picture a model writes: the input's, or for RAW the sensor's or half of it."""
    if spec.task == "colourise":
        return "input"
    if not spec.learned or (spec.io is not None and spec.io.output_scale == 2):
        return "sensor"
    return "half sensor"  # the paper's: one RGB pixel per 2x2 Bayer quad


@app.command("list")
def list_command(
    task: Annotated[str | None, typer.Option(help="Only models of this task (colourise or raw2rgb).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List every model name with its task, parameter count, input size multiple, output size, input space and weights."""
    records = [model_summary(n) for n in registry.list_models(task=task)]
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


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="A registry name (see `rawcolour models list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Everything the registry knows about one model: configs, recipe, I/O spec, inference policy."""
    import dataclasses

    with library_errors():
        spec = registry.get_spec(name)
        record = model_summary(name)
    record["paper"] = spec.paper
    record["generator"] = spec.generator.to_dict() if spec.generator else None
    record["discriminator"] = spec.discriminator.to_dict() if spec.discriminator else None
    record["io"] = spec.io.to_dict() if spec.io else None
    record["policy"] = spec.policy.to_dict()
    record["recipe"] = dataclasses.asdict(spec.recipe) if spec.recipe else None
    weights = registry.weights_path(name)
    record["weights_path"] = str(weights) if weights else None
    if as_json:
        print_json(record)
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(record, expand_all=False))


class ForeignArch(str, Enum):
    """Layouts `models import` understands (see rawcolour.interop)."""

    pix2pix = "pix2pix"
    sgan = "sgan"


@app.command("import")
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
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
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


@app.command("export")
def export_command(
    model: Annotated[str, typer.Argument(help="A registry name with installed weights, or a checkpoint file.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="The .onnx file to write (dynamic batch, height, width).")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare onnxruntime with PyTorch on a "
                                        "test input (within 1e-4) before writing.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
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
