"""Decode dispatch: one input file -> the picture a task's pipeline takes (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

from rawcolour.errors import InputError, UsageError
from rawcolour.io.files import open_regular
from rawcolour.io.images import DEFAULT_MAX_PIXELS, Picture, read_image
from rawcolour.io.packed_png import ZURICH_WHITE, read_rawgan_png, read_zurich_png
from rawcolour.io.raw import RawPicture, is_raw_path, read_raw
from rawcolour.tasks import get_task

RAW_FORMATS = ("auto", "camera", "zurich", "rawgan")


def check_raw_format(raw_format: str) -> str:
    """``raw_format`` in lower case if it is one of RAW_FORMATS, else a UsageError."""
    fmt = str(raw_format).lower()
    if fmt not in RAW_FORMATS:
        raise UsageError(f"unknown RAW format {raw_format!r}", hint=f"use one of {', '.join(RAW_FORMATS)}")
    return fmt


def load_input(task: str, path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, raw_format: str = "auto",
               cfa: str = "RGGB", black: float = 0.0, white: float = ZURICH_WHITE) -> Picture | RawPicture:
    """Decode one input file for `task`: an ordinary image (colourise) or, for raw2rgb, a camera
    RAW (LibRaw), a Zurich 1-channel 16-bit Bayer PNG or a RAW2RGB-GAN 4-channel 8-bit packed PNG.

    ``raw_format='auto'`` decides by the suffix (camera RAW suffixes) and the PNG header (grey
    16-bit: zurich; RGBA 8-bit: rawgan). ``max_pixels`` bounds ordinary images and PNG mosaics
    before decoding, and camera RAW files by their sensor size once LibRaw has read the file (it
    bounds what it decodes itself).
    """
    path = Path(path)
    if get_task(task).inputs == "pictures":
        return read_image(path, max_pixels=max_pixels)
    fmt = check_raw_format(raw_format)
    if fmt == "auto":
        if is_raw_path(path):
            fmt = "camera"
        elif path.suffix.lower() == ".png":
            fmt = _png_raw_layout(path)
        else:
            raise InputError(
                "not a RAW input: raw2rgb reads camera RAW files (.dng, .nef, .cr2, ...), Zurich 1-channel "
                "16-bit Bayer PNGs and RAW2RGB-GAN 4-channel packed PNGs", path=path,
                hint="for an ordinary picture use `rawcolour colourise`; name the format with --raw-format")
    if fmt == "camera":
        return read_raw(path, max_pixels=max_pixels)
    if is_raw_path(path):  # a camera RAW file read as a PNG mosaic would be called a TIFF we cannot read
        raise InputError(f"a camera RAW file, but --raw-format {fmt} reads PNG mosaics", path=path,
                         hint="use --raw-format camera, or auto (the default)")
    if fmt == "zurich":
        return read_zurich_png(path, cfa=cfa, black=black, white=white, max_pixels=max_pixels)
    return read_rawgan_png(path, max_pixels=max_pixels)


def _png_header(path: Path) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR, or None if it is not a PNG."""
    try:
        with os.fdopen(open_regular(path), "rb") as f:  # never blocks on a FIFO
            head = f.read(26)
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror or err})", path=path) from None
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[24], head[25]


def _png_raw_layout(path: Path) -> str:
    header = _png_header(path)
    if header is None:
        if path.exists() and path.stat().st_size == 0:
            raise InputError("empty file (0 bytes)", path=path, hint="copy or export the file again")
        raise InputError("not a PNG file (corrupt, or another format with a .png name)", path=path,
                         hint="copy or export the file again, or give it the extension of its real format")
    _w, _h, depth, colour = header
    if colour == 0 and depth == 16:
        return "zurich"
    if colour == 6 and depth == 8:
        return "rawgan"
    kinds = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
    raise InputError(
        f"a {depth}-bit {kinds.get(colour, 'unknown')} PNG is neither a Zurich Bayer PNG (1-channel 16-bit) "
        "nor a RAW2RGB-GAN packed PNG (RGBA 8-bit)", path=path,
        hint="ordinary pictures go to `rawcolour colourise`; name the format with --raw-format")


__all__ = ["RAW_FORMATS", "check_raw_format", "load_input"]
