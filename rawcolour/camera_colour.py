"""A camera's colour, as its RAW file states it: white balance and the camera -> sRGB matrix.

Colour is a fact the file carries, not something a network should guess from the picture's
content. This module reads it once, from the places LibRaw and the DNG specification put it, and
says where each part came from and what was assumed when the file says nothing.

The result, :class:`CameraColour`, describes a linear development in two analytic steps:

1. white balance: each camera channel times its gain (``gains``, green = 1), so that a neutral
   object of the scene has equal camera R, G and B;
2. colour matrix: white-balanced camera RGB -> linear sRGB (``camera_to_srgb``, rows summing to 1
   so that white stays white), computed as LibRaw does: ``inverse(rownorm(xyz_to_cam @ SRGB_TO_XYZ))``.

Where the parts come from, first found wins:

- **matrix** (XYZ -> camera): the DNG's ColorMatrix1/ColorMatrix2 read with tifffile (rawpy's
  ``rgb_xyz_matrix`` is all zeros for DNG files), interpolated between the two calibration
  illuminants by the as-shot white's colour temperature as the DNG specification describes
  (weights linear in inverse temperature); else LibRaw's table (``rgb_xyz_matrix``, Adobe's
  matrices for cameras LibRaw knows); else LibRaw's camera -> sRGB ``color_matrix``; else none:
  camera RGB is taken as linear sRGB, and a note says so.
- **white balance** (``wb``): ``camera`` = the as-shot multipliers (DNG AsShotNeutral, or
  LibRaw's ``camera_whitebalance``); they are unusable when missing, zero, negative or all equal
  to 1 (a sensor's neutral is never exactly equal in all three channels: 1, 1, 1 means "not
  set", as on Raspberry Pi and PiDNG files), and then ``auto`` is used with a note. ``daylight``
  = the camera's response to D65 white through its matrix. ``auto`` = grey world over the
  picture's mid-tones (see :func:`grey_world_gains`). Or three explicit gains R, G, B.

Highlights: the development clips white-balanced camera values at 1 before the matrix, so a
saturated highlight stays white instead of turning magenta (LibRaw's ``highlight=0``, "clip").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from rawcolour.io.mosaic import packed_rgb

__all__ = [
    "CameraColour",
    "balance_packed",
    "DngColourTags",
    "ILLUMINANT_KELVIN",
    "SRGB_ENCODED_KNEE",
    "SRGB_GAMMA",
    "SRGB_LINEAR_KNEE",
    "SRGB_OFFSET",
    "SRGB_SCALE",
    "SRGB_SLOPE",
    "SRGB_TO_XYZ",
    "WB_MODES",
    "auto_brightness",
    "camera_colour",
    "camera_to_srgb_matrix",
    "cct_from_xy",
    "grey_world_gains",
    "interpolate_color_matrix",
    "parse_wb",
    "picture_colour",
    "read_dng_colour_tags",
    "srgb_decode",
    "srgb_encode",
    "usable_gains",
]

# Linear sRGB (D65) -> CIE XYZ, IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375],
     [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)
D65_XYZ = SRGB_TO_XYZ.sum(axis=1)  # sRGB white (1, 1, 1) in XYZ

# EXIF LightSource codes used by DNG CalibrationIlluminant1/2 -> correlated colour temperature [K]
# (the temperatures the DNG SDK assigns to each code).
ILLUMINANT_KELVIN: dict[int, float] = {
    1: 5500.0,   # daylight
    2: 4150.0,   # fluorescent
    3: 2850.0,   # tungsten
    4: 5500.0,   # flash
    9: 5500.0,   # fine weather
    10: 6500.0,  # cloudy
    11: 7500.0,  # shade
    12: 6430.0,  # daylight fluorescent
    13: 5000.0,  # day white fluorescent
    14: 4150.0,  # cool white fluorescent
    15: 3450.0,  # white fluorescent
    16: 2940.0,  # warm white fluorescent
    17: 2856.0,  # standard light A
    18: 4874.0,  # standard light B
    19: 6774.0,  # standard light C
    20: 5503.0,  # D55
    21: 6504.0,  # D65
    22: 7504.0,  # D75
    23: 5003.0,  # D50
    24: 3200.0,  # ISO studio tungsten
}

WB_MODES = ("camera", "auto", "daylight")

_TAG_COLOR_MATRIX = (50721, 50722)
_TAG_ILLUMINANT = (50778, 50779)
_TAG_AS_SHOT_NEUTRAL = 50728
_TAG_AS_SHOT_WHITE_XY = 50729


@dataclass(frozen=True)
class DngColourTags:
    """The colour tags of a DNG's first IFD (None where absent or malformed)."""

    color_matrices: tuple[np.ndarray, ...] = ()  # XYZ -> camera, one per calibration illuminant
    illuminants: tuple[int, ...] = ()  # EXIF LightSource codes, same order
    as_shot_neutral: np.ndarray | None = None  # camera RGB of a neutral object
    as_shot_white_xy: tuple[float, float] | None = None


