"""The ``classic`` raw2rgb baseline, free of torch: LibRaw's development of a camera file, or the
metadata colour pipeline for packed pictures, encoded in the options' colour space.

For camera files ``develop_classic`` can hand over the output's 8- or 16-bit codes directly
(``bit_depth``): LibRaw's linear 16-bit ProPhoto pixels go through one matrix and the curve's
table in strips (rawcolour.colour_spaces), with no full-size float picture, and the codes are
exactly those the writer would make of the float result ``raw_to_rgb`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rawcolour.camera_colour import picture_colour
from rawcolour.colour_spaces import encode_linear_srgb
from rawcolour.errors import UsageError
from rawcolour.inference.options import InferenceOptions
from rawcolour.io.classic import classic_develop, classic_linear_packed
from rawcolour.io.raw import RawPicture, apply_orientation, is_raw_path


@dataclass
class ClassicPicture:
    """The classic baseline's development of one input."""

    pixels: np.ndarray  # (H, W, 3) upright, in colour_space: float32 in [0, 1], or uint8 / uint16 codes
    colour_space: str  # a name of rawcolour.colour_spaces
    notes: list[str] = field(default_factory=list)
    white_balance: str = ""  # camera | auto | daylight | custom


def renders_camera_file(source: RawPicture | str | Path) -> bool:
    """True when ``source`` is (or comes from) a camera RAW file that LibRaw develops itself."""
    path = source.path if isinstance(source, RawPicture) else source
    return path is not None and is_raw_path(Path(path)) and Path(path).is_file()


def develop_classic(source: RawPicture | str | Path, options: InferenceOptions | None = None,
                    bit_depth: int | None = 16) -> ClassicPicture:
    """LibRaw's full-resolution development of a camera file (linear DNGs included; white balance,
    exposure, highlights, demosaic and half size from ``options``), as ``bit_depth`` codes (8 or
    16) or float32 (None); for a packed picture without its camera file (Zurich or RAW2RGB-GAN
    PNGs), the metadata colour pipeline at packed resolution (rawcolour.io.classic.classic_linear_packed),
    float32. Both in ``options.colour_space``."""
    options = options or InferenceOptions()
    space = options.colour_space
    if renders_camera_file(source):
        path = Path(source.path if isinstance(source, RawPicture) else source)  # type: ignore[arg-type]
        developed = classic_develop(path, wb=options.wb, exposure=options.exposure, highlights=options.highlights,
                                    demosaic=options.demosaic, half=options.half)
        notes = list(developed.notes)
        if options.wb == "camera" and developed.white_balance == "auto":
            notes.append("the file has no usable as-shot white balance: auto (grey world) used instead")
        return ClassicPicture(developed.encode(space, bit_depth), space, notes, developed.white_balance)
    if not isinstance(source, RawPicture):
        raise UsageError(f"the classic baseline develops camera RAW files or packed pictures, not {source}",
                         hint="decode the file first (rawcolour.inference.inputs.load_input)")
    if options.demosaic is not None or options.highlights != "clip":
        raise UsageError("--demosaic and --highlights blend|reconstruct need a camera RAW file (LibRaw); "
                         "packed PNGs are developed one pixel per Bayer quad, highlights clipped",
                         path=source.path, hint="drop --demosaic and --highlights")
    colour = picture_colour(source, options.wb)
    linear = classic_linear_packed(source, colour, options.exposure).transpose(1, 2, 0)
    rgb = encode_linear_srgb(linear, space)
    return ClassicPicture(apply_orientation(rgb, source.flip), space, list(colour.notes), colour.wb)


__all__ = ["ClassicPicture", "develop_classic", "renders_camera_file"]
