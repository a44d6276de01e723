"""What every command shares: the stderr console and turning library errors into exit codes."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer
from enum import Enum

from rich.console import Console

from rawcolour.errors import OutputError, RawcolourError, UsageError, one_line

# Results go to stdout, everything else (progress, messages, errors) to stderr.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def error_line(err: BaseException | str) -> str:
    """The one line a user sees for an error (whatever the message holds, it stays one line)."""
    return f"rawcolour: error: {one_line(str(err))}"


def fail(err: BaseException, code: int | None = None) -> typer.Exit:
    """Print `err` as one line on stderr and return the Exit to raise."""
    if code is None:
        code = EXIT_USAGE if isinstance(err, UsageError) else EXIT_FAILED
    err_console.print(error_line(err), markup=False)
    return typer.Exit(code)


@contextlib.contextmanager
def library_errors() -> Iterator[None]:
    """Turn RawcolourError into one stderr line and exit 1 (2 for usage errors)."""
    try:
        yield
    except RawcolourError as err:
        raise fail(err) from None


def print_json(obj: Any) -> None:
    """One compact JSON record on stdout.

    BrokenPipeError (the reader went away) propagates for the caller to exit 141; any other
    failure to write stdout (a full disk behind ``> file``, /dev/full) is an OutputError, and
    stdout is sent to /dev/null so that Python's own final flush does not fail again.
    """
    try:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        silence_stdout()
        raise OutputError(f"cannot write the JSON records to stdout ({exc.strerror or exc})", path="<stdout>",
                          hint="check where stdout goes (a full disk?)") from None


def silence_stdout() -> None:
    """Send further writes to stdout (and Python's final flush) nowhere: after its reader went
    away, or it cannot be written."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # what is still buffered is flushed there at exit


class Layout(str, Enum):
    """Paired RAW folder layouts (see rawcolour.data.samples.list_raw_pairs)."""

    auto = "auto"
    zurich = "zurich"
    rawgan = "rawgan"


class TileStats(str, Enum):
    """Where frozen instance-norm statistics come from when a picture is tiled (rawcolour.inference.tiling)."""

    auto = "auto"  # a point-sampled whole-picture pass the size of one device call
    exact = "exact"  # pooled over all tiles layer by layer: untiled colours, about 5x the work


class Precision(str, Enum):
    """Inference precision; fp16/bf16 fall back to fp32 when the output is not finite."""

    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