@dataclass(frozen=True)
class CameraColour:
    """How to turn a picture's camera RGB into linear sRGB; see the module docstring."""

    gains: tuple[float, float, float]  # white-balance multipliers R, G, B (G = 1)
    camera_to_srgb: np.ndarray  # 3x3, white-balanced camera RGB -> linear sRGB, rows sum to 1
    wb: str  # the white balance used: camera | auto | daylight | custom
    matrix_source: str  # where the matrix came from, in words
    notes: tuple[str, ...] = field(default=())  # fallbacks taken, for the --json record

    def develop(self, camera_rgb: np.ndarray, exposure: float = 0.0, clip: bool = True) -> np.ndarray:
        """(3, ...) linear camera RGB in [0, 1] -> (3, ...) linear sRGB (float32).

        Gains and ``2**exposure``, clip at 1 (highlights stay white), matrix, then clip to [0, 1]
        unless ``clip`` is False (colours outside sRGB kept for a wider output space).
        """
        x = np.asarray(camera_rgb, dtype=np.float32)
        scale = np.asarray(self.gains, np.float32) * np.float32(2.0 ** float(exposure))
        x = x * scale.reshape((3,) + (1,) * (x.ndim - 1))
        np.clip(x, 0.0, 1.0, out=x)
        out = np.tensordot(self.camera_to_srgb.astype(np.float32), x, axes=1)
        return np.clip(out, 0.0, 1.0, out=out) if clip else out


def balance_packed(packed: np.ndarray, colour: CameraColour) -> np.ndarray:
    """Packed camera planes (4, h, w) R, G_r, B, G_b in [0, 1] -> the same planes white-balanced,
    clipped at 1 and taken to linear sRGB primaries: the learned developer's camera-independent input.

    The matrix is applied to each packed quad, with the quad's own green for each green site, so
    the result is still a mosaic (one value per site). Values are not clipped after the matrix:
    the noise of dark areas keeps its mean, and saturated colours may leave [0, 1].
    """
    p = np.asarray(packed, dtype=np.float32)
    gains = np.asarray(colour.gains, np.float32)
    r, g_r, b, g_b = (np.minimum(p[k] * gains[c], 1.0) for k, c in enumerate((0, 1, 2, 1)))
    m = colour.camera_to_srgb.astype(np.float32)
    g_mean = 0.5 * (g_r + g_b)
    return np.stack([
        m[0, 0] * r + m[0, 1] * g_mean + m[0, 2] * b,
        m[1, 0] * r + m[1, 1] * g_r + m[1, 2] * b,
        m[2, 0] * r + m[2, 1] * g_mean + m[2, 2] * b,
        m[1, 0] * r + m[1, 1] * g_b + m[1, 2] * b,
    ]).astype(np.float32, copy=False)


# ------------------------------------------------------------------------------ output tone


_STRIP_VALUES = 1 << 16  # values per strip of srgb_encode: its scratch buffers stay in the CPU caches

