"""The packed PNG datasets' RAW files, read into the project's packed layout (a RawPicture):

- Zurich RAW-to-RGB (PyNET): a one-channel 16-bit PNG Bayer mosaic, :func:`read_zurich_png`;
- RAW2RGB-GAN: a packed 4-channel 8-bit RGBA PNG (R, G, B, G), :func:`read_rawgan_png`.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from rawcolour.data.names import ZURICH_WHITE
from rawcolour.errors import InputError, UsageError
from rawcolour.io.files import check_input_file
from rawcolour.io.images import DEFAULT_MAX_PIXELS, open_picture, verify_png
from rawcolour.io.mosaic import check_cfa, normalise_packed, pack_bayer
from rawcolour.io.raw import RawPicture


def _read_png(path: str | Path, max_pixels: int | None = None) -> tuple[np.ndarray, str, Path]:
    p = check_input_file(path)
    with open_picture(p, max_pixels or DEFAULT_MAX_PIXELS) as (im, fh, _head):
        if im.format == "PNG":
            verify_png(fh, p)  # chunk CRCs, IDAT included
        try:
            mode = im.mode
            arr = np.asarray(im)
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as err:
            raise InputError(f"cannot decode the image ({err})", path=p,
                             hint="the file is corrupt or not a PNG") from None
    return arr, mode, p




def check_levels(black: float, white: float) -> None:
    """The black and white levels of a Zurich mosaic (--black, --white): white above black."""
    if not white > black:
        raise UsageError(f"--white {white:g} must be above --black {black:g}",
                         hint="give the mosaics' black and white levels (--black, --white)")


def read_zurich_png(path: str | Path, cfa: str = "RGGB", black: float = 0.0, white: float = ZURICH_WHITE,
                    max_pixels: int | None = None) -> RawPicture:
    """Zurich RAW-to-RGB: a 1-channel 16-bit PNG Bayer mosaic (10-bit data, white at ZURICH_WHITE)."""
    cfa = check_cfa(cfa)
    check_levels(black, white)
    arr, mode, p = _read_png(path, max_pixels)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"expected a one-channel integer Bayer PNG, got mode {mode} with shape {arr.shape}",
            path=p,
            hint="4-channel RGBA packed PNGs are the RAW2RGB-GAN format",
        )
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError(f"image too small ({arr.shape[1]}x{arr.shape[0]})", path=p)
    planes = pack_bayer(arr, cfa)
    levels = (float(black),) * 4
    return RawPicture(
        packed=normalise_packed(planes, levels, float(white)),
        cfa=cfa,
        black_levels=levels,  # type: ignore[arg-type]
        white_level=float(white),
        path=p,
    )


def read_rawgan_png(path: str | Path, max_pixels: int | None = None) -> RawPicture:
    """RAW2RGB-GAN: a packed 4-channel 8-bit RGBA PNG (R, G, B, G); packed = x / 256.

    Dividing by 256 (not 255) makes the models' input 2*packed - 1 equal the dataset's
    (x - 128) / 128 exactly.
    """
    arr, mode, p = _read_png(path, max_pixels)
    with open(p, "rb") as f:
        head = f.read(25)
    # Pillow silently narrows 16-bit RGBA PNGs to 8 bits; the IHDR bit depth (byte 24) tells.
    deep = head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] != 8
    if deep or mode != "RGBA" or arr.ndim != 3 or arr.shape[2] != 4 or arr.dtype != np.uint8:
        raise InputError(
            f"expected a 4-channel 8-bit RGBA PNG (R, G, B, G), got mode {mode}"
            f"{' (16-bit)' if deep else ''} with shape {arr.shape}",
            path=p,
        )
    packed = np.ascontiguousarray(arr.transpose(2, 0, 1)).astype(np.float32) / np.float32(256.0)
    return RawPicture(
        packed=packed,
        cfa="RGGB",
        black_levels=(0.0, 0.0, 0.0, 0.0),
        white_level=256.0,
        path=p,
    )
