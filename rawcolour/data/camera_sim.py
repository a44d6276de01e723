"""Photos taken through real cameras, simulated: training data and evaluation DNGs for the learned developer.

A colour photo is unprocessed (Brooks et al. 2019, :mod:`rawcolour.data.unprocess`) through a real
camera model's colour matrix, under a random illuminant, then mosaicked, given shot and read
noise, quantised to the camera's bit depth above its black level and clipped at its white level:
what a sensor would have recorded.

- Cameras: real camera models' matrices (:mod:`rawcolour.cameras`). :data:`TRAIN_CAMERAS` make
  training data; :data:`EVAL_CAMERAS` are held out, so a model is scored on cameras it never saw.
- Illuminant: a correlated colour temperature, uniform in 1/T between 2500 K and 9000 K, on the
  Planckian locus; the camera's as-shot neutral is its matrix's response to that white.
- Noise: variance ``shot * x + read`` on levels in [0, 1] (Brooks et al.'s model and ranges,
  the shot range widened to ISO 12800-like levels); 12- or 14-bit with a black level.

The learned developer's input is the mosaic normalised as :func:`rawcolour.io.raw.read_raw` does,
then white-balanced and taken to sRGB primaries with :func:`rawcolour.camera_colour.balance_packed`
(the same function the pipeline uses on a user's file). Its truth is the camera's noise-free
response at every pixel through the same white balance and matrix: what a perfect demosaicker
and denoiser would give, with colour fixed by the file and not by the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawcolour.camera_colour import CameraColour, balance_packed, camera_to_srgb_matrix
from rawcolour.cameras import EVAL_CAMERAS, TRAIN_CAMERAS, Camera
from rawcolour.data.unprocess import UnprocessParams, camera_rgb, unprocess_to_mosaic
from rawcolour.io.mosaic import cfa_offsets, pack_bayer

__all__ = [
    "EVAL_CAMERAS",
    "NOISE_LEVELS",
    "TRAIN_CAMERAS",
    "Camera",
    "Shot",
    "developer_sample",
    "draw_shot",
    "illuminant_xy",
    "shot_for",
    "write_shot_dng",
]


# Shot-noise variance per unit level for the evaluation's three noise levels (read noise from
# Brooks et al.'s log-linear relation, its mean): roughly ISO 100, 1600 and 12800.
NOISE_LEVELS = {"low": 2e-4, "mid": 2e-3, "high": 1.2e-2}
_SHOT_RANGE = (1e-4, 2e-2)  # training: log-uniform
_CCT_RANGE = (2500.0, 9000.0)


def _read_noise(shot: float) -> float:
    return math.exp(2.18 * math.log(shot) + 1.20)


def illuminant_xy(kelvin: float) -> tuple[float, float]:
    """Chromaticity of a black body at ``kelvin`` (1667-25000 K), Kim et al.'s cubic approximation."""
    t = float(kelvin)
    if not 1667.0 <= t <= 25000.0:
        raise ValueError(f"colour temperature {t} K outside 1667..25000 K")
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return float(x), float(y)


@dataclass(frozen=True)
class Shot:
    """One simulated exposure: camera, light, exposure, noise and sensor levels."""

    camera: Camera
    kelvin: float  # the illuminant's colour temperature
    brightness: float  # exposure relative to the photo (< 1: darker)
    shot_noise: float
    read_noise: float
    bits: int  # 12 or 14
    black: int  # black level in raw counts

    @property
    def white(self) -> int:
        return 2**self.bits - 1

    @property
    def as_shot_neutral(self) -> np.ndarray:
        """The camera's raw response to the illuminant's white, green = 1 (DNG AsShotNeutral)."""
        x, y = illuminant_xy(self.kelvin)
        response = self.camera.xyz_to_cam @ np.array([x / y, 1.0, (1.0 - x - y) / y])
        return response / response[1]

    @property
    def params(self) -> UnprocessParams:
        """The unprocessing parameters of this shot (inverse gains = the as-shot neutral)."""
        neutral = self.as_shot_neutral
        return UnprocessParams(self.camera.rgb_to_cam, 1.0 / float(neutral[0]), 1.0 / float(neutral[2]),
                               1.0 / self.brightness, self.shot_noise, self.read_noise)

    @property
    def colour(self) -> CameraColour:
        """How the file's metadata tells a developer to colour this shot (as camera_colour would)."""
        neutral = self.as_shot_neutral
        matrix = camera_to_srgb_matrix(self.camera.xyz_to_cam)
        return CameraColour(gains=(1.0 / float(neutral[0]), 1.0, 1.0 / float(neutral[2])), camera_to_srgb=matrix,
                            wb="camera", matrix_source=f"{self.camera.name} ColorMatrix")