# The sRGB transfer curve (IEC 61966-2-1): encoded = SRGB_SLOPE * linear up to SRGB_LINEAR_KNEE,
# else SRGB_SCALE * linear ** (1 / SRGB_GAMMA) - SRGB_OFFSET. Python floats, so that numpy keeps
# float32 arrays float32; rawcolour.train.adapters.srgb_encode_t uses them too.
SRGB_LINEAR_KNEE = 0.0031308
SRGB_ENCODED_KNEE = 0.04045  # the knee on the encoded side, as the standard rounds it
SRGB_SLOPE = 12.92
SRGB_SCALE = 1.055
SRGB_OFFSET = 0.055
SRGB_GAMMA = 2.4


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light -> the sRGB transfer curve (IEC 61966-2-1), clipped to [0, 1] (float64 for
    float64 input, else float32).

    Computed in row strips through two small scratch buffers: a 12 MP picture would otherwise take
    five full-size temporaries (and twice the time).
    """
    x = np.asarray(linear)
    dtype = np.dtype(np.float64 if x.dtype == np.float64 else np.float32)
    if x.ndim == 0 or x.size == 0:
        c = np.clip(x.astype(dtype), 0.0, 1.0)
        return np.where(c <= SRGB_LINEAR_KNEE, SRGB_SLOPE * c,
                        SRGB_SCALE * np.power(c, dtype.type(1 / SRGB_GAMMA)) - SRGB_OFFSET).astype(dtype)
    out = np.empty(x.shape, dtype=dtype)
    rows = max(1, _STRIP_VALUES // max(1, x[0].size))
    clipped = np.empty((min(rows, x.shape[0]),) + x.shape[1:], dtype=dtype)
    for r0 in range(0, x.shape[0], rows):
        c = clipped[: min(rows, x.shape[0] - r0)]
        np.clip(x[r0 : r0 + rows], 0.0, 1.0, out=c)
        curve = out[r0 : r0 + rows]
        np.power(c, dtype.type(1 / SRGB_GAMMA), out=curve)
        curve *= SRGB_SCALE
        curve -= SRGB_OFFSET
        dark = c <= SRGB_LINEAR_KNEE
        np.multiply(c, SRGB_SLOPE, out=c)
        np.copyto(curve, c, where=dark)
    return out


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (float64 for float64 input, else float32)."""
    x = np.asarray(encoded)
    x = x.astype(np.float32) if x.dtype != np.float64 else x
    return np.where(x <= SRGB_ENCODED_KNEE, x / SRGB_SLOPE, ((x + SRGB_OFFSET) / SRGB_SCALE) ** SRGB_GAMMA)


AUTO_BRIGHT_CLIP = 0.01  # LibRaw's auto_bright_thr: the share of pixels allowed to clip
AUTO_BRIGHT_MAX_GAIN = 256.0  # LibRaw stops looking below 1/256 of the range
AUTO_BRIGHT_STRIDE = 4  # rows and columns between the pixels auto_brightness looks at


def auto_brightness(linear: np.ndarray, stride: int = AUTO_BRIGHT_STRIDE) -> float:
    """LibRaw's automatic brightness as a gain on linear light: the level above which 1% of a
    channel's pixels lie, highest over the channels, is made white (only ever brightens).

    ``linear`` is (H, W, 3); every ``stride``-th row and column is looked at (a percentile). A
    caller that has already taken ``linear[::AUTO_BRIGHT_STRIDE, ::AUTO_BRIGHT_STRIDE]`` passes
    ``stride=1``.
    """
    x = np.asarray(linear)[::stride, ::stride]
    level = float(np.max(np.quantile(x.reshape(-1, x.shape[-1]), 1.0 - AUTO_BRIGHT_CLIP, axis=0)))
    if not np.isfinite(level) or level <= 0:
        return 1.0
    return float(np.clip(1.0 / level, 1.0, AUTO_BRIGHT_MAX_GAIN))


# ---------------------------------------------------------------------------------- reading tags


def _matrix(values: Sequence[float] | None) -> np.ndarray | None:
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 9 or not np.all(np.isfinite(v[:9])) or not np.any(v[:9]):
        return None  # 4-colour cameras (12 values) use their first three rows here too
    m = v[:9].reshape(3, 3)
    return m if abs(np.linalg.det(m)) > 1e-9 else None


