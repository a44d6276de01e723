"""Camera RAW decoding (rawpy / LibRaw), CFA-aware 4-channel packing, levels, orientation, packed PNGs.

The whole project shares one packed layout: a 2x2 Bayer mosaic becomes 4 half-resolution planes in
the order R, G_r, B, G_b (``PACKED_ORDER``; G_r is the green on the red row, G_b the green on the
blue row), float32 in [0, 1] after per-channel black subtraction and division by (white - black).
This is the R, G, B, G order of the RAW2RGB-GAN 4-channel PNGs.

Packed pictures stay in sensor orientation; ``RawPicture.flip`` says how to turn the output
(``apply_orientation``), exactly as LibRaw's own postprocess would.

rawpy's LibRaw build uses OpenMP: calling it in a child made by ``fork`` (DataLoader workers with the
default start method on Linux) can deadlock, and rawpy warns about it. Decode RAW files in the
main process, or give the DataLoader ``multiprocessing_context="spawn"`` / ``"forkserver"``.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rawcolour.errors import InputError, UnsupportedRawError, UsageError
from rawcolour.io.files import check_regular_file

PACKED_ORDER = ("R", "Gr", "B", "Gb")
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")

# Suffixes of camera RAW formats LibRaw reads (lower case, with the dot). X3F is listed so that
# Sigma files get LibRaw's own "unsupported" answer rather than "not a RAW file".
RAW_EXTENSIONS: frozenset[str] = frozenset(
    ".3fr .ari .arw .bay .cap .cr2 .cr3 .crw .cs1 .dc2 .dcr .dcs .dng .drf .eip .erf .fff .gpr "
    ".iiq .k25 .kc2 .kdc .mdc .mef .mfw .mos .mrw .nef .nrw .orf .ori .pef .ptx .pxn .qtk .raf "
    ".raw .rdc .rw2 .rwl .rwz .sr2 .srf .srw .sti .x3f".split()
)


@dataclass
class RawPicture:
    """A Bayer picture packed to (4, h, w) float32 in PACKED_ORDER, with the metadata to render it.

    ``black_levels`` and ``camera_whitebalance`` are per packed channel (R, Gr, B, Gb), in raw
    units; ``camera_whitebalance`` holds LibRaw's as-shot multipliers (a missing second green is
    filled with the first). ``color_matrix`` is LibRaw's camera RGB -> sRGB matrix read from the
    file (DNG ColorMatrix and some makers' embedded data), ``rgb_xyz_matrix`` the XYZ -> camera
    matrix from LibRaw's camera table; each is None when LibRaw has none.
    """

    packed: np.ndarray
    cfa: str = "RGGB"
    black_levels: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    white_level: float = 1.0
    flip: int = 0
    camera_whitebalance: tuple[float, ...] | None = None
    rgb_xyz_matrix: np.ndarray | None = None
    camera: str = ""
    path: Path | None = None
    color_matrix: np.ndarray | None = None

    @property
    def height(self) -> int:
        """Height of the packed planes (half the mosaic height)."""
        return int(self.packed.shape[1])

    @property
    def width(self) -> int:
        """Width of the packed planes (half the mosaic width)."""
        return int(self.packed.shape[2])


# --------------------------------------------------------------------------- packing


def _check_cfa(cfa: str) -> str:
    cfa_up = str(cfa).upper()
    if cfa_up not in BAYER_PATTERNS:
        raise UsageError(
            f"unknown Bayer pattern {cfa!r}",
            hint=f"use one of {', '.join(BAYER_PATTERNS)} (colours at (0,0), (0,1), (1,0), (1,1))",
        )
    return cfa_up


def _cfa_offsets(cfa: str) -> list[tuple[int, int]]:
    """(row, col) of R, Gr, B, Gb inside the 2x2 cell of a Bayer pattern."""
    cfa = _check_cfa(cfa)
    pos = [(i // 2, i % 2) for i in range(4)]
    r = pos[cfa.index("R")]
    b = pos[cfa.index("B")]
    # In a Bayer cell R and B sit on a diagonal, so each green shares a row with exactly one of them.
    return [r, (r[0], 1 - r[1]), b, (b[0], 1 - b[1])]


def pack_bayer(mosaic: np.ndarray, cfa: str) -> np.ndarray:
    """Pack an (H, W) Bayer mosaic into (4, H//2, W//2) planes in PACKED_ORDER (odd edges dropped)."""
    mosaic = np.asarray(mosaic)
    if mosaic.ndim != 2:
        raise UsageError(f"a Bayer mosaic must be 2-D (H, W), got shape {mosaic.shape}")
    h, w = mosaic.shape[0] // 2, mosaic.shape[1] // 2
    out = np.empty((4, h, w), dtype=mosaic.dtype)
    for k, (dy, dx) in enumerate(_cfa_offsets(cfa)):
        out[k] = mosaic[dy : 2 * h : 2, dx : 2 * w : 2]
    return out


def packed_rgb(packed):
    """(..., 4, h, w) packed R,Gr,B,Gb -> (..., 3, h, w) R, mean green, B (a numpy array or a torch tensor)."""
    parts = [packed[..., 0, :, :], 0.5 * (packed[..., 1, :, :] + packed[..., 3, :, :]), packed[..., 2, :, :]]
    if isinstance(packed, np.ndarray):
        return np.stack(parts, axis=-3)
    import torch  # only a tensor reaches here, so torch is already loaded

    return torch.stack(parts, dim=-3)


def rggb_flips(cfa: str) -> tuple[bool, bool]:
    """(flip rows, flip columns) that turn an even-sided mosaic of layout ``cfa`` into RGGB (and back)."""
    row, col = _cfa_offsets(cfa)[0]  # where red sits in the 2x2 cell
    return bool(row), bool(col)


def flip_image(image: np.ndarray, flips: tuple[bool, bool]) -> np.ndarray:
    """Mirror the first two axes of ``image`` as ``flips`` says (a view)."""
    rows, cols = flips
    return image[::-1 if rows else 1, ::-1 if cols else 1]


def to_rggb(packed: np.ndarray, cfa: str) -> np.ndarray:
    """Packed planes (R, Gr, B, Gb) of a ``cfa`` mosaic -> the planes of the mirrored mosaic that is
    RGGB, so that a network sees one phase; mirror its output back with ``flip_image(out, rggb_flips(cfa))``."""
    flips = rggb_flips(cfa)
    if flips == (False, False):
        return np.asarray(packed)
    mosaic = flip_image(unpack_bayer(packed, cfa), flips)
    return pack_bayer(mosaic, "RGGB")


def halve_mosaic(packed: np.ndarray) -> np.ndarray:
    """Packed planes (4, h, w) of an RGGB mosaic -> those of an RGGB mosaic half the size in each
    direction: each 2x2 quad becomes one RGB pixel (R, mean green, B), and the half-size picture is
    sampled back into a Bayer mosaic (4, h // 2, w // 2). A learned developer then demosaics a
    quarter of the pixels: the fast ``--half`` preview."""
    packed = np.asarray(packed)
    if packed.ndim != 3 or packed.shape[0] != 4:
        raise UsageError(f"packed Bayer planes must have shape (4, h, w), got {packed.shape}")
    h, w = (packed.shape[1] // 2) * 2, (packed.shape[2] // 2) * 2
    if h < 2 or w < 2:
        raise UsageError(f"a mosaic of {2 * packed.shape[2]}x{2 * packed.shape[1]} pixels is too small to halve")
    rgb = packed_rgb(packed[:, :h, :w])  # (3, h, w): the picture at half size
    return np.stack([rgb[0, 0::2, 0::2], rgb[1, 0::2, 1::2], rgb[2, 1::2, 1::2], rgb[1, 1::2, 0::2]])


def unpack_bayer(packed: np.ndarray, cfa: str) -> np.ndarray:
    """Inverse of pack_bayer: (4, h, w) planes in PACKED_ORDER -> (2h, 2w) mosaic with layout ``cfa``."""
    packed = np.asarray(packed)
    if packed.ndim != 3 or packed.shape[0] != 4:
        raise UsageError(f"packed Bayer planes must have shape (4, h, w), got {packed.shape}")
    _, h, w = packed.shape
    out = np.empty((2 * h, 2 * w), dtype=packed.dtype)
    for k, (dy, dx) in enumerate(_cfa_offsets(cfa)):
        out[dy::2, dx::2] = packed[k]
    return out


def _normalise_packed(planes: np.ndarray, black: tuple[float, ...], white: float) -> np.ndarray:
    """(4, h, w) raw values -> float32 [0, 1] with each channel's own black level."""
    out = planes.astype(np.float32, copy=True)
    for k in range(4):
        np.subtract(out[k], np.float32(black[k]), out=out[k])
        np.multiply(out[k], np.float32(1.0 / (white - black[k])), out=out[k])
    np.clip(out, 0.0, 1.0, out=out)
    return out


# --------------------------------------------------------------------------- orientation


def apply_orientation(image: np.ndarray, flip: int) -> np.ndarray:
    """Turn an (H, W[, C]) output picture as the camera intended, like LibRaw's postprocess does.

    ``flip`` is LibRaw's ``sizes.flip``: bit 2 swaps rows and columns, bit 1 mirrors rows, bit 0
    mirrors columns (mirrors first), so 3 = 180 degrees, 5 = 90 degrees CCW, 6 = 90 degrees CW.
    """
    flip = int(flip)
    if not 0 <= flip <= 7:
        raise UsageError(f"orientation flip must be 0..7 (LibRaw sizes.flip), got {flip}")
    out = np.asarray(image)
    if out.ndim not in (2, 3):
        raise UsageError(f"apply_orientation wants an (H, W[, C]) picture, got shape {out.shape}")
    if flip & 2:
        out = out[::-1]
    if flip & 1:
        out = out[:, ::-1]
    if flip & 4:
        out = out.swapaxes(0, 1)
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- files


def is_raw_path(path: str | Path) -> bool:
    """True when the file name has a camera RAW suffix (case-insensitive)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    size = check_regular_file(p).st_size  # LibRaw opens by name: a FIFO must never reach it
    if not os.access(p, os.R_OK):
        raise InputError("permission denied: the file cannot be read", path=p)
    if size == 0:
        raise InputError("empty file (0 bytes)", path=p, hint="the copy or download was probably interrupted")
    return p


def _libraw_text(err: Exception) -> str:
    arg = err.args[0] if err.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return " ".join(text.split())


def _map_libraw_error(err: Exception, path: Path) -> InputError:
    import rawpy

    detail = _libraw_text(err)
    if isinstance(err, rawpy.LibRawFileUnsupportedError):
        return InputError(
            "not a camera RAW file LibRaw can read (unknown format, or not a RAW at all)",
            path=path,
            hint="check the file type; ordinary images (JPEG, PNG, TIFF) are not RAW input",
        )
    if isinstance(err, rawpy.LibRawIOError):
        return InputError(
            "truncated or unreadable RAW file (LibRaw I/O error)",
            path=path,
            hint="copy the file again from the camera card",
        )
    if isinstance(err, rawpy.LibRawDataError):
        return InputError(
            "corrupt or truncated RAW data (LibRaw data error)",
            path=path,
            hint="copy the file again from the camera card",
        )
    if isinstance(err, rawpy.LibRawTooBigError):
        return InputError("image too large for LibRaw", path=path)
    if isinstance(err, rawpy.LibRawUnsufficientMemoryError):
        return InputError("not enough memory to decode this RAW file", path=path, hint="close other programs")
    return InputError(f"LibRaw could not decode the file ({type(err).__name__}: {detail})", path=path)


# LibRaw's own data-error callback also writes "<file>: data corrupted at N" or "Unexpected end of
# file" to the process's stderr (C level); rawpy offers no way to silence it, so every decode runs
# inside c_stderr_silenced: a failure is reported once, by our InputError.
@contextmanager
def _open_raw(path: str | Path) -> Iterator[tuple["object", Path]]:
    """Open with rawpy, turning every LibRaw failure into one InputError naming the file."""
    import rawpy

    p = _check_file(path)
    try:
        with c_stderr_silenced(), rawpy.imread(str(p)) as raw:
            yield raw, p
    except rawpy.LibRawError as err:
        raise _map_libraw_error(err, p) from err


class _Silence:
    """State of c_stderr_silenced: how deep, and what to put back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved_fd: int | None = None
        self.python_stderr: Any = None  # sys.stderr before, when it was moved


_SILENCED = _Silence()


@contextmanager
def c_stderr_silenced() -> Iterator[None]:
    """While the block runs, in every thread: what C libraries write to file descriptor 2 (LibRaw's
    "data corrupted at N") goes to /dev/null, and Python's ``sys.stderr``, when it is that
    descriptor, moves to a copy of the real stderr, so nothing Python prints is lost.

    Around a whole batch, whose files are decoded in worker threads: silencing descriptor 2 per
    decode, from a worker, would also swallow what the main thread prints meanwhile. Nests.
    """
    with _SILENCED.lock:
        _SILENCED.depth += 1
        if _SILENCED.depth == 1:
            _silence_fd2()
    try:
        yield
    finally:
        with _SILENCED.lock:
            _SILENCED.depth -= 1
            if _SILENCED.depth == 0:
                _restore_fd2()


def _silence_fd2() -> None:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable file descriptor 2
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):  # captured (a test runner): not on descriptor 2
        python_on_fd2 = False
    if python_on_fd2:
        _SILENCED.python_stderr = sys.stderr
        sys.stderr = open(saved, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors,
                          closefd=False)
    _SILENCED.saved_fd = saved
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _restore_fd2() -> None:
    if _SILENCED.saved_fd is None:
        return
    if _SILENCED.python_stderr is not None:
        moved, sys.stderr = sys.stderr, _SILENCED.python_stderr
        moved.flush()
        moved.close()
        _SILENCED.python_stderr = None
    os.dup2(_SILENCED.saved_fd, 2)
    os.close(_SILENCED.saved_fd)
    _SILENCED.saved_fd = None


def _bayer_layout(raw, path: Path) -> tuple[str, list[int]]:
    """Validate a 2x2 RGB Bayer sensor; return its visible pattern and the colour index per packed channel."""
    _refuse_demosaiced(raw, path)
    _refuse_non_bayer(raw, path)
    colors = np.asarray(raw.raw_colors_visible[:4, :4])
    desc = raw.color_desc.decode("ascii", "replace")
    cell = colors[:2, :2]
    tiled = np.tile(cell, (2, 2))[: colors.shape[0], : colors.shape[1]]
    letters = "".join(desc[int(c)] if int(c) < len(desc) else "?" for c in cell.ravel())
    if not np.array_equal(colors, tiled) or letters not in BAYER_PATTERNS:
        raise UnsupportedRawError(
            f"colour filter pattern {letters} (LibRaw colours {desc}) is not a 2x2 RGB Bayer mosaic",
            path=path,
            hint="only RGGB, BGGR, GRBG and GBRG sensors can be used",
        )
    channel_index = [int(cell[dy, dx]) for dy, dx in _cfa_offsets(letters)]
    return letters, channel_index


def _refuse_non_bayer(raw, path: Path) -> None:
    hint = "raw2rgb needs the sensor's 2x2 Bayer mosaic; develop this file with its maker's software instead"
    if raw.num_colors == 1:
        raise UnsupportedRawError("monochrome sensor: there are no colours to develop", path=path, hint=hint)
    try:
        pattern = raw.raw_pattern
    except NotImplementedError:
        pattern = None
    if pattern is None:
        raise UnsupportedRawError("LibRaw reports no colour filter pattern", path=path, hint=hint)
    if pattern.shape == (6, 6):
        raise UnsupportedRawError(
            "Fujifilm X-Trans sensor (6x6 colour pattern) is not a 2x2 Bayer mosaic", path=path, hint=hint
        )
    if pattern.shape != (2, 2):
        raise UnsupportedRawError(
            f"{pattern.shape[0]}x{pattern.shape[1]} colour filter pattern is not a 2x2 Bayer mosaic",
            path=path,
            hint=hint,
        )


def _is_demosaiced(raw) -> bool:
    """A linear DNG (or Canon sRAW): three colours per pixel, no colour filter array."""
    import rawpy

    return raw.raw_type != rawpy.RawType.Flat or raw.raw_image.ndim != 2


def _refuse_demosaiced(raw, path: Path) -> None:
    """Learned developers need the Bayer mosaic; ``classic`` (LibRaw) develops demosaiced files."""
    if _is_demosaiced(raw):
        raise UnsupportedRawError(
            "already demosaiced (a linear DNG or sRAW): a learned developer needs the sensor's Bayer mosaic",
            path=path,
            hint="--model classic develops it (LibRaw)",
        )


def _tiff_camera(path: Path) -> str:
    """Best-effort 'Make Model' from the first TIFF IFD (DNG, NEF, CR2, ARW, PEF, ORF, RW2, ...)."""
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            tags = tif.pages.first.tags if hasattr(tif.pages, "first") else tif.pages[0].tags
            found = {code: tags[code].value for code in (271, 272) if code in tags}
    except Exception:  # noqa: BLE001 -- an unreadable header only means "no camera name"
        return ""
    make, model = (found.get(code) if isinstance(found.get(code), str) else "" for code in (271, 272))
    make, model = make.split("\0")[0].strip(), model.split("\0")[0].strip()
    if make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(s for s in (make, model) if s)


# A RAW with (almost) no samples above its black level holds no picture: a header-only file (LibRaw
# decodes its missing data as zeros), or one whose data were cut off. Below this share of samples
# above black it is refused rather than "developed" into a black frame with coloured stripes.
MIN_IMAGE_DATA = 0.01


def _refuse_no_image_data(above_black: int, total: int, path: Path) -> None:
    if total and above_black < MIN_IMAGE_DATA * total:
        share = f"{100 * above_black / total:.2g} %" if above_black else "none"
        raise InputError(f"no image data: {share} of the sensor samples are above the black level "
                         "(a header-only or cut-off RAW file)", path=path,
                         hint="copy the file again from the camera card; a file of only metadata cannot be developed")


def _as_matrix(m: np.ndarray) -> np.ndarray | None:
    m = np.asarray(m, dtype=np.float64)[:3, :3]
    return None if not np.any(m) or not np.all(np.isfinite(m)) else m.copy()


def read_raw(path: str | Path) -> RawPicture:
    """Decode a 2x2 Bayer camera RAW into a packed RawPicture; refuse everything else with one clear error."""
    with _open_raw(path) as (raw, p):
        flip = int(raw.sizes.flip)  # read before any postprocess: LibRaw overwrites it there
        cfa, chan = _bayer_layout(raw, p)
        visible = raw.raw_image_visible
        h, w = (visible.shape[0] // 2) * 2, (visible.shape[1] // 2) * 2
        if h < 2 or w < 2:
            raise InputError(f"image too small ({visible.shape[1]}x{visible.shape[0]})", path=p)
        # pack_bayer copies out of LibRaw's buffer, which dies with the file.
        planes = pack_bayer(visible[:h, :w], cfa)
        # Indexed by colour index, not position. rawpy already folds LibRaw's common black and a
        # 2x2 BlackLevel pattern (cblack[6..]) into these four; larger black patterns are not exposed.
        black_pc = raw.black_level_per_channel
        black = tuple(float(black_pc[c]) for c in chan)
        white = float(raw.white_level)
        wb_raw = [float(v) for v in raw.camera_whitebalance]
        xyz = _as_matrix(raw.rgb_xyz_matrix)
        cmat = _as_matrix(raw.color_matrix)
    if white <= max(black):
        raise InputError(f"white level {white:g} is not above the black level {max(black):g}", path=p)
    packed = _normalise_packed(planes, black, white)
    _refuse_no_image_data(int(np.count_nonzero(packed > 0)), packed.size, p)
    wb: tuple[float, ...] | None = None
    if all(v > 0 for v in wb_raw[:3]):
        wb_full = wb_raw[:3] + [wb_raw[3] if wb_raw[3] > 0 else wb_raw[1]]
        wb = tuple(wb_full[c] for c in chan)
    return RawPicture(
        packed=packed,
        cfa=cfa,
        black_levels=black,  # type: ignore[arg-type]
        white_level=white,
        flip=flip,
        camera_whitebalance=wb,
        rgb_xyz_matrix=xyz,
        camera=_tiff_camera(p),
        path=p,
        color_matrix=cmat,
    )


# --------------------------------------------------------------------------- packed PNG datasets


def _read_png(path: str | Path, max_pixels: int | None = None) -> tuple[np.ndarray, str, Path]:
    import zlib

    from .images import DEFAULT_MAX_PIXELS, open_picture, verify_png

    p = _check_file(path)
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


def read_zurich_png(path: str | Path, cfa: str = "RGGB", black: float = 0.0, white: float = 1020.0,
                    max_pixels: int | None = None) -> RawPicture:
    """Zurich RAW-to-RGB: a 1-channel 16-bit PNG Bayer mosaic (10-bit data, PyNET scales by 4*255 = 1020)."""
    cfa = _check_cfa(cfa)
    if not white > black:
        raise UsageError(f"white level {white:g} must be above the black level {black:g}")
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
        packed=_normalise_packed(planes, levels, float(white)),
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


# --------------------------------------------------------------------------- classic baselines


# LibRaw scales linear light by exp_shift in 0.25..8 (-2..+3 EV); every developer shares the range.
EXPOSURE_RANGE = (-2.0, 3.0)

# --highlights: LibRaw's highlight modes. clip (0): every channel clipped at white, so a blown
# highlight is white; blend (2): clipped and unclipped values blended, keeping some colour;
# reconstruct (5): LibRaw's reconstruction, dcraw's "-H 5" compromise between whites and colours.
HIGHLIGHT_MODES = {"clip": 0, "blend": 2, "reconstruct": 5}
# --demosaic: LibRaw's own algorithms (the GPL demosaic packs are not part of rawpy's LibRaw).
DEMOSAIC_ALGORITHMS = ("ahd", "dcb", "dht", "aahd", "vng", "ppg", "linear")
DEFAULT_DEMOSAIC = "ahd"


@dataclass
class ClassicDevelopment:
    """What ``classic_develop`` made: LibRaw's linear ProPhoto pixels, upright, and the matrix that
    takes them to linear light in sRGB primaries with white at 1 (LibRaw's scale and our
    automatic brightness folded in). :meth:`encode` turns them into an output colour space in
    strips, without a full-size float picture."""

    wide: np.ndarray  # (H, W, 3) linear ProPhoto RGB, 65535 = LibRaw's white (uint16; float32 when resized)
    to_srgb: np.ndarray  # 3x3 float64: ``to_srgb @ wide[y, x]`` is linear sRGB, below 0 or above 1 outside sRGB
    white_balance: str  # camera | auto | daylight | custom
    notes: list[str]

    def encode(self, space: str = "srgb", bit_depth: int | None = None) -> np.ndarray:
        """The picture in ``space``'s primaries and curve: float32 in [0, 1], or uint8 / uint16
        codes for ``bit_depth`` 8 / 16 (see rawcolour.colour_spaces.encode_linear_srgb)."""
        from rawcolour.colour_spaces import encode_linear_srgb

        return encode_linear_srgb(self.wide, space, to_srgb=self.to_srgb, bit_depth=bit_depth)

    @property
    def linear(self) -> np.ndarray:
        """(H, W, 3) float32 linear light in sRGB primaries, not clipped (a full-size copy)."""
        m = self.to_srgb.T.astype(np.float32)
        return (self.wide.reshape(-1, 3).astype(np.float32) @ m).reshape(self.wide.shape)


def classic_develop(path: str | Path, *, wb: str | tuple[float, float, float] = "camera", exposure: float = 0.0,
                    highlights: str = "clip", demosaic: str | None = None, half: bool = False) -> ClassicDevelopment:
    """The ``classic`` developer: LibRaw's demosaic (``demosaic``, default AHD), white balance,
    camera matrix, highlight mode and ``exposure`` (``exp_shift``), then LibRaw's automatic
    brightness (the level above which 1% of a channel's sRGB pixels lie becomes white; off for
    ``reconstruct``, as in LibRaw, so the recovered highlights are not clipped again).

    LibRaw writes linear 16-bit ProPhoto RGB, which keeps the colours outside sRGB for wider
    output spaces and maps white to (1, 1, 1), so nothing white clips in one channel (CIE XYZ
    would: white's Z is 1.09); ``rawcolour.colour_spaces`` encodes the result. ``wb``: "camera" (the as-shot
    multipliers when usable -- present, positive and not all 1 -- else LibRaw's grey world),
    "auto", "daylight" (LibRaw's daylight multipliers for the camera) or (R, G, B) gains.
    ``half``: one pixel per 2x2 Bayer quad, no demosaicking (LibRaw's half_size). Linear DNGs
    (already demosaiced) are developed too; a Bayer layout read_raw refuses is refused.
    """
    import rawpy

    from rawcolour.camera_colour import AUTO_BRIGHT_STRIDE, auto_brightness, usable_gains
    from rawcolour.colour_spaces import matrix_from_linear_srgb

    if highlights not in HIGHLIGHT_MODES:
        raise UsageError(f"unknown highlight mode {highlights!r}", hint=f"use one of {', '.join(HIGHLIGHT_MODES)}")
    algorithm = DEFAULT_DEMOSAIC if demosaic is None else str(demosaic).lower()
    if algorithm not in DEMOSAIC_ALGORITHMS:
        raise UsageError(f"unknown demosaic algorithm {demosaic!r}", hint=f"use one of {', '.join(DEMOSAIC_ALGORITHMS)}")
    notes: list[str] = []
    with _open_raw(path) as (raw, p):
        demosaiced = _is_demosaiced(raw)
        if demosaiced:
            if raw.num_colors != 3:
                _refuse_non_bayer(raw, p)  # monochrome
                raise UnsupportedRawError(f"a demosaiced RAW with {raw.num_colors} colours per pixel", path=p,
                                          hint="develop it with its maker's software")
            if demosaic is not None:
                notes.append("the file is already demosaiced (a linear DNG): --demosaic has no effect")
            visible = raw.raw_image_visible[..., :3]
            above = int(np.count_nonzero(visible > np.asarray(raw.black_level_per_channel[:3])))
        else:
            _bayer_layout(raw, p)
            visible = raw.raw_image_visible
            colours = np.asarray(raw.raw_colors_visible[:2, :2])  # a 2x2 Bayer cell (checked above)
            black = raw.black_level_per_channel
            # per position of the cell, not a full-size black-level picture (that cost a tenth of the render)
            above = sum(int(np.count_nonzero(visible[dy::2, dx::2] > black[int(colours[dy, dx])]))
                        for dy in range(min(2, visible.shape[0])) for dx in range(min(2, visible.shape[1])))
        _refuse_no_image_data(above, visible.size, p)
        used = wb if isinstance(wb, str) else "custom"
        if wb == "camera" and usable_gains(raw.camera_whitebalance[:3]) is None:
            used = "auto"
        options: dict = {"use_camera_wb": used == "camera", "use_auto_wb": used == "auto"}
        if isinstance(wb, tuple):
            options["user_wb"] = [float(wb[0]), float(wb[1]), float(wb[2]), float(wb[1])]
        if exposure:
            options["exp_shift"] = float(2.0 ** exposure)
        wide = raw.postprocess(
            demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, algorithm.upper()),
            half_size=bool(half),
            highlight_mode=HIGHLIGHT_MODES[highlights],
            output_color=rawpy.ColorSpace.ProPhoto,
            gamma=(1.0, 1.0),
            no_auto_bright=True,
            output_bps=16,
            **options,
        )
    if half and demosaiced:  # LibRaw halves only mosaics
        import cv2

        wide = cv2.resize(wide.astype(np.float32), (max(1, wide.shape[1] // 2), max(1, wide.shape[0] // 2)),
                          interpolation=cv2.INTER_AREA)
    # LibRaw's sRGB -> ProPhoto matrix is the Bradford-adapted one colour_spaces reads from the
    # LittleCMS profiles (they agree to 1e-4).
    to_srgb = np.linalg.inv(matrix_from_linear_srgb("prophoto")) / 65535.0
    if highlights != "reconstruct":
        sample = wide[::AUTO_BRIGHT_STRIDE, ::AUTO_BRIGHT_STRIDE].astype(np.float32)
        sample = sample.reshape(-1, 3) @ to_srgb.T.astype(np.float32)
        to_srgb = to_srgb * auto_brightness(sample[:, None, :], stride=1)
    return ClassicDevelopment(wide, to_srgb, used, notes)


def classic_render(path: str | Path, *, bit_depth: int = 16, wb: str | tuple[float, float, float] = "camera",
                   exposure: float = 0.0) -> tuple[np.ndarray, str]:
    """The ``classic`` baseline in sRGB: :func:`classic_develop` with the sRGB curve, as (H, W, 3)
    uint16 or uint8, and the white balance used."""
    if bit_depth not in (8, 16):
        raise UsageError(f"bit depth must be 8 or 16, got {bit_depth}")
    developed = classic_develop(path, wb=wb, exposure=exposure)
    return developed.encode("srgb", bit_depth), developed.white_balance


def classic_linear_packed(raw: RawPicture, colour: "CameraColour | None" = None,  # noqa: F821
                          exposure: float = 0.0) -> np.ndarray:
    """A classic pipeline on a packed picture, at packed resolution: (3, h, w) float32 linear light
    in sRGB primaries (below 0 or above 1 where colours leave sRGB).

    Each packed pixel is one RGB pixel (R, mean of the two greens, B), so nothing is demosaiced.
    Then ``colour`` (default: what the picture's metadata says, see rawcolour.camera_colour):
    white balance, clip at 1 (saturated highlights stay white), camera RGB -> linear sRGB;
    ``2**exposure``. No automatic brightening: a dark exposure stays dark.
    """
    from rawcolour.camera_colour import picture_colour

    p = np.asarray(raw.packed, dtype=np.float32)
    if p.ndim != 3 or p.shape[0] != 4:
        raise UsageError(f"packed planes must have shape (4, h, w), got {p.shape}")
    colour = colour if colour is not None else picture_colour(raw)
    return colour.develop(packed_rgb(p), clip=False) * np.float32(2.0 ** float(exposure))


def classic_render_packed(raw: RawPicture, colour: "CameraColour | None" = None,  # noqa: F821
                          exposure: float = 0.0) -> np.ndarray:
    """:func:`classic_linear_packed` clipped and sRGB-encoded: (3, h, w) float32 in [0, 1]."""
    from rawcolour.camera_colour import srgb_encode

    return srgb_encode(classic_linear_packed(raw, colour, exposure))
