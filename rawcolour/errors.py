"""One family of exceptions: each message says what is wrong and what to do.

Library code raises these; the CLI turns them into one line on stderr and an exit code.
"""

from __future__ import annotations

import re
from pathlib import Path

# C0/C1 control characters, DEL, Unicode line/paragraph separators (anything that would break one
# message over two terminal lines, or hide part of it) and lone surrogates (bytes of a file name
# that are not UTF-8, which a terminal cannot print).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def display_path(path: str | Path) -> str:
    """A file name as shown in a message: as is, unless it holds control characters (a newline, a
    tab, an escape sequence); then quoted and escaped like Python's repr, so it stays on one line."""
    text = str(path)
    if not _CONTROL.search(text):
        return text
    raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # bytes as \xNN
    return "'" + _escape(raw).replace("'", "\\'") + "'"


def _escape(text: str) -> str:
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def one_line(text: str) -> str:
    """Text that a library wrote over several lines, on one: runs of whitespace become one space,
    and any other control character is escaped."""
    return _escape(" ".join(str(text).split()))


__all__ = [
    "CheckpointError", "DeviceError", "InputError", "MissingWeightsError", "OutputError", "RawcolourError",
    "TrainingDiverged", "UnknownModelError", "UnsupportedRawError", "UsageError", "display_path", "one_line",
]


class RawcolourError(Exception):
    """Base class. ``str(err)`` is one line: ``[path: ]problem[; hint]``.

    The path is shown with :func:`display_path` (a name with a newline in it is quoted and escaped)
    and the problem and hint with :func:`one_line`, so one error is always one line of text.
    """

    def __init__(self, problem: str, path: str | Path | None = None, hint: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        problem = one_line(self.problem)
        text = problem if self.path is None else f"{display_path(self.path)}: {problem}"
        return text if not self.hint else f"{text}; {one_line(self.hint)}"


class UnknownModelError(RawcolourError):
    """A model name that is neither in the registry nor an existing file."""


class CheckpointError(RawcolourError):
    """A checkpoint that is not safetensors, is corrupt, or does not fit its architecture."""


class MissingWeightsError(RawcolourError):
    """A model (or the VGG perceptual loss) needs weights that are not installed."""


class InputError(RawcolourError):
    """An input file that cannot be read: missing, empty, truncated, not the format it claims."""


class UnsupportedRawError(InputError):
    """A camera RAW we refuse on purpose: X-Trans, Foveon, monochrome, linear DNG."""


class OutputError(RawcolourError):
    """An output that cannot be written: read-only folder, full disk, would overwrite an input."""


class UsageError(RawcolourError):
    """Options that contradict each other or name something impossible (CLI exit code 2)."""


class TrainingDiverged(RawcolourError):
    """A training run whose losses stopped being finite numbers (its later weights are NaN)."""


class DeviceError(RawcolourError):
    """A device or precision that is not available here."""
