"""Output colour spaces of ``raw2rgb``: primaries, white point, transfer curve and ICC profile.

Every developer hands over linear light in sRGB primaries (D65), not clipped below 0, so colours
outside sRGB survive into a wider space. :func:`encode_linear_srgb` takes it to the chosen space:
a 3x3 matrix, clipping to the space's gamut, then the space's transfer curve.

The ICC profiles are made by LittleCMS (Pillow's ImageCms for sRGB; imagecodecs, which bundles
LittleCMS, for the others), and the conversion matrices are read back from those same profiles:
ICC stores each profile's primaries adapted to its D50 connection space with the Bradford
transform, so ``inverse(target colorants) @ sRGB colorants`` is the Bradford-adapted conversion
(sRGB D65 -> ProPhoto D50) or, between two D65 spaces, the plain one. The pixels therefore agree
with the embedded profile by construction.

| name | primaries, white | curve | profile description |
|---|---|---|---|
| ``srgb`` | sRGB, D65 | sRGB (IEC 61966-2-1) | "sRGB built-in" (ICC v4) |
| ``adobe-rgb`` | Adobe RGB (1998), D65 | gamma 563/256 (2.2) | "Adobe RGB (compatible)" (ICC v2) |
| ``prophoto`` | ROMM RGB, D50 | gamma 1.8 | "RGB built-in" (ICC v4; LittleCMS's name) |
| ``linear-srgb`` | sRGB, D65 | linear | "Linear RGB" (ICC v4; "RGB built-in" before imagecodecs 2026.3) |
"""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rawcolour.errors import UsageError
from rawcolour.io.pixels import dtype_for

__all__ = ["COLOUR_SPACES", "ColourSpace", "apply_matrix", "encode_linear_srgb", "get_colour_space", "icc_profile",
           "matrix_from_linear_srgb"]

D50_XY = (0.3457, 0.3585)
D65_XY = (0.3127, 0.3290)
SRGB_PRIMARIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06)  # IEC 61966-2-1: red, green, blue xy
# ROMM RGB (ProPhoto) primaries, ISO 22028-2: red, green, blue xy.
ROMM_PRIMARIES = (0.7347, 0.2653, 0.1596, 0.8404, 0.0366, 0.0001)
ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998) specifies 2 + 51/256
PROPHOTO_GAMMA = 1.8


def _srgb_curve(x: np.ndarray) -> np.ndarray:
    from rawcolour.camera_colour import srgb_encode

    return srgb_encode(x)


def _power_curve(gamma: float) -> Callable[[np.ndarray], np.ndarray]:
    def encode(x: np.ndarray) -> np.ndarray:
        return np.power(x, np.float32(1.0 / gamma), dtype=np.float32)

    return encode


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _imagecodecs_profile(name: str, **kw: object) -> Callable[[], bytes]:
    def make() -> bytes:
        import imagecodecs

        return bytes(imagecodecs.cms_profile(name, **kw))

    return make


def _linear_srgb_profile() -> bytes:
    import imagecodecs

    try:
        return bytes(imagecodecs.cms_profile("linearrgb"))  # "Linear RGB": imagecodecs 2026.3 and later
    except ValueError:  # older imagecodecs (the last for Python 3.10): the same profile, LittleCMS's name
        return bytes(imagecodecs.cms_profile("rgb", whitepoint=D65_XY, primaries=SRGB_PRIMARIES, gamma=1.0))


@dataclass(frozen=True)
class ColourSpace:
    """An output colour space: its name on the command line, what it is, its curve and profile."""

    name: str
    title: str  # in words, for the help and notes
    encode: Callable[[np.ndarray], np.ndarray]  # linear light in [0, 1] -> encoded values in [0, 1]
    make_profile: Callable[[], bytes]  # the ICC profile bytes (LittleCMS)
    exif_colour_space: int  # EXIF ColorSpace: 1 = sRGB, 0xFFFF = uncalibrated (anything else)
    min_bits: int = 8  # fewer bits than this band visibly (linear light needs 16)


COLOUR_SPACES: dict[str, ColourSpace] = {
    space.name: space
    for space in (
        ColourSpace("srgb", "sRGB", _srgb_curve, _srgb_profile, 1),
        ColourSpace("adobe-rgb", "Adobe RGB (1998)", _power_curve(ADOBE_GAMMA), _imagecodecs_profile("adobergb"),
                    0xFFFF),
        ColourSpace("prophoto", "ProPhoto RGB (ROMM, D50)", _power_curve(PROPHOTO_GAMMA),
                    _imagecodecs_profile("rgb", whitepoint=D50_XY, primaries=ROMM_PRIMARIES, gamma=PROPHOTO_GAMMA),
                    0xFFFF),
        ColourSpace("linear-srgb", "linear sRGB", _identity, _linear_srgb_profile, 0xFFFF, min_bits=16),
    )
}


def get_colour_space(name: str | ColourSpace) -> ColourSpace:
    """A colour space by its name (``srgb``, ``adobe-rgb``, ``prophoto``, ``linear-srgb``)."""
    if isinstance(name, ColourSpace):
        return name
    key = str(name).strip().lower()
    if key not in COLOUR_SPACES:
        raise UsageError(f"unknown colour space {name!r}", hint=f"use one of {', '.join(COLOUR_SPACES)}")
    return COLOUR_SPACES[key]


