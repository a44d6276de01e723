"""Read and write ordinary image files: 8/16-bit, metadata carry-over, atomic writes.

Reading: Pillow opens every file and parses its header (size, EXIF, ICC) first, so the pixel
limit is checked before anything is decoded. Pillow then decodes 8-bit images and 16-bit grey;
16-bit colour (and 16-bit grey+alpha) goes to OpenCV, because Pillow silently truncates 48/64-bit
PNG and TIFF to 8 bits per channel.

Alpha is not kept: transparent and partly transparent pixels are composited over white (what a
viewer shows on a white page), because the colour under a fully transparent pixel is arbitrary,
often black, and would otherwise leak into the result. Opaque pixels are unchanged.

Writing: the output is always upright (EXIF Orientation 1), carries the input's EXIF and ICC
profile, and records provenance; how each format keeps them is rawcolour.io.metadata's job.
PNG: OpenCV encodes 8/16-bit grey/RGB. TIFF: tifffile (deflate + horizontal predictor, 256 x 256
tiles compressed on every core). JPEG (8-bit only): Pillow, 4:4:4 chroma (chroma is what these
models produce).

Library code never prints: problems are :mod:`rawcolour.errors` exceptions naming the file.

Notes:
- Every Pillow open goes through ``open_picture``: regular files only, Pillow's process-wide
  ``Image.MAX_IMAGE_PIXELS`` set from ``max_pixels`` while the file is opened and decoded (then
  restored), our own header check first and Pillow's (at twice that) as a second guard. Every PNG
  has its chunk CRCs verified, IDAT included, before it is decoded.
- OpenCV decodes 16-bit TIFF through libtiff, which applies the TIFF Orientation tag itself;
  for 16-bit PNG we apply the EXIF orientation, read from an ``eXIf`` chunk before ``IDAT``
  (where Pillow, exiftool and our writer put it).
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms, UnidentifiedImageError

from rawcolour.errors import InputError, OutputError, UsageError
from rawcolour.io import metadata
from rawcolour.io.files import atomic_write_bytes, open_regular
from rawcolour.io.pixels import to_depth
from rawcolour.io.png import png_stream
from rawcolour.io.metadata import read_metadata_provenance

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_QUALITY",
    "FORMAT_NAMES",
    "IMAGE_EXTENSIONS",
    "OUTPUT_EXTENSIONS",
    "Picture",
    "encode_image",
    "format_for_path",
    "normalise_format",
    "open_picture",
    "pillow_limit",
    "read_image",
    "read_metadata_provenance",
    "write_image",
]

# 250 MP: above 200 MP phone sensors and large film scans, below what makes a bomb dangerous
# (250 MP of 16-bit RGB is 1.5 GB decoded, 3 GB as float32).
DEFAULT_MAX_PIXELS = 250_000_000

# Lower-case suffixes of the files read_image is meant for (the batch CLI globs these).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})

# Output formats: each spelling taken (--format, a file's suffix) -> the format's name, its suffix
# for names rawcolour makes, and JPEG's quality when none is given.
FORMAT_NAMES = {"png": "png", "tif": "tiff", "tiff": "tiff", "jpg": "jpg", "jpeg": "jpg"}
OUTPUT_EXTENSIONS = {"png": ".png", "tiff": ".tif", "jpg": ".jpg"}
DEFAULT_QUALITY = 95
# PNG: rawcolour.io.png (the Sub filter, zlib's run-length strategy; strips compressed on every core).
# TIFF: deflate (tag 8, which every TIFF reader knows, unlike zstd: OpenCV's and Photoshop's
# libtiff cannot read it) with the horizontal predictor, in 256 x 256 tiles compressed on every
# core (tifffile + imagecodecs' libdeflate). Level 1: as small as level 6 on 16-bit photos
# (63.2 against 63.5 MB at 12 MP) in 0.6 s against 0.85 s (benchmarks/throughput.py, "tiff_settings").
_TIFF_TILE = (256, 256)
_TIFF_DEFLATE_LEVEL = 1
_PILLOW_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# First bytes of the formats read_image reads (WebP: RIFF....WEBP): a file that starts like one but
# cannot be opened is a broken picture, not another kind of file.
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")  # little- and big-endian
# Signatures no line of text starts with: PNG, JPEG, TIFF (a DNG is one)
BINARY_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", *TIFF_SIGNATURES)
_SIGNATURES = (*BINARY_SIGNATURES, b"BM")


@dataclass
class Picture:
    """A decoded image, upright, without alpha, with the metadata to carry into outputs."""

    pixels: np.ndarray  # (H, W) grey or (H, W, 3) RGB, uint8 or uint16, EXIF orientation applied
    bit_depth: int  # 8 or 16
    exif: bytes | None  # EXIF block starting b"Exif\0\0", Orientation reset to 1; None if absent
    icc_profile: bytes | None
    path: Path | None = None
    notes: tuple[str, ...] = ()  # what a user should know about how it was read

    @property
    def is_grey(self) -> bool:
        """True for a one-channel (H, W) picture."""
        return self.pixels.ndim == 2


# --------------------------------------------------------------------------- formats


def normalise_format(name: str) -> str:
    """'png' | 'tif' | 'tiff' | 'jpg' | 'jpeg' (any case, optional dot) -> 'png' | 'tiff' | 'jpg'."""
    key = str(name).lower().lstrip(".")
    if key not in FORMAT_NAMES:
        raise UsageError(f"unknown output format '{name}'", hint="use png, tiff or jpg")
    return FORMAT_NAMES[key]


def format_for_path(path: str | Path) -> str:
    """The output format a file name asks for, from its suffix."""
    suffix = Path(path).suffix
    if suffix.lower().lstrip(".") not in FORMAT_NAMES:
        raise UsageError(
            f"cannot tell the output format from the suffix '{suffix}'",
            path=path,
            hint="name the file .png, .tif/.tiff or .jpg/.jpeg, or pass --format",
        )
    return FORMAT_NAMES[suffix.lower().lstrip(".")]


# --------------------------------------------------------------------------- reading


@contextmanager
def _open_input(path: Path) -> Iterator[tuple[BinaryIO, bytes]]:
    """Open ``path`` for reading, turning every OS-level problem into one InputError line.

    Only regular files are opened (a FIFO or a device would block or never end; see
    rawcolour.io.files.open_regular).
    """
    fh = os.fdopen(open_regular(path), "rb")
    with fh:
        try:
            head = fh.read(64)
            fh.seek(0)
        except OSError as exc:
            problem = f"cannot read the file ({exc.strerror or exc})"
            raise InputError(problem, path=path, hint="check the disk") from None
        if not head:
            raise InputError("file is empty (0 bytes)", path=path, hint="re-copy or re-export it")
        yield fh, head


def size_in_words(width: int, height: int) -> str:
    """A picture's size as the --max-pixels error gives it: "6000x4000 = 24.0 megapixels"."""
    return f"{width}x{height} = {width * height / 1e6:.1f} megapixels"


