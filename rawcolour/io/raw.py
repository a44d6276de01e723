"""Camera RAW files decoded with rawpy (LibRaw) into the project's packed layout (rawcolour.io.mosaic).

:func:`read_raw` decodes a 2x2 Bayer RAW into a :class:`RawPicture` and refuses everything else
(X-Trans, monochrome, linear DNGs, files without image data) with one clear error; the checks it
shares with the classic developer (rawcolour.io.classic) are here too.

Packed pictures stay in sensor orientation; ``RawPicture.flip`` says how to turn the output
(``apply_orientation``), exactly as LibRaw's own postprocess would.

rawpy's LibRaw build uses OpenMP: calling it in a child made by ``fork`` (DataLoader workers with the
default start method on Linux) can deadlock, and rawpy warns about it. Decode RAW files in the
main process, or give the DataLoader ``multiprocessing_context="spawn"`` / ``"forkserver"``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from rawcolour.errors import InputError, UnsupportedRawError, UsageError
from rawcolour.io.c_stderr import c_stderr_silenced
from rawcolour.io.files import check_input_file
from rawcolour.io.images import size_in_words, too_many_pixels
from rawcolour.io.metadata import camera_name
from rawcolour.io.mosaic import BAYER_PATTERNS, cfa_offsets, normalise_packed, pack_bayer

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


# --------------------------------------------------------------------------- files and LibRaw


def is_raw_path(path: str | Path) -> bool:
    """True when the file name has a camera RAW suffix (case-insensitive)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def _libraw_text(err: Exception) -> str:
    arg = err.args[0] if err.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return " ".join(text.split())


_COPY_AGAIN = "copy the file again from the camera card"
# rawpy's exception class -> (what is wrong, what to do); any other LibRaw error names itself.
_LIBRAW_ERRORS = (
    ("LibRawFileUnsupportedError", "not a camera RAW file LibRaw can read (unknown format, or not a RAW at all)",
     "check the file type; ordinary images (JPEG, PNG, TIFF) are not RAW input"),
    ("LibRawIOError", "truncated or unreadable RAW file (LibRaw I/O error)", _COPY_AGAIN),
    ("LibRawDataError", "corrupt or truncated RAW data (LibRaw data error)", _COPY_AGAIN),
    ("LibRawTooBigError", "image too large for LibRaw", None),
    ("LibRawUnsufficientMemoryError", "not enough memory to decode this RAW file", "close other programs"),
)


def _map_libraw_error(err: Exception, path: Path) -> InputError:
    import rawpy

    for name, problem, hint in _LIBRAW_ERRORS:
        if isinstance(err, getattr(rawpy, name)):
            return InputError(problem, path=path, hint=hint)
    return InputError(f"LibRaw could not decode the file ({type(err).__name__}: {_libraw_text(err)})", path=path)


# LibRaw's own data-error callback also writes "<file>: data corrupted at N" or "Unexpected end of
# file" to the process's stderr (C level); rawpy offers no way to silence it, so every decode runs
# inside c_stderr_silenced: a failure is reported once, by our InputError.
@contextmanager
def open_raw(path: str | Path) -> Iterator[tuple["object", Path]]:
    """Open with rawpy, turning every LibRaw failure into one InputError naming the file."""
    import rawpy

    p = check_input_file(path)
    try:
        with c_stderr_silenced(), rawpy.imread(str(p)) as raw:
            yield raw, p
    except rawpy.LibRawError as err:
        raise _map_libraw_error(err, p) from err


def bayer_layout(raw, path: Path) -> tuple[str, list[int]]:
    """Validate a 2x2 RGB Bayer sensor; return its visible pattern and the colour index per packed channel."""
    refuse_demosaiced(raw, path)
    refuse_non_bayer(raw, path)
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
    channel_index = [int(cell[dy, dx]) for dy, dx in cfa_offsets(letters)]
    return letters, channel_index


def refuse_non_bayer(raw, path: Path) -> None:
    """Refuse a sensor without a 2x2 colour filter pattern (monochrome, X-Trans, none reported)."""
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


def is_demosaiced(raw) -> bool:
    """A linear DNG (or Canon sRAW): three colours per pixel, no colour filter array."""
    import rawpy

    return raw.raw_type != rawpy.RawType.Flat or raw.raw_image.ndim != 2


def refuse_demosaiced(raw, path: Path) -> None:
    """Learned developers need the Bayer mosaic; ``classic`` (LibRaw) develops demosaiced files."""
    if is_demosaiced(raw):
        raise UnsupportedRawError(
            "already demosaiced (a linear DNG or sRAW): a learned developer needs the sensor's Bayer mosaic",
            path=path,
            hint="--model classic develops it (LibRaw)",
        )


# A RAW with (almost) no samples above its black level holds no picture: a header-only file (LibRaw
# decodes its missing data as zeros), or one whose data were cut off. Below this share of samples
# above black it is refused rather than "developed" into a black frame with coloured stripes.
MIN_IMAGE_DATA = 0.01


def refuse_no_image_data(above_black: int, total: int, path: Path) -> None:
    """Refuse a RAW with fewer than MIN_IMAGE_DATA of its ``total`` samples above black."""
    if total and above_black < MIN_IMAGE_DATA * total:
        share = f"{100 * above_black / total:.2g} %" if above_black else "none"
        raise InputError(f"no image data: {share} of the sensor samples are above the black level "
                         "(a header-only or cut-off RAW file)", path=path,
                         hint="copy the file again from the camera card; a file of only metadata cannot be developed")


def _as_matrix(m: np.ndarray) -> np.ndarray | None:
    m = np.asarray(m, dtype=np.float64)[:3, :3]
    return None if not np.any(m) or not np.all(np.isfinite(m)) else m.copy()


def read_raw(path: str | Path, max_pixels: int | None = None) -> RawPicture:
    """Decode a 2x2 Bayer camera RAW into a packed RawPicture; refuse everything else with one clear
    error, and a sensor of more than ``max_pixels`` pixels (LibRaw bounds what it decodes itself)."""
    with open_raw(path) as (raw, p):
        flip = int(raw.sizes.flip)  # read before any postprocess: LibRaw overwrites it there
        width, height = int(raw.sizes.width), int(raw.sizes.height)
        if max_pixels is not None and width * height > max_pixels:
            raise too_many_pixels(p, size_in_words(width, height), max_pixels)
        cfa, chan = bayer_layout(raw, p)
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
    packed = normalise_packed(planes, black, white)
    refuse_no_image_data(int(np.count_nonzero(packed > 0)), packed.size, p)
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
        camera=camera_name(p),
        path=p,
        color_matrix=cmat,
    )
