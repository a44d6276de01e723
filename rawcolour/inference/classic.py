"""The ``classic`` raw2rgb baseline, free of torch: LibRaw's rendering of a camera file, or the
metadata colour pipeline for packed pictures.

``develop_classic`` returns LibRaw's 16-bit pixels as they are, so a batch writes them without a
round trip through float (``raw_to_rgb`` gives them as float32 in [0, 1], as for every model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rawcolour.camera_colour import picture_colour
from rawcolour.errors import UsageError
from rawcolour.inference.options import InferenceOptions
from rawcolour.io.raw import RawPicture, apply_orientation, classic_render, classic_render_packed, is_raw_path


@dataclass
class ClassicPicture:
    """The classic baseline's rendering of one input."""

    pixels: np.ndarray  # (H, W, 3) upright: uint16 from LibRaw (camera files), float32 in [0, 1] (packed inputs)
    notes: list[str] = field(default_factory=list)
    white_balance: str = ""  # camera | auto | daylight | custom

    def to_float(self) -> np.ndarray:
        """The pixels as float32 in [0, 1]."""
        if self.pixels.dtype == np.uint16:
            return self.pixels.astype(np.float32) / np.float32(65535.0)
        return self.pixels


def renders_camera_file(source: RawPicture | str | Path) -> bool:
    """True when ``source`` is (or comes from) a camera RAW file that LibRaw renders itself."""
    path = source.path if isinstance(source, RawPicture) else source
    return path is not None and is_raw_path(Path(path)) and Path(path).is_file()


def develop_classic(source: RawPicture | str | Path, options: InferenceOptions | None = None) -> ClassicPicture:
    """LibRaw's 16-bit full-resolution rendering of a camera file (``options.wb``, ``options.exposure``);
    for a packed picture without its camera file (Zurich or RAW2RGB-GAN PNGs), the metadata colour
    pipeline at packed resolution (rawcolour.io.raw.classic_render_packed)."""
    options = options or InferenceOptions()
    if renders_camera_file(source):
        path = Path(source.path if isinstance(source, RawPicture) else source)  # type: ignore[arg-type]
        pixels, used = classic_render(path, bit_depth=16, wb=options.wb, exposure=options.exposure)
        notes = ["the file has no usable as-shot white balance: auto (grey world) used instead"] \
            if options.wb == "camera" and used == "auto" else []
        return ClassicPicture(pixels, notes, used)
    if not isinstance(source, RawPicture):
        raise UsageError(f"the classic baseline renders camera RAW files or packed pictures, not {source}",
                         hint="decode the file first (rawcolour.inference.inputs.load_input)")
    colour = picture_colour(source, options.wb)
    rgb = classic_render_packed(source, colour, options.exposure).transpose(1, 2, 0)
    return ClassicPicture(apply_orientation(rgb, source.flip), list(colour.notes), colour.wb)


__all__ = ["ClassicPicture", "develop_classic", "renders_camera_file"]
