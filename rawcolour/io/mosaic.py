"""The Bayer mosaic and the project's packed layout: packing, unpacking, phases, levels (numpy).

The whole project shares one packed layout: a 2x2 Bayer mosaic becomes 4 half-resolution planes in
the order R, G_r, B, G_b (``PACKED_ORDER``; G_r is the green on the red row, G_b the green on the
blue row), float32 in [0, 1] after per-channel black subtraction and division by (white - black)
(:func:`normalise_packed`). This is the R, G, B, G order of the RAW2RGB-GAN 4-channel PNGs.
rawcolour.nets.bayer does the same on tensors.
"""

from __future__ import annotations

import numpy as np

from rawcolour.errors import UsageError

PACKED_ORDER = ("R", "Gr", "B", "Gb")
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


def check_cfa(cfa: str) -> str:
    """``cfa`` in upper case, or a UsageError naming the four Bayer patterns."""
    cfa_up = str(cfa).upper()
    if cfa_up not in BAYER_PATTERNS:
        raise UsageError(
            f"unknown Bayer pattern {cfa!r}",
            hint=f"use one of {', '.join(BAYER_PATTERNS)} (colours at (0,0), (0,1), (1,0), (1,1))",
        )
    return cfa_up


def cfa_offsets(cfa: str) -> list[tuple[int, int]]:
    """(row, col) of R, Gr, B, Gb inside the 2x2 cell of a Bayer pattern."""
    cfa = check_cfa(cfa)
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
    for k, (dy, dx) in enumerate(cfa_offsets(cfa)):
        out[k] = mosaic[dy : 2 * h : 2, dx : 2 * w : 2]
    return out


def packed_rgb(packed):
    """(..., 4, h, w) packed R,Gr,B,Gb -> (..., 3, h, w) R, mean green, B (a numpy array or a torch tensor)."""
    parts = [packed[..., 0, :, :], 0.5 * (packed[..., 1, :, :] + packed[..., 3, :, :]), packed[..., 2, :, :]]
    if isinstance(packed, np.ndarray):
        return np.stack(parts, axis=-3)
    import torch  # only a tensor reaches here, so torch is already loaded

    return torch.stack(parts, dim=-3)



def packed_preview(raw01, *, auto_gain: bool = True):
    """Packed R,Gr,B,Gb in [0, 1], (..., 4, h, w) -> viewable RGB (..., 3, h, w): R, mean G, B with a
    1/2.2 gamma, no white balance; the one way rawcolour shows a packed raw as a picture.

    ``auto_gain`` (a (B, 4, h, w) tensor: training's sample grids): each picture scaled so that its
    99th percentile is white. Off (a tensor or a numpy array: eval's report), the levels as they are.
    """
    rgb = packed_rgb(raw01)
    if auto_gain:
        import torch

        top = torch.quantile(rgb.flatten(1), 0.99, dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
        rgb = rgb / top
    clip = np.clip if isinstance(rgb, np.ndarray) else torch.clamp
    return clip(rgb, 0, 1) ** (1 / 2.2)


def rggb_flips(cfa: str) -> tuple[bool, bool]:
    """(flip rows, flip columns) that turn an even-sided mosaic of layout ``cfa`` into RGGB (and back)."""
    row, col = cfa_offsets(cfa)[0]  # where red sits in the 2x2 cell
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
    for k, (dy, dx) in enumerate(cfa_offsets(cfa)):
        out[dy::2, dx::2] = packed[k]
    return out


def normalise_packed(planes: np.ndarray, black: tuple[float, ...], white: float) -> np.ndarray:
    """(4, h, w) raw values -> float32 [0, 1] with each channel's own black level."""
    out = planes.astype(np.float32, copy=True)
    for k in range(4):
        np.subtract(out[k], np.float32(black[k]), out=out[k])
        np.multiply(out[k], np.float32(1.0 / (white - black[k])), out=out[k])
    np.clip(out, 0.0, 1.0, out=out)
    return out
