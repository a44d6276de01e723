"""Pure nn.Modules for both tasks, each built from one frozen config dataclass.

>>> g = build_net("colorgan_unet", {"encoder_widths": [16, 32, 64, 128, 128, 128, 128],
...                                 "decoder_widths": [128, 128, 128, 64, 32, 16]})
>>> config_from_dict("colorgan_unet", config_to_dict(g.config)) == g.config
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn as nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import UnknownModelError
from .fold import fold_for_inference
from .limits import check_config, meta_build, state_shapes
from .norms import NORM_KINDS, has_sample_statistics, make_norm, set_norm_stats_mode
from .patchgan import (
    COLORGAN_RELEASED_CODE_DISC,
    COLORGAN_TINY_DISC,
    SGAN_TINY_DISC,
    MultiScaleDiscriminator,
    PatchGAN,
    PatchGANConfig,
    SGANDiscriminator,
    SGANDiscriminatorConfig,
)
from .unet import COLORGAN_RELEASED_CODE, COLORGAN_TINY, ColorGANConfig, ColorGANGenerator, Pix2PixUNet, Pix2PixUNetConfig
from .uresnet import SGAN_TINY, SGANGenerator, SGANGeneratorConfig
from .vgg import VGGFeatures

# Architecture name -> (config dataclass, module class). Discriminators return a list of maps.
ARCHITECTURES: dict[str, tuple[type, type]] = {
    "colorgan_unet": (ColorGANConfig, ColorGANGenerator),
    "pix2pix_unet": (Pix2PixUNetConfig, Pix2PixUNet),
    "sgan_generator": (SGANGeneratorConfig, SGANGenerator),
    "patchgan": (PatchGANConfig, MultiScaleDiscriminator),
    "sgan_discriminator": (SGANDiscriminatorConfig, SGANDiscriminator),
}


def _lookup(arch: str) -> tuple[type, type]:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise UnknownModelError(
            f"unknown architecture {arch!r}", hint=f"choose one of {', '.join(ARCHITECTURES)}"
        ) from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-safe dict of a net config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(arch: str, d: dict[str, Any]) -> Any:
    """The frozen config of arch from a dict (lists become tuples); unknown keys, a value of the
    wrong type or outside the architecture's limits (rawcolour.nets.limits) raise ValueError."""
    cls, _ = _lookup(arch)
    if not isinstance(d, dict):
        raise ValueError(f"a {arch} config must be a JSON object; got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {arch} config key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    check_config(arch, cls, d)
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def build_net(arch: str, config: Any = None) -> nn.Module:
    """Build arch from its config: None (defaults), a dict (see config_from_dict) or the config dataclass."""
    cls, net = _lookup(arch)
    if config is None:
        config = cls()
    elif isinstance(config, dict):
        config = config_from_dict(arch, config)
    elif not isinstance(config, cls):
        raise TypeError(f"{arch} needs a {cls.__name__} or a dict; got {type(config).__name__}")
    return net(config)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (spectral norm's u/v are buffers and do not count)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def init_weights(model: nn.Module, std: float = 0.02) -> nn.Module:
    """In place: conv weights ~ N(0, std), biases 0, BN gamma ~ N(1, std); also under spectral norm.

    Under an SN parametrization the raw weight is re-initialised and SN re-applied, so its u/v
    vectors match the new weight (the reference raw2rgb code's init was a no-op under its SN wrapper).
    Call before building the optimiser: SN-wrapped weights become new Parameters.
    """
    for m in list(model.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            wrapped = parametrize.is_parametrized(m, "weight")
            if wrapped:
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            if wrapped:
                spectral_norm(m)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return model


__all__ = [
    "ARCHITECTURES",
    "COLORGAN_RELEASED_CODE",
    "COLORGAN_RELEASED_CODE_DISC",
    "COLORGAN_TINY",
    "COLORGAN_TINY_DISC",
    "NORM_KINDS",
    "SGAN_TINY",
    "SGAN_TINY_DISC",
    "ColorGANConfig",
    "ColorGANGenerator",
    "MultiScaleDiscriminator",
    "PatchGAN",
    "PatchGANConfig",
    "Pix2PixUNet",
    "Pix2PixUNetConfig",
    "SGANDiscriminator",
    "SGANDiscriminatorConfig",
    "SGANGenerator",
    "SGANGeneratorConfig",
    "VGGFeatures",
    "build_net",
    "config_from_dict",
    "config_to_dict",
    "count_parameters",
    "fold_for_inference",
    "has_sample_statistics",
    "init_weights",
    "make_norm",
    "meta_build",
    "state_shapes",
    "set_norm_stats_mode",
]
