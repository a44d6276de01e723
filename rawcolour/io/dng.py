"""Write Bayer and linear DNG files with pidng: test fixtures and example inputs (e.g. an unprocessed photo).

pidng is a test/extra dependency and is imported only when a DNG is written.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from rawcolour.camera_colour import SRGB_TO_XYZ
from rawcolour.errors import RawcolourError, UsageError
from rawcolour.io.files import atomic_write_bytes
from rawcolour.io.mosaic import PACKED_ORDER, cfa_offsets, check_cfa

# CIE XYZ (D65) -> linear sRGB: the default ColorMatrix1, i.e. "the camera's RGB is linear sRGB",
# which is what a photo unprocessed without a camera matrix is.
_XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)

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


def _uint16(data: np.ndarray, what: str) -> np.ndarray:
    if data.dtype != np.uint16:
        if not np.issubdtype(data.dtype, np.integer) or data.min(initial=0) < 0 or data.max(initial=0) > 65535:
            raise UsageError(f"{what} must be uint16 (or integers in 0..65535), got {data.dtype}")
        data = data.astype(np.uint16)
    height, width = data.shape[:2]
    if height < MIN_DNG_SIDE or width < MIN_DNG_SIDE or height > 65535 or width > 65535:
        raise UsageError(f"{what} {width}x{height}: LibRaw reads only sides of {MIN_DNG_SIDE}..65535 pixels")
    return data


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
    exif: Mapping[int, object] | None = None,
    gps: Mapping[int, object] | None = None,
) -> Path:
    """Write an (H, W) uint16 Bayer mosaic as an uncompressed 16-bit DNG that LibRaw reads back exactly.

    ``cfa``: RGGB, BGGR, GRBG or GBRG (colours at (0,0), (0,1), (1,0), (1,1)).
    ``black``: one level, or four in PACKED_ORDER (R, Gr, B, Gb), written as a 2x2 BlackLevel pattern.
    ``orientation``: EXIF/TIFF orientation 1..8 (3 = 180, 6 = 90 CW, 8 = 90 CCW).
    ``color_matrix``: DNG ColorMatrix1 (XYZ D65 -> camera RGB); default makes camera RGB = linear sRGB.
    ``as_shot_neutral``: the camera RGB of a neutral grey (the inverse of the white-balance gains);
    default (1, 1, 1). ``exif`` / ``gps``: tags of an EXIF and a GPS sub-IFD, code -> value
    (str: ASCII; int: SHORT; Fraction: RATIONAL, SRATIONAL when negative; a tuple of Fractions;
    bytes: BYTE). The file is written atomically (temporary file, then rename).
    """
    _, _, Tag, Photometric, _ = _pidng()
    cfa = check_cfa(cfa)
    data = np.asarray(mosaic)
    if data.ndim != 2:
        raise UsageError(f"a Bayer mosaic must be 2-D (H, W), got shape {data.shape}")
    data = _uint16(data, "mosaic")
    levels = [int(black)] * 4 if np.ndim(black) == 0 else [int(b) for b in black]  # type: ignore[arg-type]
    if len(levels) != 4:
        raise UsageError(f"black must be one level or four in {PACKED_ORDER} order, got {black!r}")
    # BlackLevel with BlackLevelRepeatDim 2x2 is stored by position in the 2x2 cell, row-major.
    by_position = [0] * 4
    for level, (dy, dx) in zip(levels, cfa_offsets(cfa)):
        by_position[2 * dy + dx] = level
    layout = [
        (Tag.PhotometricInterpretation, Photometric.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, 16),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, [{"R": 0, "G": 1, "B": 2}[c] for c in cfa]),
        (Tag.BlackLevelRepeatDim, [2, 2]),
        (Tag.BlackLevel, by_position),
    ]
    return _write_dng(path, data, layout, levels, white, orientation=orientation, camera=camera,
                      color_matrix=color_matrix, as_shot_neutral=as_shot_neutral, exif=exif, gps=gps)


def write_linear_dng(path: str | Path, rgb: np.ndarray, *, white: int, black: int = 0, **tags: object) -> Path:
    """Write an (H, W, 3) uint16 picture as a linear DNG (PhotometricInterpretation LinearRaw,
    three samples per pixel: already demosaiced, as phones and DNG converters write them).
    ``tags``: :func:`write_bayer_dng`'s keywords orientation, camera, color_matrix,
    as_shot_neutral, exif and gps."""
    _, _, Tag, _, _ = _pidng()
    data = np.asarray(rgb)
    if data.ndim != 3 or data.shape[2] != 3:
        raise UsageError(f"a linear DNG holds (H, W, 3) pixels, got shape {data.shape}")
    data = _uint16(data, "picture")
    layout = [
        (Tag.PhotometricInterpretation, 34892),  # LinearRaw
        (Tag.SamplesPerPixel, 3),
        (Tag.BitsPerSample, [16, 16, 16]),
        (Tag.BlackLevel, int(black)),
    ]
    return _write_dng(path, data, layout, [int(black)], white, **tags)  # type: ignore[arg-type]


def _write_dng(path: str | Path, data: np.ndarray, layout: list, levels: list[int], white: int, *,
               orientation: int = 1, camera: str = "rawcolour synthetic", color_matrix: np.ndarray | None = None,
               as_shot_neutral: Sequence[float] | None = None, exif: Mapping[int, object] | None = None,
               gps: Mapping[int, object] | None = None) -> Path:
    """The tags every DNG here shares (size, orientation, levels, colour, camera, EXIF), then pidng."""
    RAW2DNG, DNGTags, Tag, _, Illuminant = _pidng()  # pidng adds DNGVersion, NewSubfileType
    if not 1 <= int(orientation) <= 8:
        raise UsageError(f"orientation must be an EXIF orientation 1..8, got {orientation}")
    if not 0 < int(white) <= 65535 or max(levels) >= int(white) or min(levels) < 0:
        raise UsageError(f"levels must satisfy 0 <= black < white <= 65535, got black {levels}, white {white}")
    matrix = _XYZ_TO_SRGB if color_matrix is None else np.asarray(color_matrix, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise UsageError(f"color_matrix must be a finite 3x3 matrix, got shape {matrix.shape}")
    neutral = (1.0, 1.0, 1.0) if as_shot_neutral is None else tuple(float(v) for v in as_shot_neutral)
    if len(neutral) != 3 or not all(v > 0 for v in neutral):
        raise UsageError(f"as_shot_neutral must be three positive numbers, got {as_shot_neutral!r}")

    height, width = data.shape[:2]
    make, _, model = str(camera).strip().partition(" ")
    tags = DNGTags()
    for tag, value in [
        (Tag.ImageWidth, width), (Tag.ImageLength, height), (Tag.TileWidth, width), (Tag.TileLength, height),
        (Tag.Orientation, int(orientation)), *layout, (Tag.WhiteLevel, int(white)),
        (Tag.ColorMatrix1, _rationals(matrix.ravel(), signed=True)), (Tag.CalibrationIlluminant1, Illuminant.D65),
        (Tag.AsShotNeutral, _rationals(neutral, signed=False)), (Tag.Make, make or "rawcolour"),
        (Tag.Model, model or make or "synthetic"), (Tag.UniqueCameraModel, str(camera) or "rawcolour synthetic"),
    ]:
        tags.set(tag, value)
    sub_ifds = [_sub_ifd(code, entries) for code, entries in ((34665, exif), (34853, gps)) if entries]
    writer = RAW2DNG()
    writer.options(_WithSubIfds(tags, sub_ifds) if sub_ifds else tags, path="", compress=False)
    buf = writer.convert(np.ascontiguousarray(data))

    out = Path(path)
    atomic_write_bytes(out, bytes(buf), what="DNG")
    return out


def _pidng_tag(code: int, value: object) -> object:
    """A pidng tag of the TIFF type the value implies."""
    from pidng.dng import Type, dngTag

    if isinstance(value, str):
        return dngTag((code, Type.Ascii), value)
    if isinstance(value, bytes):
        return dngTag((code, Type.Byte), list(value))
    if isinstance(value, int):
        return dngTag((code, Type.Short), [value])
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    fractions = [Fraction(v).limit_denominator(1_000_000) for v in items]  # type: ignore[arg-type]
    kind = Type.Srational if any(f < 0 for f in fractions) else Type.Rational
    return dngTag((code, kind), [[f.numerator, f.denominator] for f in fractions])


def _sub_ifd(pointer: int, entries: Mapping[int, object]) -> object:
    """A pointer tag to a sub-IFD holding ``entries`` (pidng's own IFD tag type cannot be set)."""
    from pidng.dng import Type, dngIFD, dngTag

    ifd = dngIFD()
    ifd.tags = [_pidng_tag(code, value) for code, value in sorted(entries.items())]
    tag = dngTag((pointer, Type.Long), [0])
    tag.subIFD = ifd  # pidng writes the sub-IFD after the tag and points the tag at it
    return tag


class _WithSubIfds:
    """pidng's tag list with sub-IFD pointer tags added."""

    def __init__(self, tags: object, extra: list) -> None:
        self._tags, self._extra = tags, extra

    def __getattr__(self, name: str) -> object:
        return getattr(self._tags, name)

    def list(self) -> list:
        return self._tags.list() + self._extra  # type: ignore[attr-defined]


__all__ = ["write_bayer_dng", "write_linear_dng", "MIN_DNG_SIDE"]
