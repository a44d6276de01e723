"""`rawcolour colourise` and `rawcolour raw2rgb`: convert pictures with a model."""

from __future__ import annotations

import typer

from rawcolour.cli.common import fail
from rawcolour.errors import UsageError

app = typer.Typer()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def colourise() -> None:
    """Colourise greyscale pictures (L in, ab out) with a colourisation GAN."""
    raise fail(UsageError("`colourise` is not built yet in this version"))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def raw2rgb() -> None:
    """Develop camera RAW files (and packed RAW PNGs) to RGB pictures."""
    raise fail(UsageError("`raw2rgb` is not built yet in this version"))
