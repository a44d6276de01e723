"""What became of one picture, from the pipeline that converted it to the batch's ``--json`` line:
one record type, torch-free (a batch of ``classic`` developments never imports torch)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass
class Result:
    """One picture's conversion. The pipelines fill the picture and how it was made; a batch adds
    the input's metadata for the writer, then the file's outcome (``status`` ok | skipped | failed,
    names, model), and prints it with :meth:`to_json`. A skipped or failed file is a Result
    without a picture. Empty strings mean "none" (no device for a baseline)."""

    rgb: np.ndarray | None = None  # (H, W, 3) upright: float32 in [0, 1], or uint8 / uint16 codes (raw2rgb in a batch)
    tile: int | None = None  # tile size actually used (None = whole picture at once)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. "fp16 gave non-finite values; reran in fp32"
    device: str = ""  # where the network ran ("" for baselines without one)
    precision: str = ""  # fp32 | fp16 | bf16 actually used for the output
    backend: str = ""  # torch | onnxruntime: what ran the network ("" for baselines without one)
    white_balance: str = ""  # raw2rgb: camera | auto | daylight | custom, or "model" (guessed by the network)
    colour_space: str = "srgb"  # the primaries and curve of ``rgb`` (rawcolour.colour_spaces)
    in_colour: bool | None = None  # colourise: the input already had colour (None: not looked at)
    # What the writer copies from the input (a batch; --strip-metadata drops exif and icc_profile)
    input_bit_depth: int | None = None  # the input's depth (colourise keeps it by default)
    exif: bytes | None = None  # the input's (colourise) or the camera's (raw2rgb)
    icc_profile: bytes | None = None  # the input's profile (colourise)
    colour_profile: bytes | None = None  # the ICC profile of the pixels' colour space (raw2rgb): always kept
    # The file's outcome in a batch
    input: str = ""
    output: str | None = None
    status: str = "ok"  # ok | skipped | failed
    error: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    mismatched: bool = False  # failed: the output exists, made from another input, by another model or with other settings

    def written(self, **outcome: Any) -> Result:
        """The record of this picture once written: ``outcome``'s fields set, the pixels and the
        input's metadata let go."""
        return replace(self, rgb=None, exif=None, icc_profile=None, colour_profile=None, **outcome)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` record."""
        return {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "tile": self.tile,
            "seconds": round(self.seconds, 4),
            "notes": list(self.notes),
            "device": self.device or None,
            "precision": self.precision or None,
            "backend": self.backend or None,
            "white_balance": self.white_balance or None,
            "in_colour": self.in_colour,
        }


__all__ = ["Result"]
