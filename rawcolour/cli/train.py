"""`rawcolour train`: train a registry model."""

from __future__ import annotations

import typer

from rawcolour.cli.common import fail
from rawcolour.errors import UsageError

app = typer.Typer()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train() -> None:
    """Train a colourise or raw2rgb model from a folder of pictures."""
    raise fail(UsageError("`train` is not built yet in this version"))
