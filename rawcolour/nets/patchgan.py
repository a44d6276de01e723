"""PatchGAN discriminators: pix2pix's basic D (also the ColorGAN code's D), its multi-scale wrapper,
and the raw2rgb SN/IN discriminator. All return logits maps, as a list (one per scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norms import check_norm_kinds, conv_bias, make_norm, maybe_sn, tf_same_pad_4x4
from .uresnet import conv_block


@dataclass(frozen=True)
class PatchGANConfig:
    """pix2pix NLayerDiscriminator (70x70 for n_layers=3), optionally multi-scale."""

    in_channels: int = 3  # condition + output, concatenated
    ndf: int = 64  # width of the first block; doubles per block up to 8 * ndf
    n_layers: int = 3  # pix2pix meaning: n_layers + 1 conv blocks, then the 1-channel conv
    norm: str = "batch"  # norm of every block but the first
    # Per-block norms (n_layers + 1 entries, first is the input block); overrides norm when given.
    norms: tuple[str, ...] | None = None
    spectral_norm: bool = False  # SN on every conv
    num_scales: int = 1  # multi-scale: one D per scale, input avg-pooled by 2 for each further one
    bias: bool | None = None  # None: pix2pix's rule, no bias before batch norm (but in the input and output convs)
    last_stride: int = 1  # stride of the widest block: 1 in pix2pix, 2 in the ColorGAN code
    same_padding: bool = False  # TF 'same' padding (ColorGAN code) instead of pix2pix's padding 1
    instance_affine: bool = False  # learnable gamma/beta for 'instance' norms

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.num_scales < 1:
            raise ValueError(
                f"PatchGANConfig: n_layers and num_scales must be >= 1; got {self.n_layers}, {self.num_scales}"
            )
        if self.norms is not None and len(self.norms) != self.n_layers + 1:
            raise ValueError(
                f"PatchGANConfig.norms needs n_layers + 1 = {self.n_layers + 1} entries; got {len(self.norms)}"
            )
        if self.last_stride not in (1, 2):
            raise ValueError(f"PatchGANConfig.last_stride must be 1 or 2; got {self.last_stride}")
        check_norm_kinds(self.block_norms, "PatchGANConfig.norms")

    @property
    def block_norms(self) -> tuple[str, ...]:
        """The norm of each of the n_layers + 1 blocks."""
        return self.norms if self.norms is not None else ("none",) + (self.norm,) * self.n_layers


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


# The released ColorGAN code's IBN discriminator: inputs concat(L, ab), BN except the 'layer'
# norm in block 2, all stride 2 with TF 'same' padding, keras biases, SN on every conv.
COLORGAN_RELEASED_CODE_DISC = PatchGANConfig(
    in_channels=3,
    norms=("none", "layer", "batch", "batch"),
    spectral_norm=True,
    bias=True,
    last_stride=2,
    same_padding=True,
)

# Discriminator for COLORGAN_TINY: the released-code layout at a quarter of the width.
COLORGAN_TINY_DISC = PatchGANConfig(
    in_channels=3,
    ndf=16,
    norms=("none", "layer", "batch", "batch"),
    spectral_norm=True,
    bias=True,
    last_stride=2,
    same_padding=True,
)


# ----------------------------------------------------------------------------- raw2rgb


@dataclass(frozen=True)
class SGANDiscriminatorConfig:
    """The raw2rgb discriminator: SN + IN + reflection padding, receptive field 104 px."""

    in_channels: int = 7  # concat(packed raw 4, rgb 3)
    width: int = 64  # first width; blocks at w, 2w, 4w, 8w
    norm: str = "instance"
    spectral_norm: bool = True
    bias: bool = False  # conv bias (the code has none)

    def __post_init__(self) -> None:
        check_norm_kinds((self.norm,), "SGANDiscriminatorConfig.norm")


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


SGAN_TINY_DISC = SGANDiscriminatorConfig(width=16)