def too_many_pixels(path: Path, size: str, max_pixels: int) -> InputError:
    """The error for a picture above ``--max-pixels`` (``size``: how big it is, in words)."""
    return InputError(f"image is {size}, more than the limit of {max_pixels / 1e6:g} megapixels", path=path,
                      hint="if you trust the file, raise the limit with --max-pixels")


@contextmanager
def pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit set from ``max_pixels`` while a file is opened and decoded.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and refuses above twice it; our own check (from
    the header, before decoding) refuses above ``max_pixels``, so the warning is silenced and
    Pillow's refusal stays as a second guard. ``None``: no limit (headers only, nothing decoded).
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@contextmanager
def open_picture(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS
                 ) -> Iterator[tuple[Image.Image, BinaryIO, bytes]]:
    """The one way rawcolour opens a picture file with Pillow: (image, file, first 64 bytes).

    A regular file only; its header parsed under :func:`pillow_limit`; a picture with more than
    ``max_pixels`` pixels refused from the header, before anything is decoded. Every problem is
    one InputError naming the file. Decode (``load``) inside the ``with``: the limit holds there.
    """
    path = Path(path)
    with _open_input(path) as (fh, head), pillow_limit(max_pixels):
        try:
            im = Image.open(fh)
        except UnidentifiedImageError:
            unsupported = _tiff_pillow_cannot_read(fh) if head.startswith(TIFF_SIGNATURES) else None
            if unsupported:  # a valid TIFF of a kind we do not read: say which, not "corrupt"
                raise InputError(f"TIFF with {unsupported[0]} is not supported", path=path,
                                 hint=unsupported[1]) from None
            if head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
                raise _corrupt(path, "its header cannot be parsed") from None  # e.g. cut inside a PNG chunk
            raise InputError(_not_an_image(head), path=path, hint="check that it is the file you meant") from None
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
            raise too_many_pixels(path, size, max_pixels or 0) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as exc:
            raise InputError(f"image header is corrupt ({exc})", path=path, hint="re-copy or re-export it") from None
        with im:
            width, height = im.size
            if max_pixels is not None and width * height > max_pixels:
                raise too_many_pixels(path, size_in_words(width, height), max_pixels)
            yield im, fh, head


