"""Synthetic camera RAW from sRGB photos, after "Unprocessing Images for Learned Raw Denoising".

Brooks et al. (CVPR 2019) invert a simple camera pipeline step by step: tone curve, gamma,
colour correction, white balance and exposure gains, then mosaic and add sensor noise. Every
random choice is drawn once per picture into :class:`UnprocessParams`, so a pair can be logged,
reproduced, and rendered back with :func:`process`.

Output follows the project's packed layout: 4 half-resolution planes R, G_r, B, G_b (green on
the red row, green on the blue row), float32 in [0, 1], black-subtracted and white-normalised.
Everything is numpy float32 so it runs in DataLoader workers without touching torch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rawcolour.camera_colour import SRGB_TO_XYZ
from rawcolour.colour_spaces import apply_matrix
from rawcolour.cameras import TRAIN_CAMERAS
from rawcolour.data.names import WB_GAIN_RANGES
from rawcolour.errors import InputError, UsageError
from rawcolour.io.pixels import to_float
from rawcolour.io.mosaic import pack_bayer, packed_rgb

__all__ = [
    "CAMERA_XYZ_TO_CAM",
    "camera_rgb",
    "SRGB_TO_XYZ",
    "UnprocessParams",
    "WB_GAIN_RANGES",
    "random_params",
    "unprocess",
    "unprocess_to_mosaic",
    "synthetic_pair",
    "process",
    "smoothstep",
    "inverse_smoothstep",
    "gamma_expand",
    "gamma_compress",
]

# Brooks et al.'s camera set: XYZ -> camera matrices (D65) of five real cameras (rawcolour.cameras).
_BY_NAME = {c.name: c for c in TRAIN_CAMERAS}
CAMERA_XYZ_TO_CAM: dict[str, np.ndarray] = {
    name: _BY_NAME[name].xyz_to_cam
    for name in ("Canon EOS 5D Mark II", "Canon EOS 5D Mark III", "Canon EOS-1Ds Mark III", "Nikon D700",
                 "Sony NEX-5N")
}

# Where highlight preservation starts (mean of the camera channels) and the gamma exponent.
_HIGHLIGHT_KNEE = 0.9
_GAMMA = 2.2
_EPS = 1e-8


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class UnprocessParams:
    """Everything random about one synthetic RAW, drawn once per picture."""

    rgb_to_cam: np.ndarray = field(repr=False)  # (3,3) linear sRGB -> camera, rows sum to 1
    red_gain: float  # white-balance gain the camera ISP would apply to red
    blue_gain: float  # ... and to blue (green is the reference, gain 1)
    brightness_gain: float  # global exposure gain the ISP would apply
    shot_noise: float  # noise variance per unit signal
    read_noise: float  # signal-independent noise variance

    def __post_init__(self) -> None:
        m = np.asarray(self.rgb_to_cam, dtype=np.float64)
        if m.shape != (3, 3) or not np.all(np.isfinite(m)):
            raise UsageError(f"rgb_to_cam must be a finite 3x3 matrix, got shape {m.shape}")
        if abs(np.linalg.det(m)) < 1e-6:
            raise UsageError("rgb_to_cam is singular", hint="process() needs to invert it")
        for name in ("red_gain", "blue_gain", "brightness_gain"):
            v = float(getattr(self, name))
            if not (v > 0 and math.isfinite(v)):
                raise UsageError(f"{name} must be a positive finite number, got {v}")
            object.__setattr__(self, name, v)
        for name in ("shot_noise", "read_noise"):
            v = float(getattr(self, name))
            if not (v >= 0 and math.isfinite(v)):
                raise UsageError(f"{name} must be a non-negative finite number, got {v}")
            object.__setattr__(self, name, v)
        object.__setattr__(self, "rgb_to_cam", _readonly(m))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnprocessParams):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    @classmethod
    def identity(cls, *, shot_noise: float = 0.0, read_noise: float = 0.0) -> UnprocessParams:
        """A camera that is linear sRGB with unit gains: only tone, gamma, mosaic (and noise)."""
        return cls(np.eye(3), 1.0, 1.0, 1.0, shot_noise, read_noise)

    @property
    def inverse_gains(self) -> np.ndarray:
        """Per camera channel (R, G, B) factors unprocess applies before highlight preservation."""
        return np.array([1.0 / self.red_gain, 1.0, 1.0 / self.blue_gain]) / self.brightness_gain

    @property
    def xyz_to_cam(self) -> np.ndarray:
        """DNG ColorMatrix1 for this synthetic camera (CalibrationIlluminant1 = D65, code 21).

        The D65 white maps to camera (1, 1, 1) because rows of rgb_to_cam sum to 1, which is the
        normalisation DNG asks for (the illuminant's largest camera component is 1).
        """
        return self.rgb_to_cam @ np.linalg.inv(SRGB_TO_XYZ)

    @property
    def as_shot_neutral(self) -> np.ndarray:
        """DNG AsShotNeutral: camera values of a white object, i.e. 1 / white-balance gains."""
        return np.array([1.0 / self.red_gain, 1.0, 1.0 / self.blue_gain])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record (for logs and reproduction)."""
        return {
            "rgb_to_cam": [[float(v) for v in row] for row in self.rgb_to_cam],
            "red_gain": self.red_gain,
            "blue_gain": self.blue_gain,
            "brightness_gain": self.brightness_gain,
            "shot_noise": self.shot_noise,
            "read_noise": self.read_noise,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UnprocessParams:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                np.asarray(d["rgb_to_cam"], dtype=np.float64),
                d["red_gain"],
                d["blue_gain"],
                d["brightness_gain"],
                d["shot_noise"],
                d["read_noise"],
            )
        except KeyError as e:
            raise UsageError(f"unprocess parameters lack {e.args[0]!r}") from None


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise UsageError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def random_params(rng: np.random.Generator | int | None = None, gains: str = "brooks") -> UnprocessParams:
    """Draw one picture's camera: matrix, gains and noise levels (the paper's distributions;
    ``gains`` picks the white-balance gain ranges, see WB_GAIN_RANGES)."""
    if gains not in WB_GAIN_RANGES:
        raise UsageError(f"unknown white-balance gain range {gains!r}", hint=f"use one of {', '.join(WB_GAIN_RANGES)}")
    rng = _as_rng(rng)
    mats = list(CAMERA_XYZ_TO_CAM.values())
    # Convex combination with weights uniform on [0,1] then normalised, as the paper does.
    w = rng.uniform(1e-8, 1.0, size=len(mats))
    w /= w.sum()
    xyz_to_cam = sum(wi * m for wi, m in zip(w, mats))
    rgb_to_cam = xyz_to_cam @ SRGB_TO_XYZ
    rgb_to_cam /= rgb_to_cam.sum(axis=1, keepdims=True)

    # 1 / N(0.8, 0.1); truncated at +-4 sigma so one draw in ~16000 cannot give an absurd gain.
    inv_brightness = float(np.clip(rng.normal(0.8, 0.1), 0.4, 1.2))
    (red_lo, red_hi), (blue_lo, blue_hi) = WB_GAIN_RANGES[gains]
    red_gain = float(rng.uniform(red_lo, red_hi))
    blue_gain = float(rng.uniform(blue_lo, blue_hi))

    log_shot = float(rng.uniform(math.log(1e-4), math.log(0.012)))
    log_read = 2.18 * log_shot + 1.20 + float(rng.normal(0.0, 0.26))
    return UnprocessParams(
        rgb_to_cam=rgb_to_cam,
        red_gain=red_gain,
        blue_gain=blue_gain,
        brightness_gain=1.0 / inv_brightness,
        shot_noise=math.exp(log_shot),
        read_noise=math.exp(log_read),
    )


# --- the tone and gamma steps (public so tests and other code share the exact curves) ---


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Global tone curve 3x^2 - 2x^3 on [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32, copy=False)


def inverse_smoothstep(y: np.ndarray) -> np.ndarray:
    """Closed-form inverse of :func:`smoothstep`: 0.5 - sin(asin(1 - 2y) / 3)."""
    y = np.clip(y, 0.0, 1.0)
    return (0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)).astype(np.float32, copy=False)


