"""`rawcolour models`: list, show (and import/export) the registry's models."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rawcolour import registry
from rawcolour.cli.common import library_errors, print_json

app = typer.Typer(help="List and inspect models; import foreign checkpoints.", no_args_is_help=True)


def model_summary(name: str) -> dict:
    """The facts `models list/show` print for one registry name."""
    spec = registry.get_spec(name)
    record = {
        "name": spec.name,
        "task": spec.task,
        "description": spec.description,
        "parameters": registry.parameter_count(spec.generator) if spec.generator else 0,
        "size_multiple": spec.policy.size_multiple,
        "tiling": spec.policy.tiling,
        "weights": registry.weights_status(name),
    }
    if spec.discriminator is not None:
        record["discriminator_parameters"] = registry.parameter_count(spec.discriminator)
    return record


@app.command("list")
def list_command(
    task: Annotated[str | None, typer.Option(help="Only models of this task (colourise or raw2rgb).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List every model name with its task, parameter count, input size multiple and weights."""
    records = [model_summary(n) for n in registry.list_models(task=task)]
    if as_json:
        print_json(records)
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "task", "parameters", "size multiple", "tiling", "weights"):
        table.add_column(col, justify="right" if col in ("parameters", "size multiple") else "left")
    for r in records:
        table.add_row(r["name"], r["task"], f"{r['parameters']:,}", str(r["size_multiple"]), r["tiling"], r["weights"])
    from rich.console import Console

    Console().print(table)


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