def _tiff_pillow_cannot_read(fh: BinaryIO) -> tuple[str, str] | None:
    """(what, what to do) for a TIFF that Pillow cannot open but tifffile can parse: its first
    page's sample type and samples per pixel, or, where those are ones we read, its compression;
    None when tifffile cannot parse it either (it is corrupt)."""
    try:
        fh.seek(0)
        with tifffile.TiffFile(fh, name="picture.tif") as tif:  # fh.name is a descriptor
            page = tif.pages.first
            dtype, samples, bits = page.dtype, page.samplesperpixel, page.bitspersample
            if dtype.kind == "u" and 8 < bits < 16:  # 10-bit grey, 12-bit colour, 14-bit grey, ...
                return f"{bits}-bit unsigned integer samples, {samples} per pixel", "export it as 8- or 16-bit"
            if dtype.kind == "u" and dtype.itemsize in (1, 2) and samples in (1, 2, 3, 4):
                return (f"{page.compression.name} compression",
                        "re-save it uncompressed or with LZW, deflate or JPEG compression")
            kind = {"f": "floating-point", "i": "signed integer", "u": "unsigned integer"}.get(dtype.kind, str(dtype))
            return f"{dtype.itemsize * 8}-bit {kind} samples, {samples} per pixel", "export it as 8- or 16-bit grey or RGB"
    except Exception:  # noqa: BLE001 (only the wording of an error depends on it)
        return None


def verify_png(fh: BinaryIO, path: Path) -> None:
    """Every chunk of a PNG present and its CRC right, IDAT included (Pillow's decoder skips the
    IDAT CRCs, so a bit flipped in the pixel data would otherwise decode to garbage)."""
    start = fh.tell()
    try:
        fh.seek(0)
        with Image.open(fh) as check:
            check.verify()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise _corrupt(path, str(exc)) from None
    finally:
        fh.seek(start)


def _corrupt(path: Path, detail: str) -> InputError:
    return InputError(f"image data is truncated or corrupt ({detail})", path=path, hint="re-copy or re-export it")


