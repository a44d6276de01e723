"""The root `rawcolour` command: mounts one sub-app per task."""

from __future__ import annotations

from typing import Annotated

import typer

import rawcolour
from rawcolour.cli import convert, evaluate, models, train
from rawcolour.cli.help import MAX_WIDTH, Group, with_examples

EXAMPLES = [
    ("rawcolour raw2rgb shoot/ -o developed/ --recursive", "develop a card's worth of RAW files"),
    ("rawcolour colourise scans/ -o coloured/", "colourise greyscale scans"),
    ("rawcolour models list", "the models there are, and which have weights"),
    ("rawcolour eval raw2rgb --data kodak24 --cameras", "the shipped developers against LibRaw"),
    ("rawcolour raw2rgb --help", "every option of a command, with examples"),
]

app = typer.Typer(
    name="rawcolour",
    help="Camera data to pictures with learned models: colourise greyscale photos, develop camera RAW.",
    cls=with_examples(Group, EXAMPLES),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help pages (rawcolour.cli.help), as command-line users read them
    context_settings={"max_content_width": MAX_WIDTH},
)
# Commands of these sub-apps go to the top level; `models` is a group.
app.add_typer(convert.app)
app.add_typer(train.app)
app.add_typer(evaluate.app)
app.add_typer(models.app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rawcolour {rawcolour.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Camera data to pictures with learned models."""


def run() -> None:
    """Console-script entry point."""
    app()
