"""One family of exceptions: each message says what is wrong and what to do.

Library code raises these; the CLI turns them into one line on stderr and an exit code.
"""

from __future__ import annotations

from pathlib import Path


class RawcolourError(Exception):
    """Base class. ``str(err)`` is one line: ``[path: ]problem[; hint]``."""

    def __init__(self, problem: str, path: str | Path | None = None, hint: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.problem if self.path is None else f"{self.path}: {self.problem}"
        return text if not self.hint else f"{text}; {self.hint}"


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


class DeviceError(RawcolourError):
    """A device or precision that is not available here."""