def _not_an_image(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the sample is still text
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "is a text file, not an image"
    return "is not an image format this tool reads (PNG, JPEG, TIFF, BMP, WebP)"


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read an 8/16-bit grey, RGB, RGBA, palette or grey+alpha image, upright and without alpha.

    Raises InputError (one line naming the file) for a missing, unreadable, empty, truncated or
    non-image file, for anything but a regular file, for a PNG with a bad CRC or zlib stream, and
    for one with more than ``max_pixels`` pixels (checked from the header, before decoding).
    """
    path = Path(path)
    with open_picture(path, max_pixels) as (im, fh, head):
        width, height = im.size
        try:
            return _decode(im, fh, head, path)
        except MemoryError:
            raise InputError(
                f"not enough memory to decode a {width}x{height} image",
                path=path,
                hint="free memory or downscale it",
            ) from None


def _decode(im: Image.Image, fh: BinaryIO, head: bytes, path: Path) -> Picture:
    icc = im.info.get("icc_profile") or None
    bits = _stored_bits(im, head)
    if bits > 16:
        # 32-bit integer (or float) samples have no white level: scaling by the file's own range
        # would change its brightness from file to file, so we refuse rather than guess.
        raise InputError(f"{bits}-bit samples are not supported (no fixed white level to scale by)", path=path,
                         hint="export it as 8- or 16-bit")
    if im.format == "PNG":
        verify_png(fh, path)  # at every depth: CRCs of all chunks, IDAT included
    if bits == 16 and im.mode not in _PILLOW_16BIT_MODES:
        # 16-bit colour: Pillow would truncate it to 8 bits.
        exif = metadata.exif_from_tiff(im) if im.format == "TIFF" else metadata.upright_exif(im.info.get("exif"))
        orientation = 1 if im.format == "TIFF" else metadata.exif_orientation(im.info.get("exif"))  # libtiff applies TIFF's
        grey_source = im.format == "PNG" and head[25] in (0, 4)
        fh.seek(0)
        pixels = _cv2_decode(fh.read(), path)
        if pixels.ndim == 3:
            if grey_source and pixels.shape[2] >= 3:
                pixels = pixels[..., [0, 3]] if pixels.shape[2] == 4 else pixels[..., 0]
            elif pixels.shape[2] in (3, 4):
                pixels = pixels[..., [2, 1, 0, 3][: pixels.shape[2]]]  # BGR(A) -> RGB(A)
    else:
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as exc:
            raise _corrupt(path, str(exc)) from None
        exif = metadata.exif_from_tiff(im) if im.format == "TIFF" else metadata.upright_exif(im.info.get("exif"))
        orientation = metadata.pillow_orientation(im)
        pixels, icc = _pillow_pixels(im, icc, path)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"unsupported sample type {pixels.dtype}", path=path, hint="export it as 8- or 16-bit")
    if pixels.dtype == np.uint16 and 8 < bits < 16:
        pixels = _to_16_bits(pixels, bits, path)
    pixels = _orient(_flatten_alpha(pixels), orientation)
    bit_depth = 8 if pixels.dtype == np.uint8 else 16
    frames = _pictures_in_file(im)
    notes = (f"the file holds {frames} pictures (pages or frames); only the first was read",) if frames > 1 else ()
    return Picture(np.ascontiguousarray(pixels), bit_depth, exif, icc, path, notes)


_PAGES_LOOKED_AT = 64  # a TIFF with more pages is taken to hold that many pictures without looking


def _pictures_in_file(im: Image.Image) -> int:
    """Full pictures in a multi-page TIFF or an animated PNG / WebP (1 for anything else). A camera
    JPEG's preview (MPO) is not one, nor a TIFF's reduced-resolution page (NewSubfileType bit 0)."""
    frames = getattr(im, "n_frames", 1)
    if frames <= 1 or im.format not in ("TIFF", "PNG", "WEBP"):
        return 1
    if im.format != "TIFF" or frames > _PAGES_LOOKED_AT:
        return frames
    full = 0
    try:
        for i in range(frames):
            im.seek(i)
            full += not int(im.tag_v2.get(254, 0)) & 1
        im.seek(0)
    except (OSError, EOFError, ValueError, TypeError):  # only a note depends on it
        return frames
    return full


def _to_16_bits(pixels: np.ndarray, bits: int, path: Path) -> np.ndarray:
    """Samples of a 9- to 15-bit file (a 12-bit TIFF: Pillow unpacks them to uint16 values below
    2**bits) on the full 16-bit range, rounded, 0 and the file's white exactly 0 and 65535."""
    top = (1 << bits) - 1
    if pixels.size and int(pixels.max()) > top:  # not what the file says it holds: no sound scale
        raise InputError(f"{bits}-bit samples with values above {top}", path=path,
                         hint="export it as 8- or 16-bit")
    return ((pixels.astype(np.uint32) * 65535 + top // 2) // top).astype(np.uint16)


def _stored_bits(im: Image.Image, head: bytes) -> int:
    """Bits per sample as stored in the file (Pillow's mode may already have dropped some)."""
    if im.format == "PNG" and len(head) > 25:
        return head[24]  # IHDR bit depth, at a fixed offset
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (1,))
        try:
            return max(bits) if isinstance(bits, tuple) else int(bits)
        except (TypeError, ValueError):
            return 8
    return 8


def _cv2_decode(data: bytes, path: Path) -> np.ndarray:
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # errors become our InputError
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        pixels = None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if pixels is None:
        raise _corrupt(path, "OpenCV could not decode it")
    return pixels


def _pillow_pixels(im: Image.Image, icc: bytes | None, path: Path) -> tuple[np.ndarray, bytes | None]:
    """A loaded Pillow image -> (uint8/uint16 array, grey or colour, alpha last; ICC to carry)."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16), icc
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError("signed or 32-bit integer samples are not supported (values outside 0..65535)",
                             path=path, hint="export it as unsigned 8- or 16-bit")
        return arr.astype(np.uint16), icc
    if mode == "F":
        raise InputError("floating-point images are not supported", path=path, hint="export it as 8- or 16-bit")
    if mode == "CMYK":
        # Convert through the embedded CMYK profile when there is one; the result is sRGB, so the
        # CMYK profile must not travel with it.
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                im = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            except (ImageCms.PyCMSError, OSError):
                im = im.convert("RGB")
        else:
            im = im.convert("RGB")
        return np.asarray(im), None
    transparent = "transparency" in im.info
    if mode == "1":
        im = im.convert("L")
    elif mode in ("L", "LA", "RGB", "RGBA"):
        if transparent and mode in ("L", "RGB"):
            im = im.convert(mode + "A")
    elif mode == "La":
        im = im.convert("LA")
    else:  # P, PA, RGBX, RGBa, YCbCr, LAB, HSV, ...
        im = im.convert("RGBA" if transparent or "A" in mode or "a" in mode else "RGB")
    return np.asarray(im), icc


def _flatten_alpha(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 2) grey+alpha / (H, W, 4) RGBA -> grey / RGB composited over white."""
    if pixels.ndim == 2 or pixels.shape[2] in (1, 3):
        return pixels if pixels.ndim == 2 or pixels.shape[2] == 3 else pixels[..., 0]
    top = np.iinfo(pixels.dtype).max
    colour, alpha = pixels[..., :-1], pixels[..., -1:]
    if (alpha == top).all():
        out = colour
    else:
        # integer "over" in uint32: top * top + top // 2 < 2**32 even for 16 bits
        a = alpha.astype(np.uint32)
        out = ((colour.astype(np.uint32) * a + top * (top - a) + top // 2) // top).astype(pixels.dtype)
    return out[..., 0] if out.shape[2] == 1 else out


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF Orientation value (1..8), as Pillow's ImageOps.exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return ops[orientation](pixels) if orientation in ops else pixels


# --------------------------------------------------------------------------- writing


def encode_image(
    pixels: np.ndarray,
    fmt: str,
    *,
    bit_depth: int | None = None,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    provenance: dict[str, str] | None = None,
    quality: int = DEFAULT_QUALITY,
) -> bytes:
    """Encode (H, W) grey or (H, W, 3) RGB pixels as PNG / TIFF (8 or 16 bits) or JPEG (8 bits).

    ``pixels`` may be uint8, uint16 (rescaled exactly to ``bit_depth`` if it differs) or float in
    [0, 1] (then ``bit_depth`` is required). ``bit_depth=None`` keeps the dtype's depth. EXIF is
    written with Orientation 1 (pixels are upright); an ICC profile whose colour space does not
    match the pixels is left out. Provenance is recorded as described in the module docstring.
    """
    return b"".join(encoded_parts(pixels, fmt, bit_depth=bit_depth, exif=exif, icc_profile=icc_profile,
                                  provenance=provenance, quality=quality))


def encoded_parts(
    pixels: np.ndarray,
    fmt: str,
    *,
    bit_depth: int | None = None,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    provenance: dict[str, str] | None = None,
    quality: int = DEFAULT_QUALITY,
) -> Iterable[bytes]:
    """:func:`encode_image`'s bytes in pieces, made as they are consumed (a PNG is never whole in
    memory); bad arguments raise before the first piece."""
    fmt = normalise_format(fmt)
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array. Got {type(pixels)}")
    if not 1 <= quality <= 100:
        raise UsageError(f"JPEG quality {quality} is out of range", hint="use 1 to 100")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3) or pixels.size == 0:
        raise ValueError(f"pixels must have shape (H, W) or (H, W, 3). Got {pixels.shape}")
    if fmt == "jpg" and bit_depth == 16:
        raise UsageError(
            "JPEG holds only 8 bits per channel", hint="use --bit-depth 8, or --format png or tiff for 16 bits"
        )
    arr = np.ascontiguousarray(to_depth(pixels, 8 if fmt == "jpg" and bit_depth is None else bit_depth))
    meta = metadata.OutputMetadata.build(channels=1 if arr.ndim == 2 else 3, exif=exif, icc_profile=icc_profile,
                                         provenance=provenance)
    if fmt == "png":
        return png_stream(arr, metadata.png_metadata_chunks(meta))
    if fmt == "tiff":
        return (_encode_tiff(arr, meta),)
    return (_encode_jpeg(arr, meta, quality),)


def _encode_tiff(arr: np.ndarray, meta: metadata.OutputMetadata) -> bytes:
    keywords, subifds = metadata.tiff_metadata_tags(meta)
    out = io.BytesIO()
    tifffile.imwrite(
        out,
        arr,
        photometric="rgb" if arr.ndim == 3 else "minisblack",
        compression="zlib",
        compressionargs={"level": _TIFF_DEFLATE_LEVEL},
        predictor="horizontal",
        tile=_TIFF_TILE if min(arr.shape[:2]) >= _TIFF_TILE[0] else None,
        maxworkers=os.cpu_count() or 1,
        bigtiff=False,
        **keywords,
    )
    return metadata.link_tiff_sub_ifds(out.getvalue(), subifds)


def _encode_jpeg(arr: np.ndarray, meta: metadata.OutputMetadata, quality: int) -> bytes:
    try:
        options = metadata.jpeg_metadata_options(meta)
    except ValueError as err:
        raise OutputError(str(err), hint="write PNG or TIFF (--format) to keep it") from None
    options["quality"] = int(quality)
    if arr.ndim == 3:
        options["subsampling"] = 0  # 4:4:4
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "JPEG", **options)
    return out.getvalue()


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    fmt: str | None = None,
    *,
    bit_depth: int | None = None,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    provenance: dict[str, str] | None = None,
    quality: int = DEFAULT_QUALITY,
) -> Path:
    """Encode and write atomically (never a partial file); ``fmt`` defaults to the suffix's. Returns the path."""
    path = Path(path)
    fmt = normalise_format(fmt) if fmt else format_for_path(path)
    parts = encoded_parts(
        pixels, fmt, bit_depth=bit_depth, exif=exif, icc_profile=icc_profile, provenance=provenance, quality=quality
    )
    atomic_write_bytes(path, parts, what="image")
    return path
