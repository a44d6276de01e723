"""`rawcolour eval`: the papers' metrics for one or more models."""

from __future__ import annotations

import typer

from rawcolour.cli.common import fail
from rawcolour.errors import UsageError

app = typer.Typer()


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def evaluate() -> None:
    """Evaluate models on paired data: PSNR, SSIM and the papers' metrics."""
    raise fail(UsageError("`eval` is not built yet in this version"))
