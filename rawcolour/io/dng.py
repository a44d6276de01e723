"""Write Bayer DNG files with pidng: test fixtures and example inputs (e.g. an unprocessed photo).

pidng is a test/extra dependency and is imported only when a DNG is written.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from rawcolour.errors import RawcolourError, UsageError
from rawcolour.io.files import atomic_write_bytes
from rawcolour.io.raw import PACKED_ORDER, _cfa_offsets, _check_cfa

# CIE XYZ (D65) -> linear sRGB: the default ColorMatrix1, i.e. "the camera's RGB is linear sRGB",
# which is what a photo unprocessed without a camera matrix is.
_XYZ_TO_SRGB = np.linalg.inv(
    np.array(
        [[0.4124564, 0.3575761, 0.1804375],
         [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )
)

# LibRaw (like dcraw) treats anything smaller as "not a RAW file".
MIN_DNG_SIDE = 22


def _pidng():
    try:
        from pidng.core import RAW2DNG
        from pidng.defs import CalibrationIlluminant, PhotometricInterpretation
        from pidng.dng import DNGTags, Tag
    except ImportError as err:
        raise RawcolourError(
            "writing DNG files needs the pidng package, which is not installed",
            hint="pip install pidng (or pip install 'rawcolour[test]')",
        ) from err
    return RAW2DNG, DNGTags, Tag, PhotometricInterpretation, CalibrationIlluminant


def _rationals(values: Sequence[float], signed: bool) -> list[list[int]]:
    out = []
    for v in values:
        f = Fraction(float(v)).limit_denominator(1_000_000)
        num, den = f.numerator, f.denominator
        limit = 2**31 - 1 if signed else 2**32 - 1
        while abs(num) > limit or den > limit:
            num, den = round(num / 2), max(1, den // 2)
        if not signed and num < 0:
            raise UsageError(f"value {v} must not be negative here")
        out.append([int(num), int(den)])
    return out


def write_bayer_dng(
    path: str | Path,
    mosaic: np.ndarray,
    cfa: str,
    *,
    black: int | Sequence[int],
    white: int,
    orientation: int = 1,
    camera: str = "rawcolour synthetic",
    color_matrix: np.ndarray | None = None,
    as_shot_neutral: Sequence[float] | None = None,
) -> Path:
    """Write an (H, W) uint16 Bayer mosaic as an uncompressed 16-bit DNG that LibRaw reads back exactly.

    ``cfa``: RGGB, BGGR, GRBG or GBRG (colours at (0,0), (0,1), (1,0), (1,1)).
    ``black``: one level, or four in PACKED_ORDER (R, Gr, B, Gb), written as a 2x2 BlackLevel pattern.
    ``orientation``: EXIF/TIFF orientation 1..8 (3 = 180, 6 = 90 CW, 8 = 90 CCW).
    ``color_matrix``: DNG ColorMatrix1 (XYZ D65 -> camera RGB); default makes camera RGB = linear sRGB.
    ``as_shot_neutral``: the camera RGB of a neutral grey (the inverse of the white-balance gains);
    default (1, 1, 1). The file is written atomically (temporary file, then rename).
    """
    RAW2DNG, DNGTags, Tag, Photometric, Illuminant = _pidng()  # pidng adds DNGVersion, NewSubfileType
    cfa = _check_cfa(cfa)
    data = np.asarray(mosaic)
    if data.ndim != 2:
        raise UsageError(f"a Bayer mosaic must be 2-D (H, W), got shape {data.shape}")
    if data.dtype != np.uint16:
        if not np.issubdtype(data.dtype, np.integer) or data.min(initial=0) < 0 or data.max(initial=0) > 65535:
            raise UsageError(f"mosaic must be uint16 (or integers in 0..65535), got {data.dtype}")
        data = data.astype(np.uint16)
    height, width = data.shape
    if height < MIN_DNG_SIDE or width < MIN_DNG_SIDE or height > 65535 or width > 65535:
        raise UsageError(f"mosaic {width}x{height}: LibRaw reads only sides of {MIN_DNG_SIDE}..65535 pixels")
    if not 1 <= int(orientation) <= 8:
        raise UsageError(f"orientation must be an EXIF orientation 1..8, got {orientation}")
    levels = [int(black)] * 4 if np.ndim(black) == 0 else [int(b) for b in black]  # type: ignore[arg-type]
    if len(levels) != 4:
        raise UsageError(f"black must be one level or four in {PACKED_ORDER} order, got {black!r}")
    if not 0 < int(white) <= 65535 or max(levels) >= int(white) or min(levels) < 0:
        raise UsageError(f"levels must satisfy 0 <= black < white <= 65535, got black {levels}, white {white}")
    # BlackLevel with BlackLevelRepeatDim 2x2 is stored by position in the 2x2 cell, row-major.
    by_position = [0] * 4
    for level, (dy, dx) in zip(levels, _cfa_offsets(cfa)):
        by_position[2 * dy + dx] = level
    matrix = _XYZ_TO_SRGB if color_matrix is None else np.asarray(color_matrix, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise UsageError(f"color_matrix must be a finite 3x3 matrix, got shape {matrix.shape}")
    neutral = (1.0, 1.0, 1.0) if as_shot_neutral is None else tuple(float(v) for v in as_shot_neutral)
    if len(neutral) != 3 or not all(v > 0 for v in neutral):
        raise UsageError(f"as_shot_neutral must be three positive numbers, got {as_shot_neutral!r}")

    make, _, model = str(camera).strip().partition(" ")
    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, int(orientation))
    tags.set(Tag.PhotometricInterpretation, Photometric.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, 16)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, [{"R": 0, "G": 1, "B": 2}[c] for c in cfa])
    tags.set(Tag.BlackLevelRepeatDim, [2, 2])
    tags.set(Tag.BlackLevel, by_position)
    tags.set(Tag.WhiteLevel, int(white))
    tags.set(Tag.ColorMatrix1, _rationals(matrix.ravel(), signed=True))
    tags.set(Tag.CalibrationIlluminant1, Illuminant.D65)
    tags.set(Tag.AsShotNeutral, _rationals(neutral, signed=False))
    tags.set(Tag.Make, make or "rawcolour")
    tags.set(Tag.Model, model or make or "synthetic")
    tags.set(Tag.UniqueCameraModel, str(camera) or "rawcolour synthetic")

    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    buf = writer.convert(np.ascontiguousarray(data))

    out = Path(path)
    atomic_write_bytes(out, bytes(buf), what="DNG")
    return out


__all__ = ["write_bayer_dng", "MIN_DNG_SIDE"]