# ICC header dateTime (bytes 24-35: year, month, day, hour, minute, second as big-endian uint16).
# LittleCMS stamps the time a profile is made; a fixed stamp keeps every output byte-reproducible.
_ICC_DATE = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)


@functools.lru_cache(maxsize=None)
def icc_profile(name: str) -> bytes:
    """The ICC profile of a colour space, made by LittleCMS (cached), with a fixed creation date."""
    profile = bytearray(get_colour_space(name).make_profile())
    profile[24:36] = _ICC_DATE  # the profile ID (bytes 84-99) is left unset (zero) by LittleCMS
    return bytes(profile)


def _colorants(profile: bytes) -> np.ndarray:
    """3x3 matrix whose columns are the profile's red, green and blue colorants (XYZ, D50-adapted)."""
    from PIL import ImageCms

    p = ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile
    return np.array([p.red_colorant[0], p.green_colorant[0], p.blue_colorant[0]], dtype=np.float64).T


@functools.lru_cache(maxsize=None)
def matrix_from_linear_srgb(name: str) -> np.ndarray:
    """3x3 matrix: linear sRGB -> the linear RGB of colour space ``name`` (Bradford-adapted, see above)."""
    space = get_colour_space(name)
    if space.name in ("srgb", "linear-srgb"):
        return np.eye(3)
    return np.linalg.solve(_colorants(icc_profile(space.name)), _colorants(icc_profile("srgb")))


def apply_matrix(pixels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., 3) pixels of any numeric type -> float32 (..., 3) with each pixel multiplied by the
    3x3 ``matrix`` (the column-vector convention: ``matrix @ rgb``).

    Multiplies by the transpose in C order: numpy's ``pixels @ matrix.T`` with a transposed
    (Fortran-order) float32 matrix takes a slow path, about 100x slower on 12 MP.
    """
    pixels = np.asarray(pixels)
    flat = pixels.reshape(-1, 3).astype(np.float32, copy=False)
    return (flat @ np.ascontiguousarray(np.asarray(matrix).T, dtype=np.float32)).reshape(pixels.shape)


# The curves are applied through a table of this many steps over [0, 1] (linear light): a step is
# 1e-6, under one 16-bit code of the encoded value even on the sRGB curve's steep toe, and a
# lookup is several times faster than the power function on a 12 MP picture.
_CURVE_STEPS = 1 << 20
# Pixels converted at a time: the strip and its lookup indices stay in the CPU caches.
_STRIP_PIXELS = 1 << 16


@functools.lru_cache(maxsize=None)
def _curve_table(name: str) -> np.ndarray:
    x = np.linspace(0.0, 1.0, _CURVE_STEPS + 1, dtype=np.float64)
    return get_colour_space(name).encode(x).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _code_table(name: str, bit_depth: int) -> np.ndarray:
    """The curve table as 8- or 16-bit codes, rounded as rawcolour.io.pixels.from_float rounds."""
    dtype = {8: np.uint8, 16: np.uint16}[bit_depth]
    top = np.float32(np.iinfo(dtype).max)
    return np.rint(np.clip(_curve_table(name), 0.0, 1.0) * top).astype(dtype)


def encode_linear_srgb(linear: np.ndarray, space: str | ColourSpace, *, to_srgb: np.ndarray | None = None,
                       bit_depth: int | None = None) -> np.ndarray:
    """(H, W, 3) linear light in sRGB primaries (may hold values below 0 or above 1) -> the colour
    space's encoded values, clipped to its gamut: float32 (H, W, 3) in [0, 1]. Done in strips of
    rows, so memory beyond the input and the output stays small.

    ``to_srgb``: a 3x3 matrix taking the input's values to linear sRGB first (e.g. LibRaw's 16-bit
    ProPhoto pixels, with their scale and brightness), folded into the conversion; the input may
    then be of any numeric type. ``bit_depth`` 8 or 16: uint8 / uint16 codes instead, exactly
    those io.pixels.from_float makes of the float result, without a full-size float picture.
    NaN values come out as 0 (black).
    """
    space = get_colour_space(space)
    x = np.asarray(linear)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"linear light must be (H, W, 3), got shape {x.shape}")
    if bit_depth is not None:
        dtype_for(bit_depth)  # 8 or 16
    matrix = matrix_from_linear_srgb(space.name)
    if to_srgb is not None:
        matrix = matrix @ np.asarray(to_srgb, dtype=np.float64)
    matrix = None if np.array_equal(matrix, np.eye(3)) else matrix
    table = _curve_table(space.name) if bit_depth is None else _code_table(space.name, bit_depth)
    out = np.empty(x.shape, dtype=table.dtype)
    rows = max(1, _STRIP_PIXELS // max(1, x.shape[1]))
    for r0 in range(0, x.shape[0], rows):
        strip = x[r0 : r0 + rows].astype(np.float32, copy=matrix is None)  # a copy: clipped in place below
        if matrix is not None:
            strip = apply_matrix(strip, matrix)
        np.clip(strip, 0.0, 1.0, out=strip)
        strip *= np.float32(_CURVE_STEPS)
        # mode="clip" spares numpy's buffered copy of ``out`` that the default mode makes (several
        # times slower); the indices are in range, except NaN's, which it takes to code 0.
        np.take(table, np.rint(strip).astype(np.int32), out=out[r0 : r0 + rows], mode="clip")
    return out