def draw_shot(rng: np.random.Generator, cameras: tuple[Camera, ...] = TRAIN_CAMERAS) -> Shot:
    """A random training shot: camera, illuminant (uniform in 1/T), exposure, ISO, bit depth and black level."""
    inv_t = rng.uniform(1.0 / _CCT_RANGE[1], 1.0 / _CCT_RANGE[0])
    shot = math.exp(rng.uniform(math.log(_SHOT_RANGE[0]), math.log(_SHOT_RANGE[1])))
    read = _read_noise(shot) * math.exp(rng.normal(0.0, 0.26))
    bits = int(rng.choice([12, 14]))
    black = int(rng.choice([0, 64, 128, 256, 512])) * (4 if bits == 14 else 1)
    return Shot(camera=cameras[int(rng.integers(len(cameras)))], kelvin=1.0 / inv_t,
                brightness=float(np.clip(rng.normal(0.8, 0.1), 0.4, 1.2)), shot_noise=shot, read_noise=read,
                bits=bits, black=black)


def shot_for(camera: Camera, noise: str, kelvin: float = 5000.0, bits: int = 14, black: int = 512) -> Shot:
    """A fixed evaluation shot of ``camera`` at one of :data:`NOISE_LEVELS`."""
    shot = NOISE_LEVELS[noise]
    return Shot(camera=camera, kelvin=kelvin, brightness=0.8, shot_noise=shot, read_noise=_read_noise(shot),
                bits=bits, black=black)


def _sensor_mosaic(photo: np.ndarray, shot: Shot, rng: np.random.Generator) -> np.ndarray:
    """RGGB raw counts (H, W) uint16: the noisy mosaic quantised above the black level, clipped at white."""
    levels, _ = unprocess_to_mosaic(photo, shot.params, rng=rng)
    counts = np.rint(shot.black + levels * np.float32(shot.white - shot.black))
    return np.clip(counts, 0, shot.white).astype(np.uint16)


def developer_sample(photo: np.ndarray, shot: Shot, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training pair of the learned developer from an sRGB photo crop (2h, 2w, 3).

    Returns (input, truth): input (4, h, w) float32, the packed, white-balanced, sRGB-primaries
    mosaic the pipeline builds from a file; truth (3, 2h, 2w) float32, linear sRGB of the
    noise-free camera response through the same white balance and matrix.
    """
    counts = _sensor_mosaic(photo, shot, rng)
    levels = np.clip((counts.astype(np.float32) - shot.black) / np.float32(shot.white - shot.black), 0.0, 1.0)
    colour = shot.colour
    model_input = balance_packed(pack_bayer(levels, "RGGB").astype(np.float32, copy=False), colour)
    clean = camera_rgb(photo, shot.params)  # (3, 2h, 2w)
    return model_input, colour.develop(clean, clip=False)  # balanced, clipped at 1, in linear sRGB


def write_shot_dng(path: str | Path, photo: np.ndarray, shot: Shot, cfa: str,
                   rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    """Write a DNG of ``photo`` as ``shot`` would record it, with Bayer phase ``cfa``.

    The photo is cropped by one row and/or column to put the wanted colour at (0, 0) (then to
    even sides); returns the file and the sRGB truth of exactly the pixels the DNG holds.
    """
    from rawcolour.io.dng import write_bayer_dng

    dy, dx = cfa_offsets(cfa)[0]  # where R sits in that phase: the RGGB mosaic cropped there has it
    mosaic = _sensor_mosaic(photo, shot, rng)  # RGGB at (0, 0)
    h, w = mosaic.shape
    h2, w2 = (h - dy) // 2 * 2, (w - dx) // 2 * 2
    out = write_bayer_dng(path, mosaic[dy:dy + h2, dx:dx + w2], cfa, black=shot.black, white=shot.white,
                          camera=shot.camera.name, color_matrix=shot.camera.xyz_to_cam,
                          as_shot_neutral=tuple(float(v) for v in shot.as_shot_neutral))
    return out, np.asarray(photo)[dy:dy + h2, dx:dx + w2]
