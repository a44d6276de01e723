"""sRGB <-> CIE Lab and the value scalings the colourisation models expect.

All functions take torch tensors of shape ``(*, C, H, W)`` on any device and keep the input's
device and dtype (float16/bfloat16 Lab maths runs in float32 inside kornia and is rounded back).

Lab convention: CIE Lab, D65 reference white, 2 degree observer, ``L`` in 0..100, exactly as
``skimage.color.rgb2lab`` / ``lab2rgb`` (the reference ColorGAN and pix2pix code prepare their
data with scikit-image). kornia's ``rgb_to_lab`` / ``lab_to_rgb`` are translated from scikit-image
and use the same constants, so the two agree to float rounding (tests/test_colour.py checks it,
gamut corners included). One consequence of those shared constants: sRGB white maps to
``L=100, a=-0.0025, b=0.0047`` rather than exactly ``a=b=0`` (the 4-digit D65 white point does not
quite match the 6-digit sRGB matrix). We keep it: matching the data the papers trained on matters
more than a perfectly neutral white, and the offset is far below one 8-bit step.

Model scalings (pix2pix and ColorGAN): ``L/50 - 1`` and ``ab/110`` map Lab into about [-1, 1];
RGB models take ``2*rgb - 1``.
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb as _kornia_lab_to_rgb
from kornia.color import rgb_to_lab as _kornia_rgb_to_lab

__all__ = [
    "AB_SCALE",
    "L_SCALE",
    "ab_to_model",
    "l_to_model",
    "lab_to_rgb",
    "model_lab_to_rgb",
    "model_to_ab",
    "model_to_l",
    "model_to_rgb",
    "rgb_to_grey_l",
    "rgb_to_lab",
    "rgb_to_model",
    "rgb_to_model_lab",
]

L_SCALE = 50.0  # L in [0, 100] -> L / 50 - 1 in [-1, 1]
AB_SCALE = 110.0  # a, b in about [-110, 110] -> ab / 110 in about [-1, 1]


def _check(x: object, channels: tuple[int, ...], name: str) -> torch.Tensor:
    """Raise TypeError / ValueError unless ``x`` is a floating tensor of shape (*, C, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor. Got {type(x)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (convert images with to_float). Got {x.dtype}")
    if x.dim() < 3 or x.shape[-3] not in channels:
        want = " or ".join(str(c) for c in channels)
        raise ValueError(f"{name} must have shape (*, {want}, H, W). Got {tuple(x.shape)}")
    return x


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], shape (*, 3, H, W) -> CIE Lab (D65, L 0..100), same shape."""
    return _kornia_rgb_to_lab(_check(rgb, (3,), "rgb"))


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIE Lab (D65, L 0..100), shape (*, 3, H, W) -> sRGB, clamped to [0, 1] unless ``clip`` is False.

    Lab colours outside the sRGB gamut come back outside [0, 1] when ``clip`` is False (as in
    scikit-image, an ``f(Z)`` below zero is clamped to zero first).
    """
    return _kornia_lab_to_rgb(_check(lab, (3,), "lab"), clip=clip)


def rgb_to_grey_l(rgb: torch.Tensor) -> torch.Tensor:
    """The Lab L channel (0..100) of an sRGB image: (*, 3, H, W) -> (*, 1, H, W).

    This is what a colouriser sees when given a colour photo. A one-channel input (*, 1, H, W)
    is taken as neutral grey (R = G = B), i.e. an ordinary greyscale photo.
    """
    _check(rgb, (1, 3), "rgb")
    if rgb.shape[-3] == 1:
        rgb = rgb.expand(*rgb.shape[:-3], 3, *rgb.shape[-2:])
    return rgb_to_lab(rgb)[..., :1, :, :]


def l_to_model(L: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> model input in [-1, 1] (``L/50 - 1``)."""
    return L / L_SCALE - 1.0


def model_to_l(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`l_to_model`: ``(x + 1) * 50``."""
    return (x + 1.0) * L_SCALE


def ab_to_model(ab: torch.Tensor) -> torch.Tensor:
    """a, b in about [-110, 110] -> model range about [-1, 1] (``ab/110``)."""
    return ab / AB_SCALE


def model_to_ab(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`ab_to_model`: ``x * 110``."""
    return x * AB_SCALE


def rgb_to_model(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> [-1, 1] (``2x - 1``), for models with RGB output (raw2rgb, pix2pix RGB)."""
    return rgb * 2.0 - 1.0


def model_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Model output in [-1, 1] -> RGB in [0, 1], clamped."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


def rgb_to_model_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB (*, 3, H, W) in [0, 1] -> (L in model range (*, 1, H, W), ab in model range (*, 2, H, W))."""
    lab = rgb_to_lab(rgb)
    return l_to_model(lab[..., :1, :, :]), ab_to_model(lab[..., 1:, :, :])


def model_lab_to_rgb(l_model: torch.Tensor, ab_model: torch.Tensor) -> torch.Tensor:
    """L (*, 1, H, W) and ab (*, 2, H, W) in model range -> sRGB (*, 3, H, W) clamped to [0, 1]."""
    _check(l_model, (1,), "l_model")
    _check(ab_model, (2,), "ab_model")
    if l_model.shape[:-3] != ab_model.shape[:-3] or l_model.shape[-2:] != ab_model.shape[-2:]:
        raise ValueError(
            "l_model (*, 1, H, W) and ab_model (*, 2, H, W) must agree in * and H, W. "
            f"Got {tuple(l_model.shape)} and {tuple(ab_model.shape)}"
        )
    lab = torch.cat([model_to_l(l_model), model_to_ab(ab_model)], dim=-3)
    return lab_to_rgb(lab, clip=True)