def _rationals(value: object) -> list[float] | None:
    """tifffile gives RATIONAL tags as flat (num, den, num, den, ...) integer tuples."""
    if not isinstance(value, (tuple, list)) or len(value) < 2 or len(value) % 2:
        return None
    nums, dens = value[0::2], value[1::2]
    if any(d == 0 for d in dens):
        return None
    return [float(n) / float(d) for n, d in zip(nums, dens)]


def read_dng_colour_tags(path: str | Path) -> DngColourTags | None:
    """ColorMatrix1/2, CalibrationIlluminant1/2, AsShotNeutral and AsShotWhiteXY of a DNG, or None
    when the file is not a TIFF-based file with a ColorMatrix1 (tifffile reads only the header)."""
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            tags = tif.pages[0].tags
            raw = {code: tags[code].value for code in (*_TAG_COLOR_MATRIX, *_TAG_ILLUMINANT,
                                                       _TAG_AS_SHOT_NEUTRAL, _TAG_AS_SHOT_WHITE_XY)
                   if code in tags}
    except Exception:  # noqa: BLE001 -- any unreadable header just means "no DNG colour tags"
        return None
    matrices, illuminants = [], []
    for m_code, i_code in zip(_TAG_COLOR_MATRIX, _TAG_ILLUMINANT):
        m = _matrix(_rationals(raw.get(m_code)))
        if m is None:
            break
        matrices.append(m)
        illuminant = raw.get(i_code)
        illuminants.append(int(illuminant) if isinstance(illuminant, int) else 0)
    if not matrices:
        return None
    neutral = _rationals(raw.get(_TAG_AS_SHOT_NEUTRAL))
    white_xy = _rationals(raw.get(_TAG_AS_SHOT_WHITE_XY))
    return DngColourTags(
        color_matrices=tuple(matrices),
        illuminants=tuple(illuminants),
        as_shot_neutral=np.asarray(neutral[:3], np.float64) if neutral and len(neutral) >= 3 else None,
        as_shot_white_xy=(white_xy[0], white_xy[1]) if white_xy and len(white_xy) == 2 else None,
    )


# ---------------------------------------------------------------------------------- colour maths


def cct_from_xy(x: float, y: float) -> float:
    """Correlated colour temperature [K] of a chromaticity, McCamy's (1992) cubic, clamped to 1667..25000 K."""
    n = (x - 0.3320) / (0.1858 - y)
    return float(np.clip(449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33, 1667.0, 25000.0))


def _xy(xyz: np.ndarray) -> tuple[float, float]:
    s = float(np.sum(xyz))
    return (float(xyz[0] / s), float(xyz[1] / s)) if s > 0 else (0.3127, 0.3290)


