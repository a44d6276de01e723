"""PatchGAN discriminators: pix2pix's basic D (also the ColorGAN code's D), its multi-scale wrapper,
and the raw2rgb SN/IN discriminator. All return logits maps, as a list (one per scale).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .configs import (  # noqa: F401
    COLORGAN_RELEASED_CODE_DISC,
    COLORGAN_TINY_DISC,
    SGAN_TINY_DISC,
    PatchGANConfig,
    SGANDiscriminatorConfig,
)
from .norms import conv_bias, make_norm, maybe_sn, tf_same_pad_4x4
from .uresnet import conv_block


class PatchGAN(nn.Module):
    """One-scale PatchGAN: (B, in, H, W) -> logits (B, 1, h', w'); 30x30 at 256 for pix2pix's defaults."""

    def __init__(self, config: PatchGANConfig = PatchGANConfig()) -> None:
        super().__init__()
        self.config = cfg = config
        norms = cfg.block_norms
        layers: list[nn.Module] = []
        cin = cfg.in_channels
        for i, norm in enumerate(norms):
            cout = cfg.ndf * min(2**i, 8)
            stride = cfg.last_stride if i == cfg.n_layers else 2
            bias = cfg.bias is not False if i == 0 else conv_bias(cfg.bias, norm)
            conv = nn.Conv2d(cin, cout, 4, stride, 0 if cfg.same_padding else 1, bias=bias)
            block = [tf_same_pad_4x4()] if cfg.same_padding else []
            block += [maybe_sn(conv, cfg.spectral_norm), make_norm(norm, cout, cfg.instance_affine)]
            block.append(nn.LeakyReLU(0.2))
            layers.append(nn.Sequential(*block))
            cin = cout
        final = nn.Conv2d(cin, 1, 4, 1, 0 if cfg.same_padding else 1, bias=cfg.bias is not False)
        final = maybe_sn(final, cfg.spectral_norm)
        layers.append(nn.Sequential(tf_same_pad_4x4(), final) if cfg.same_padding else nn.Sequential(final))
        self.blocks = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)  # (B, 1, h', w')


class MultiScaleDiscriminator(nn.Module):
    """num_scales separate PatchGANs on the input average-pooled by 1, 2, 4, ...; returns one map per scale."""

    def __init__(self, config: PatchGANConfig = PatchGANConfig()) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList([PatchGAN(config) for _ in range(config.num_scales)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 2, ceil_mode=True)  # (B, C, H / 2**i, W / 2**i)
            outs.append(d(x))  # (B, 1, h_i, w_i)
        return outs


# ----------------------------------------------------------------------------- raw2rgb


class SGANDiscriminator(nn.Module):
    """(B, 7, H, W) -> [logits (B, 1, H/8 - 2, W/8 - 2)]: 26x26 at 224."""

    def __init__(self, config: SGANDiscriminatorConfig = SGANDiscriminatorConfig()) -> None:
        super().__init__()
        self.config = cfg = config
        w, norm, sn, bias = cfg.width, cfg.norm, cfg.spectral_norm, cfg.bias

        def block(cin: int, cout: int, k: int, stride: int, norm: str = norm, act: bool = True) -> nn.Sequential:
            return conv_block(cin, cout, k, stride, norm, nn.LeakyReLU(0.2) if act else None, sn, bias)

        self.blocks = nn.Sequential(
            block(cfg.in_channels, w, 1, 1, norm="none"),
            block(w, w, 7, 1),
            block(w, 2 * w, 4, 2),
            block(2 * w, 2 * w, 3, 1),
            block(2 * w, 4 * w, 4, 2),
            block(4 * w, 4 * w, 3, 1),
            block(4 * w, 8 * w, 4, 2),
            block(8 * w, 8 * w, 3, 1),
            block(8 * w, 4 * w, 4, 1),
            block(4 * w, 1, 4, 1, norm="none", act=False),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.blocks(x)]  # [(B, 1, H/8 - 2, W/8 - 2)]
