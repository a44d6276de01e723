"""Bayer mosaics as tensors: packed RGGB planes <-> mosaic, and a bilinear demosaic.

Packed planes are (B, 4, h, w) in the project's order R, G_r, B, G_b (see rawcolour.io.mosaic) of an
RGGB mosaic: R at (0, 0), G_r at (0, 1), G_b at (1, 0), B at (1, 1) of each 2x2 cell. Other
phases are flipped to RGGB before a network sees them (rawcolour.io.mosaic.to_rggb).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bilinear_demosaic", "packed_to_mosaic"]

# Bilinear interpolation of the missing samples: greens from their 4 neighbours, reds and blues
# from 2 or 4 diagonal/axial neighbours. Applied to each colour's samples with the others zeroed.
# On the CPU whatever device is the default when this module is first imported (a meta-device build).
_GREEN = torch.tensor([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]], device="cpu") / 4.0
_RED_BLUE = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], device="cpu") / 4.0


def packed_to_mosaic(packed: torch.Tensor) -> torch.Tensor:
    """(B, 4, h, w) RGGB planes R, G_r, B, G_b -> (B, 1, 2h, 2w) mosaic."""
    r, gr, b, gb = packed.unbind(dim=1)
    return F.pixel_shuffle(torch.stack((r, gr, gb, b), dim=1), 2)


def bilinear_demosaic(packed: torch.Tensor) -> torch.Tensor:
    """(B, 4, h, w) RGGB planes -> (B, 3, 2h, 2w) RGB by bilinear interpolation of the mosaic.

    Exact on flat colour; the borders use reflection, which keeps the colour pattern's phase.
    Any affine level scaling (such as 2v - 1) commutes with it, since the weights sum to 1.
    """
    mosaic = packed_to_mosaic(packed)  # (B, 1, H, W)
    _, _, height, width = mosaic.shape
    rows = torch.arange(height, device=packed.device).view(-1, 1) % 2
    cols = torch.arange(width, device=packed.device).view(1, -1) % 2
    masks = torch.stack(((rows == 0) & (cols == 0), rows != cols, (rows == 1) & (cols == 1)))  # R, G, B
    planes = mosaic * masks.to(mosaic.dtype)  # (B, 3, H, W)
    kernels = torch.stack((_RED_BLUE, _GREEN, _RED_BLUE)).unsqueeze(1).to(mosaic)  # (3, 1, 3, 3)
    return F.conv2d(F.pad(planes, (1, 1, 1, 1), mode="reflect"), kernels, groups=3)
