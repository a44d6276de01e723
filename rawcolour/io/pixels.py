"""Pixel sample formats: uint8 / uint16 codes <-> float32 in [0, 1], and changes of bit depth.

Conversions of whole pictures run in row strips through one small scratch buffer: a 12 MP picture
needs no full-size float temporaries, and the passes stay in the CPU caches.
"""

from __future__ import annotations

import numpy as np

from rawcolour.errors import UsageError

__all__ = ["dtype_for", "from_float", "to_depth", "to_float"]

# Values per strip of the bit-depth conversions: the scratch buffer stays in the CPU caches.
_STRIP_ITEMS = 1 << 16


def to_float(pixels: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """uint8 / uint16 pixels -> float in [0, 1] (float32, or ``dtype``); float pixels are clipped to [0, 1].

    Always a new array: the input is never modified.
    """
    if pixels.dtype in (np.uint8, np.uint16):
        return pixels.astype(dtype) / np.dtype(dtype).type(np.iinfo(pixels.dtype).max)
    if np.issubdtype(pixels.dtype, np.floating):
        out = pixels.astype(dtype)  # a copy
        return np.clip(out, 0.0, 1.0, out=out)
    raise TypeError(f"pixels must be uint8, uint16 or float. Got {pixels.dtype}")


def from_float(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (8) or uint16 (16), rounded to nearest, clipped; NaN -> 0.

    Converted in row strips through one small scratch buffer (no full-size float temporaries:
    a 12 MP picture would need four of 144 MB each, and the passes would run from main memory).
    """
    arr = np.asarray(arr)
    dtype = dtype_for(bit_depth)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"from_float expects a floating-point array. Got {arr.dtype}")
    top = np.iinfo(dtype).max
    out = np.empty(arr.shape, dtype=dtype)
    if arr.ndim == 0 or arr.size == 0:
        out[...] = np.rint(np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0) * top)
        return out
    # float16 cannot hold 65535: scale in float32 (float32 and float64 are kept as they are)
    work = arr.dtype if arr.dtype.itemsize >= 4 else np.dtype(np.float32)
    row_items = max(1, arr[0].size)
    rows = max(1, _STRIP_ITEMS // row_items)
    scratch = np.empty((min(rows, arr.shape[0]),) + arr.shape[1:], dtype=work)
    for r0 in range(0, arr.shape[0], rows):
        src = arr[r0 : r0 + rows]
        buf = scratch[: src.shape[0]]
        np.clip(src, 0.0, 1.0, out=buf)  # NaN stays NaN here, +-inf become 1 and 0
        buf *= top
        np.rint(buf, out=buf)
        np.nan_to_num(buf, copy=False, nan=0.0)
        out[r0 : r0 + rows] = buf
    return out


def dtype_for(bit_depth: int) -> type[np.unsignedinteger]:
    """numpy's uint8 for 8 bits, uint16 for 16; a UsageError for any other depth."""
    if bit_depth == 8:
        return np.uint8
    if bit_depth == 16:
        return np.uint16
    raise UsageError(f"bit depth {bit_depth!r} is not supported", hint="use 8 or 16")


def to_depth(pixels: np.ndarray, bit_depth: int | None) -> np.ndarray:
    """Pixels of any supported dtype -> uint8 / uint16 at ``bit_depth`` (None: keep the dtype's)."""
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array. Got {type(pixels)}")
    if np.issubdtype(pixels.dtype, np.floating):
        if bit_depth is None:
            raise UsageError("float pixels need an explicit bit_depth", hint="pass bit_depth=8 or 16")
        return from_float(pixels, bit_depth)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"pixels must be uint8, uint16 or float. Got {pixels.dtype}")
    have = 8 if pixels.dtype == np.uint8 else 16
    want = have if bit_depth is None else bit_depth
    dtype_for(want)
    if want == have:
        return pixels
    if want == 16:
        return pixels.astype(np.uint16) * np.uint16(257)  # 255 -> 65535 exactly
    out = np.empty(pixels.shape, dtype=np.uint8)
    rows = max(1, _STRIP_ITEMS // max(1, pixels[0].size)) if pixels.ndim else 1
    for r0 in range(0, max(1, pixels.shape[0] if pixels.ndim else 1), rows):
        wide = pixels[r0 : r0 + rows].astype(np.uint32)
        wide *= 255
        wide += 32767
        wide //= 65535  # round(x * 255 / 65535)
        out[r0 : r0 + rows] = wide
    return out