def gamma_expand(x: np.ndarray) -> np.ndarray:
    """Display gamma -> linear: max(x, 1e-8) ** 2.2."""
    return (np.maximum(x, _EPS) ** _GAMMA).astype(np.float32, copy=False)


def gamma_compress(x: np.ndarray) -> np.ndarray:
    """Linear -> display gamma: max(x, 1e-8) ** (1 / 2.2)."""
    return (np.maximum(x, _EPS) ** (1.0 / _GAMMA)).astype(np.float32, copy=False)


# --- input handling ---


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate an (H, W, 3) uint8/uint16/float picture; return a view cropped to even sides."""
    if not isinstance(rgb, np.ndarray):
        raise InputError(f"expected a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(
            f"expected an RGB image of shape (H, W, 3), got {rgb.shape}",
            hint="convert greyscale or RGBA pictures to RGB first",
        )
    h, w = rgb.shape[0] - rgb.shape[0] % 2, rgb.shape[1] - rgb.shape[1] % 2
    if h < 2 or w < 2:
        raise InputError(f"image {rgb.shape[:2]} is too small: at least 2x2 pixels are needed")
    if rgb.dtype not in (np.uint8, np.uint16) and not np.issubdtype(rgb.dtype, np.floating):
        raise InputError(
            f"unsupported image dtype {rgb.dtype}", hint="use uint8, uint16 or float in [0, 1]"
        )
    rgb = rgb[:h, :w]
    if np.issubdtype(rgb.dtype, np.floating) and not np.all(np.isfinite(rgb)):
        raise InputError("image contains NaN or infinite values")
    return rgb


@functools.lru_cache(maxsize=2)
def _linear_lut(levels: int) -> np.ndarray:
    codes = np.arange(levels, dtype=np.float32) / np.float32(levels - 1)
    lut = gamma_expand(inverse_smoothstep(codes))
    lut.setflags(write=False)
    return lut


def _linearise(rgb: np.ndarray) -> np.ndarray:
    """Checked sRGB picture -> linear RGB: inverse tone curve then gamma expansion.

    Integer pictures go through a lookup table holding the same float32 values the formula
    gives, about 10x faster (this runs once per training sample).
    """
    if rgb.dtype == np.uint8:
        return _linear_lut(256)[rgb]
    if rgb.dtype == np.uint16:
        return _linear_lut(65536)[rgb]
    return gamma_expand(inverse_smoothstep(to_float(rgb)))


# --- the unprocessing pipeline ---

# (row offset, column offset, camera channel) of the four RGGB sites, in packed order.
_RGGB_SITES = ((0, 0, 0), (0, 1, 1), (1, 1, 2), (1, 0, 1))


def _camera_channel(r: np.ndarray, g: np.ndarray, b: np.ndarray, c: int, params: UnprocessParams) -> np.ndarray:
    """Camera channel ``c`` (0, 1, 2) of linear sRGB planes, inverse gains and highlight preservation
    applied, clipped to [0, 1] (float32)."""
    m = params.rgb_to_cam.astype(np.float32)
    # Mean of the three camera channels: what highlight preservation looks at.
    grey_w = m.mean(axis=0)
    gains = params.inverse_gains.astype(np.float32)
    knee = np.float32(_HIGHLIGHT_KNEE)
    cam = m[c, 0] * r + m[c, 1] * g + m[c, 2] * b
    grey = grey_w[0] * r + grey_w[1] * g + grey_w[2] * b
    # Highlight-preserving inverse gains: the inverse white balance darkens red and blue,
    # which would turn clipped white highlights into coloured ones (a sensor saturates
    # white, never pink). Near saturation the gain is eased towards 1, with weight
    # ((mean - knee) / (1 - knee))^2 on the camera channel mean, never below the plain gain.
    t = np.clip((grey - knee) / (1 - knee), 0.0, 1.0)
    t *= t
    gain = np.maximum(t + (1 - t) * gains[c], gains[c])
    cam *= gain
    return np.clip(cam, 0.0, 1.0, out=cam)


def _mosaic(lin: np.ndarray, params: UnprocessParams) -> np.ndarray:
    """Linear sRGB (H, W, 3), even sides -> RGGB camera mosaic (H, W) float32 in [0, 1].

    Each site gets only the camera channel its filter passes, so the 3x3 colour matrix is
    applied as one row per site rather than in full.
    """
    out = np.empty(lin.shape[:2], dtype=np.float32)
    for dy, dx, c in _RGGB_SITES:
        site = lin[dy::2, dx::2]
        out[dy::2, dx::2] = _camera_channel(site[..., 0], site[..., 1], site[..., 2], c, params)
    return out


def camera_rgb(rgb: np.ndarray, params: UnprocessParams) -> np.ndarray:
    """sRGB photo (H, W, 3) -> what the camera records at every pixel, before the colour filter
    array: (3, H, W) float32 in [0, 1], noise-free. Sampling it at the RGGB sites gives the
    noise-free mosaic of :func:`unprocess_to_mosaic` exactly; it is the truth a perfect
    demosaicker would recover."""
    lin = _linearise(_check_rgb(rgb))
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
    return np.stack([_camera_channel(r, g, b, c, params) for c in range(3)])


def _add_noise(x: np.ndarray, params: UnprocessParams, rng: np.random.Generator) -> np.ndarray:
    """Heteroscedastic Gaussian noise, variance = shot * x + read, then clip to [0, 1]."""
    std = np.sqrt(x * np.float32(params.shot_noise) + np.float32(params.read_noise))
    noisy = x + std * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0, out=noisy)


def unprocess_to_mosaic(
    rgb: np.ndarray,
    params: UnprocessParams,
    rng: np.random.Generator | int | None = None,
    noise: bool = True,
) -> tuple[np.ndarray, str]:
    """sRGB photo -> full-resolution RGGB Bayer mosaic (H, W) float32 [0, 1] and its CFA name.

    For writing example DNGs: use ``params.xyz_to_cam`` as ColorMatrix1 (illuminant D65) and
    ``params.as_shot_neutral`` as AsShotNeutral. Odd sizes are cropped to even.
    """
    mosaic = _mosaic(_linearise(_check_rgb(rgb)), params)
    if noise:
        mosaic = _add_noise(mosaic, params, _as_rng(rng))
    return mosaic, "RGGB"


def _unprocess_checked(
    rgb: np.ndarray, params: UnprocessParams, noise: bool, rng: np.random.Generator | int | None
) -> np.ndarray:
    packed = pack_bayer(_mosaic(_linearise(rgb), params), "RGGB").astype(np.float32, copy=False)
    return _add_noise(packed, params, _as_rng(rng)) if noise else packed


def unprocess(
    rgb: np.ndarray,
    params: UnprocessParams,
    *,
    noise: bool = True,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """sRGB photo (H, W, 3) -> packed synthetic RAW (4, H//2, W//2) float32 [0, 1], R,Gr,B,Gb.

    Without ``rng`` and with noise on, a fresh unseeded generator is used (not reproducible).
    """
    return _unprocess_checked(_check_rgb(rgb), params, noise, rng)


def process(packed: np.ndarray, params: UnprocessParams) -> np.ndarray:
    """Packed RAW (4, h, w) -> sRGB (3, h, w) float32 [0, 1]: the camera ISP unprocess inverts.

    Demosaic by taking each plane as is (greens averaged), then gains, camera -> sRGB, gamma
    and tone curve. Exact inverse of noise-free :func:`unprocess` for 2x2-constant pictures
    wherever nothing was clipped and highlight preservation did not act.
    """
    packed = np.asarray(packed)
    if packed.ndim != 3 or packed.shape[0] != 4:
        raise InputError(f"expected packed RAW of shape (4, h, w), got {packed.shape}")
    p = packed.astype(np.float32, copy=False)
    cam = np.ascontiguousarray(np.moveaxis(packed_rgb(p), 0, -1))  # (h, w, 3): R, mean green, B
    cam = cam * (1.0 / params.inverse_gains).astype(np.float32)
    np.clip(cam, 0.0, 1.0, out=cam)
    lin = apply_matrix(cam, np.linalg.inv(params.rgb_to_cam))
    np.clip(lin, 0.0, 1.0, out=lin)
    out = smoothstep(gamma_compress(lin))
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def area_half(rgb01: np.ndarray) -> np.ndarray:
    """(H, W[, C]) float -> (H//2, W//2[, C]): the mean of each 2x2 block (area resampling at x2; odd
    edges dropped)."""
    h, w = rgb01.shape[0] // 2 * 2, rgb01.shape[1] // 2 * 2
    rgb01 = rgb01[:h, :w]
    small = (rgb01[0::2, 0::2] + rgb01[0::2, 1::2]) + (rgb01[1::2, 0::2] + rgb01[1::2, 1::2])
    small *= small.dtype.type(0.25)
    return small


def synthetic_pair(
    rgb: np.ndarray,
    rng: np.random.Generator | int | None = None,
    *,
    noise: bool = True,
    params: UnprocessParams | None = None,
) -> tuple[np.ndarray, np.ndarray, UnprocessParams]:
    """One raw2rgb training pair from an sRGB photo: (packed RAW, sRGB target, parameters).

    packed: (4, h, w) float32 [0, 1] R,Gr,B,Gb; target: (3, h, w) float32 [0, 1], the photo
    area-downscaled x2 to the packed resolution (raw2rgb models output at packed resolution).
    ``params`` fixes the camera instead of drawing one.
    """
    rng = _as_rng(rng)
    checked = _check_rgb(rgb)
    if params is None:
        params = random_params(rng)
    packed = _unprocess_checked(checked, params, noise, rng)
    return packed, np.ascontiguousarray(area_half(to_float(checked)).transpose(2, 0, 1)), params
