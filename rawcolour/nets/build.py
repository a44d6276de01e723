"""Networks from their configs: the architecture table, building, counting, initialising."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from .configs import config_class, config_from_dict
from .patchgan import MultiScaleDiscriminator, SGANDiscriminator
from .unet import ColorGANGenerator, Pix2PixUNet
from .uresnet import SGANGenerator

_MODULES: dict[str, type] = {
    "colorgan_unet": ColorGANGenerator,
    "pix2pix_unet": Pix2PixUNet,
    "sgan_generator": SGANGenerator,
    "patchgan": MultiScaleDiscriminator,
    "sgan_discriminator": SGANDiscriminator,
}
# Architecture name -> (config dataclass, module class). Discriminators return a list of maps.
ARCHITECTURES: dict[str, tuple[type, type]] = {arch: (config_class(arch), net) for arch, net in _MODULES.items()}


def build_net(arch: str, config: Any = None) -> nn.Module:
    """Build arch from its config: None (defaults), a dict (see config_from_dict) or the config dataclass."""
    cls = config_class(arch)
    if config is None:
        config = cls()
    elif isinstance(config, dict):
        config = config_from_dict(arch, config)
    elif not isinstance(config, cls):
        raise TypeError(f"{arch} needs a {cls.__name__} or a dict; got {type(config).__name__}")
    return _MODULES[arch](config)


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