def interpolate_color_matrix(tags: DngColourTags, neutral: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The XYZ -> camera matrix for the as-shot white, and how it was chosen.

    One matrix: itself. Two: weights linear in 1/T between the two calibration temperatures, T
    found by iterating "neutral -> XYZ through the current matrix -> xy -> T -> matrix" (the DNG
    specification's procedure; it settles in a few rounds). Without a neutral or xy white, D65.
    """
    mats, kelvins = tags.color_matrices, [ILLUMINANT_KELVIN.get(i) for i in tags.illuminants]
    if len(mats) == 1 or None in kelvins[:2] or kelvins[0] == kelvins[1]:
        return mats[0], "ColorMatrix1"
    t1, t2 = float(kelvins[0]), float(kelvins[1])  # type: ignore[arg-type]

    def at(temperature: float) -> np.ndarray:
        g = np.clip((1.0 / temperature - 1.0 / t2) / (1.0 / t1 - 1.0 / t2), 0.0, 1.0)
        return g * mats[0] + (1.0 - g) * mats[1]

    if tags.as_shot_white_xy is not None:
        temperature = cct_from_xy(*tags.as_shot_white_xy)
    elif neutral is not None:
        temperature = 6504.0
        for _ in range(20):
            new = cct_from_xy(*_xy(np.linalg.solve(at(temperature), neutral)))
            if abs(new - temperature) < 1.0:
                temperature = new
                break
            temperature = new
    else:
        temperature = 6504.0
    return at(temperature), f"ColorMatrix1/2 interpolated at {temperature:.0f} K"


def camera_to_srgb_matrix(xyz_to_cam: np.ndarray) -> np.ndarray | None:
    """White-balanced camera RGB -> linear sRGB, as LibRaw builds it; None if singular."""
    cam_from_srgb = np.asarray(xyz_to_cam, np.float64)[:3, :3] @ SRGB_TO_XYZ
    sums = cam_from_srgb.sum(axis=1, keepdims=True)
    if np.any(np.abs(sums) < 1e-8):
        return None
    try:
        return np.linalg.inv(cam_from_srgb / sums)
    except np.linalg.LinAlgError:
        return None


def grey_world_gains(camera_rgb: np.ndarray) -> tuple[float, float, float]:
    """Grey-world white balance: gains that make the mean of the picture's mid-tones neutral.

    ``camera_rgb`` is (3, ...) linear in [0, 1]. Pixels with any channel clipped (>= 0.98) or
    in deep shadow (green below 2% of the brightest green) are left out, since they carry no
    colour; with too few left, all pixels count. Grey world fails on pictures dominated by one
    colour (a lawn, a sunset, a blue wall): it neutralises the colour itself.
    """
    x = np.asarray(camera_rgb, dtype=np.float64).reshape(3, -1)
    green_max = float(np.max(x[1])) if x.size else 0.0
    keep = np.all(x < 0.98, axis=0) & (x[1] > 0.02 * green_max)
    use = x[:, keep] if keep.sum() >= max(16, x.shape[1] // 100) else x
    means = use.mean(axis=1)
    if not np.all(means > 1e-6):
        return (1.0, 1.0, 1.0)
    return (float(means[1] / means[0]), 1.0, float(means[1] / means[2]))


WB_MAX_RATIO = 1000.0  # --wb R,G,B: the largest red or blue gain relative to green (and 1/this the smallest)


def check_gains(gains: Sequence[float], what: str = "white-balance gains") -> tuple[float, float, float]:
    """Three user-given gains R, G, B -> scaled to G = 1; ValueError unless they are positive finite
    numbers with red and blue within WB_MAX_RATIO of green (beyond it float32 overflows)."""
    try:
        values = [float(g) for g in gains]
    except (TypeError, ValueError):
        values = []
    if len(values) != 3 or not all(np.isfinite(g) and g > 0 for g in values):
        raise ValueError(f"{what}: use camera, auto, daylight or three positive gains R,G,B")
    red, blue = values[0] / values[1], values[2] / values[1]
    if not all(1.0 / WB_MAX_RATIO <= r <= WB_MAX_RATIO for r in (red, blue)):
        raise ValueError(f"{what}: red and blue must be within {WB_MAX_RATIO:g}x of green "
                         "(cameras use about 1 to 4)")
    return (red, 1.0, blue)


def parse_wb(text: str) -> str | tuple[float, float, float]:
    """``--wb`` text -> a mode name or three gains (R, G, B; scaled so that G = 1)."""
    t = str(text).strip().lower()
    if t in WB_MODES:
        return t
    return check_gains(t.split(","), what=f"white balance {text!r}")


def usable_gains(gains: Sequence[float] | None) -> tuple[float, float, float] | None:
    """As-shot multipliers R, G, B scaled to G = 1, or None when unusable: missing, not finite,
    zero or negative, or exactly 1, 1, 1 (a camera that did not set them)."""
    if gains is None or len(gains) < 3:
        return None
    r, g, b = (float(v) for v in gains[:3])
    if not all(np.isfinite(v) and v > 0 for v in (r, g, b)) or (r == g == b == 1.0):
        return None
    return (r / g, 1.0, b / g)


# ------------------------------------------------------------------------------------ the answer


def camera_colour(
    *,
    dng_tags: DngColourTags | None = None,
    libraw_xyz_to_cam: np.ndarray | None = None,
    libraw_camera_to_srgb: np.ndarray | None = None,
    as_shot_gains: Sequence[float] | None = None,
    wb: str | tuple[float, float, float] = "camera",
    camera_rgb: np.ndarray | None = None,
) -> CameraColour:
    """Decide a picture's white balance and colour matrix from what its file states.

    ``as_shot_gains``: LibRaw's as-shot multipliers R, G, B (used when the DNG has no
    AsShotNeutral). ``camera_rgb``: (3, ...) linear camera RGB of the picture (a reduced copy is
    enough), needed for ``wb="auto"`` and for the fallback when the as-shot balance is unusable.
    """
    notes: list[str] = []
    neutral = dng_tags.as_shot_neutral if dng_tags is not None else None
    shot = usable_gains(1.0 / neutral) if neutral is not None and np.all(neutral > 0) else None
    if shot is None:
        shot = usable_gains(as_shot_gains)

    xyz_to_cam: np.ndarray | None = None
    matrix: np.ndarray | None = None
    if dng_tags is not None:
        xyz_to_cam, source = interpolate_color_matrix(dng_tags, None if shot is None else 1.0 / np.asarray(shot))
        source = f"DNG {source}"
    elif libraw_xyz_to_cam is not None and np.any(libraw_xyz_to_cam):
        xyz_to_cam, source = np.asarray(libraw_xyz_to_cam, np.float64)[:3, :3], "LibRaw's camera table"
    if xyz_to_cam is not None:
        matrix = camera_to_srgb_matrix(xyz_to_cam)
    if matrix is None and libraw_camera_to_srgb is not None and np.any(libraw_camera_to_srgb):
        matrix, source = np.asarray(libraw_camera_to_srgb, np.float64)[:3, :3], "LibRaw's camera -> sRGB matrix"
        xyz_to_cam = None
    if matrix is None:
        from rawcolour.cameras import TYPICAL_CAMERA

        xyz_to_cam = TYPICAL_CAMERA.xyz_to_cam
        matrix, source = camera_to_srgb_matrix(xyz_to_cam), f"none in the file: {TYPICAL_CAMERA.name}"
        notes.append("no colour matrix in the file: a typical camera's is used, colours may be off")

    if isinstance(wb, tuple):
        gains, used = tuple(float(g) for g in wb), "custom"
    elif wb == "daylight":
        if xyz_to_cam is not None:
            response = xyz_to_cam @ D65_XYZ
            gains, used = (float(response[1] / response[0]), 1.0, float(response[1] / response[2])), "daylight"
        else:
            gains, used = (1.0, 1.0, 1.0), "daylight"
            notes.append("no XYZ -> camera matrix in the file: daylight white balance is unity gains")
    elif wb == "camera" and shot is not None:
        gains, used = shot, "camera"
    else:
        if wb == "camera":
            notes.append("the file has no usable as-shot white balance: auto (grey world) used instead")
        if camera_rgb is None:
            raise ValueError("auto white balance needs the picture's camera RGB")
        gains, used = grey_world_gains(camera_rgb), "auto"
    return CameraColour(gains=gains, camera_to_srgb=matrix, wb=used,  # type: ignore[arg-type]
                        matrix_source=source, notes=tuple(notes))


def picture_colour(raw: "RawPicture", wb: str | tuple[float, float, float] = "camera") -> CameraColour:  # noqa: F821
    """:func:`camera_colour` of a packed RawPicture: DNG tags from its file (when it is a DNG),
    LibRaw's matrices and as-shot multipliers from the picture, its own pixels for auto."""
    tags = None
    if raw.path is not None and Path(raw.path).suffix.lower() == ".dng":
        tags = read_dng_colour_tags(raw.path)
    shot = None
    if raw.camera_whitebalance is not None and len(raw.camera_whitebalance) >= 3:
        r, g1, b = raw.camera_whitebalance[:3]
        g2 = raw.camera_whitebalance[3] if len(raw.camera_whitebalance) >= 4 else g1
        shot = (r, 0.5 * (g1 + g2), b)
    p = np.asarray(raw.packed)
    step = max(1, int(np.sqrt(p.shape[1] * p.shape[2] / 250_000)))  # ~250k pixels are plenty for grey world
    camera_rgb = packed_rgb(p[:, ::step, ::step])
    return camera_colour(dng_tags=tags, libraw_xyz_to_cam=raw.rgb_xyz_matrix, libraw_camera_to_srgb=raw.color_matrix,
                         as_shot_gains=shot, wb=wb, camera_rgb=camera_rgb)
