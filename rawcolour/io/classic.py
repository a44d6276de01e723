"""The classic developers, the baselines beside the learned ones.

- :func:`classic_develop`: LibRaw's own development of a RAW file (demosaic, white balance, camera
  matrix, highlight mode, exposure) to linear ProPhoto, then our automatic brightness; ``--model
  classic``.
- :func:`classic_linear_packed`: the metadata colour pipeline (rawcolour.camera_colour) on an
  already packed picture, at packed resolution, nothing demosaiced; what ``classic`` does for
  packed PNG datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rawcolour.errors import UnsupportedRawError, UsageError
from rawcolour.io.mosaic import packed_rgb
from rawcolour.io.raw import RawPicture, bayer_layout, is_demosaiced, open_raw, refuse_no_image_data, refuse_non_bayer

if TYPE_CHECKING:
    from rawcolour.camera_colour import CameraColour

# LibRaw scales linear light by exp_shift in 0.25..8 (-2..+3 EV); every developer shares the range.
EXPOSURE_RANGE = (-2.0, 3.0)

# --highlights: LibRaw's highlight modes. clip (0): every channel clipped at white, so a blown
# highlight is white; blend (2): clipped and unclipped values blended, keeping some colour;
# reconstruct (5): LibRaw's reconstruction, dcraw's "-H 5" compromise between whites and colours.
HIGHLIGHT_MODES = {"clip": 0, "blend": 2, "reconstruct": 5}
# --demosaic: LibRaw's own algorithms (the GPL demosaic packs are not part of rawpy's LibRaw).
DEMOSAIC_ALGORITHMS = ("ahd", "dcb", "dht", "aahd", "vng", "ppg", "linear")
DEFAULT_DEMOSAIC = "ahd"


def check_highlights(mode: str) -> str:
    """``mode`` if it is one of HIGHLIGHT_MODES, else a UsageError."""
    if mode not in HIGHLIGHT_MODES:
        raise UsageError(f"unknown highlight mode {mode!r}", hint=f"use one of {', '.join(HIGHLIGHT_MODES)}")
    return mode


def demosaic_algorithm(name: str | None) -> str:
    """The DEMOSAIC_ALGORITHMS entry ``name`` spells (any case; None: DEFAULT_DEMOSAIC), else a UsageError."""
    algorithm = DEFAULT_DEMOSAIC if name is None else str(name).lower()
    if algorithm not in DEMOSAIC_ALGORITHMS:
        raise UsageError(f"unknown demosaic algorithm {name!r}", hint=f"use one of {', '.join(DEMOSAIC_ALGORITHMS)}")
    return algorithm


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
        from rawcolour.colour_spaces import apply_matrix

        return apply_matrix(self.wide, self.to_srgb)


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

    check_highlights(highlights)
    algorithm = demosaic_algorithm(demosaic)
    notes: list[str] = []
    with open_raw(path) as (raw, p):
        demosaiced = is_demosaiced(raw)
        _check_image_data(raw, p, demosaiced)
        if demosaiced and demosaic is not None:
            notes.append("the file is already demosaiced (a linear DNG): --demosaic has no effect")
        used, options = _white_balance_options(raw, wb)
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
    return ClassicDevelopment(wide, _prophoto_to_srgb(wide, auto_bright=highlights != "reconstruct"), used, notes)


def _check_image_data(raw, path: Path, demosaiced: bool) -> None:
    """Refuse a file LibRaw cannot develop as a picture: a mosaic that is not 2x2 Bayer, a
    demosaiced file (a linear DNG) without three colours, a file without image data."""
    if demosaiced:
        if raw.num_colors != 3:
            refuse_non_bayer(raw, path)  # monochrome
            raise UnsupportedRawError(f"a demosaiced RAW with {raw.num_colors} colours per pixel", path=path,
                                      hint="develop it with its maker's software")
        visible = raw.raw_image_visible[..., :3]
        above = int(np.count_nonzero(visible > np.asarray(raw.black_level_per_channel[:3])))
    else:
        bayer_layout(raw, path)
        visible = raw.raw_image_visible
        colours = np.asarray(raw.raw_colors_visible[:2, :2])  # a 2x2 Bayer cell (checked above)
        black = raw.black_level_per_channel
        # per position of the cell, not a full-size black-level picture (that cost a tenth of the render)
        above = sum(int(np.count_nonzero(visible[dy::2, dx::2] > black[int(colours[dy, dx])]))
                    for dy in range(min(2, visible.shape[0])) for dx in range(min(2, visible.shape[1])))
    refuse_no_image_data(above, visible.size, path)


def _white_balance_options(raw, wb: str | tuple[float, float, float]) -> tuple[str, dict]:
    """(the white balance used: camera | auto | daylight | custom, LibRaw's postprocess options for it)."""
    from rawcolour.camera_colour import usable_gains

    used = wb if isinstance(wb, str) else "custom"
    if wb == "camera" and usable_gains(raw.camera_whitebalance[:3]) is None:
        used = "auto"
    options: dict = {"use_camera_wb": used == "camera", "use_auto_wb": used == "auto"}
    if isinstance(wb, tuple):
        options["user_wb"] = [float(wb[0]), float(wb[1]), float(wb[2]), float(wb[1])]
    return used, options


def _prophoto_to_srgb(wide: np.ndarray, auto_bright: bool) -> np.ndarray:
    """The 3x3 matrix from LibRaw's 16-bit ProPhoto codes to linear sRGB, with the automatic
    brightness folded in when ``auto_bright``."""
    from rawcolour.camera_colour import AUTO_BRIGHT_STRIDE, auto_brightness
    from rawcolour.colour_spaces import apply_matrix, matrix_from_linear_srgb

    # LibRaw's sRGB -> ProPhoto matrix is the Bradford-adapted one colour_spaces reads from the
    # LittleCMS profiles (they agree to 1e-4).
    to_srgb = np.linalg.inv(matrix_from_linear_srgb("prophoto")) / 65535.0
    if auto_bright:
        sample = wide[::AUTO_BRIGHT_STRIDE, ::AUTO_BRIGHT_STRIDE]
        to_srgb = to_srgb * auto_brightness(apply_matrix(sample, to_srgb), stride=1)
    return to_srgb


def classic_linear_packed(raw: RawPicture, colour: CameraColour | None = None,
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
