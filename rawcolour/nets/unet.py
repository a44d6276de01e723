"""U-Net generators for colourisation: the ColorGAN paper's 7-down/6-up net and pix2pix's unet_256.

Both take L (scaled L/50 - 1) and return ab/110 in [-1, 1] by default. Blocks are
nn.Sequential(..., conv, norm, act) so fold_for_inference can find conv -> BN pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .norms import check_norm_kinds, conv_bias, make_norm, maybe_sn, tf_same_pad_4x4


def _check_sides(x: torch.Tensor, multiple: int, name: str) -> None:
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"{name} needs input sides that are multiples of {multiple}; got {h}x{w}. "
            "Pad or resize the input first"
        )


# ----------------------------------------------------------------------------- ColorGAN


@dataclass(frozen=True)
class ColorGANConfig:
    """The colourisation paper's generator (bbc/ColorGAN); defaults: BN everywhere, no SN."""

    in_channels: int = 1  # L
    out_channels: int = 2  # ab
    # Down blocks: 4x4 stride-2 conv (TF 'same' padding), norm, LeakyReLU 0.2.
    encoder_widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512)
    # Up blocks: nearest x2, 4x4 conv ('same'), norm, ReLU, concat skip; one fewer than the encoder.
    decoder_widths: tuple[int, ...] = (512, 512, 512, 256, 128, 64)
    # One norm kind per encoder block; the input block has none in every variant.
    encoder_norms: tuple[str, ...] = ("none", "batch", "batch", "batch", "batch", "batch", "batch")
    # One norm kind per decoder block.
    decoder_norms: tuple[str, ...] = ("batch", "batch", "batch", "batch", "batch", "batch")
    spectral_norm: bool = False  # SN on every conv (the paper's "+SN" variants)
    bias: bool | None = True  # conv bias: True as keras Conv2D; None = none before batch norm
    instance_affine: bool = False  # learnable gamma/beta for 'instance' norms

    def __post_init__(self) -> None:
        n = len(self.encoder_widths)
        if n < 2 or len(self.decoder_widths) != n - 1:
            raise ValueError(
                f"ColorGANConfig: decoder_widths needs len(encoder_widths) - 1 = {n - 1} entries; "
                f"got {len(self.decoder_widths)}"
            )
        if len(self.encoder_norms) != n or len(self.decoder_norms) != n - 1:
            raise ValueError(
                f"ColorGANConfig: need {n} encoder_norms and {n - 1} decoder_norms; "
                f"got {len(self.encoder_norms)} and {len(self.decoder_norms)}"
            )
        check_norm_kinds(self.encoder_norms, "ColorGANConfig.encoder_norms")
        check_norm_kinds(self.decoder_norms, "ColorGANConfig.decoder_norms")

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** len(self.encoder_widths)


def _colorgan_block(cin: int, cout: int, stride: int, norm: str, act: nn.Module, cfg: ColorGANConfig) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 4, stride, padding=0, bias=conv_bias(cfg.bias, norm))
    return [tf_same_pad_4x4(), maybe_sn(conv, cfg.spectral_norm), make_norm(norm, cout, cfg.instance_affine), act]


class ColorGANGenerator(nn.Module):
    """ColorGAN U-Net: L (B, 1, H, W) -> ab (B, 2, H, W) in [-1, 1]; H, W multiples of 2**len(encoder)."""

    def __init__(self, config: ColorGANConfig = ColorGANConfig()) -> None:
        super().__init__()
        self.config = cfg = config
        enc_w, dec_w = cfg.encoder_widths, cfg.decoder_widths
        self.encoder = nn.ModuleList()
        cin = cfg.in_channels
        for w, norm in zip(enc_w, cfg.encoder_norms):
            self.encoder.append(nn.Sequential(*_colorgan_block(cin, w, 2, norm, nn.LeakyReLU(0.2), cfg)))
            cin = w
        self.decoder = nn.ModuleList()
        for i, (w, norm) in enumerate(zip(dec_w, cfg.decoder_norms)):
            up = nn.Upsample(scale_factor=2, mode="nearest")
            self.decoder.append(nn.Sequential(up, *_colorgan_block(cin, w, 1, norm, nn.ReLU(), cfg)))
            cin = w + enc_w[-2 - i]  # concat(up, skip) as in the keras code
        final = nn.Conv2d(cin, cfg.out_channels, 4, 1, padding=0, bias=cfg.bias is not False)
        self.head = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            tf_same_pad_4x4(),
            maybe_sn(final, cfg.spectral_norm),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sides(x, self.config.size_multiple, "the ColorGAN generator")
        skips = []
        for block in self.encoder:
            x = block(x)  # (B, C_i, H / 2**(i+1), W / 2**(i+1))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for block in self.decoder:
            x = torch.cat((block(x), skips.pop()), dim=1)  # (B, C_up + C_skip, 2h, 2w)
        return self.head(x)  # (B, out, H, W)


# The generator of the released code's IBN model: BN everywhere except the keras-contrib
# InstanceNormalization(axis=None) ('layer') in the last decoder block; all convs SN, with bias.
COLORGAN_RELEASED_CODE = ColorGANConfig(
    decoder_norms=("batch", "batch", "batch", "batch", "batch", "layer"),
    spectral_norm=True,
)

# Same architecture and norm placement with a quarter of the widths: trains on a CPU.
COLORGAN_TINY = ColorGANConfig(
    encoder_widths=(16, 32, 64, 128, 128, 128, 128),
    decoder_widths=(128, 128, 128, 64, 32, 16),
    decoder_norms=("batch", "batch", "batch", "batch", "batch", "layer"),
    spectral_norm=True,
)


# ----------------------------------------------------------------------------- pix2pix


@dataclass(frozen=True)
class Pix2PixUNetConfig:
    """junyanz pix2pix U-Net (unet_256 by default)."""

    in_channels: int = 1
    out_channels: int = 2
    num_downs: int = 8  # 8 -> 1x1 bottleneck at 256
    ngf: int = 64  # width of the first block; doubles per level up to 8 * ngf
    norm: str = "batch"
    dropout: float = 0.5  # in the up blocks of the (num_downs - 5) innermost 8*ngf levels
    spectral_norm: bool = False  # SN on every conv and transposed conv
    bias: bool | None = None  # None: pix2pix's rule, no bias before batch norm

    def __post_init__(self) -> None:
        if self.num_downs < 5:
            raise ValueError(f"Pix2PixUNetConfig.num_downs must be at least 5; got {self.num_downs}")
        check_norm_kinds((self.norm,), "Pix2PixUNetConfig.norm")

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.num_downs


class Pix2PixUNet(nn.Module):
    """pix2pix U-Net, flattened: pre-activation down blocks, transposed-conv up blocks, skip first in concat."""

    def __init__(self, config: Pix2PixUNetConfig = Pix2PixUNetConfig()) -> None:
        super().__init__()
        self.config = cfg = config
        n, sn, norm = cfg.num_downs, cfg.spectral_norm, cfg.norm
        bias = conv_bias(cfg.bias, norm)
        widths = [cfg.ngf * min(2**i, 8) for i in range(n)]  # encoder output widths
        first = maybe_sn(nn.Conv2d(cfg.in_channels, widths[0], 4, 2, 1, bias=bias), sn)
        self.encoder = nn.ModuleList([nn.Sequential(first)])
        for i in range(1, n):
            innermost = i == n - 1
            conv = maybe_sn(nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=bias), sn)
            norm_layer = nn.Identity() if innermost else make_norm(norm, widths[i])
            self.encoder.append(nn.Sequential(nn.LeakyReLU(0.2), conv, norm_layer))
        # decoder[0] is the innermost up block; decoder[-1] the outermost (to out_channels, tanh).
        self.decoder = nn.ModuleList()
        for i in range(n - 1, 0, -1):
            cin = widths[i] if i == n - 1 else 2 * widths[i]
            deconv = maybe_sn(nn.ConvTranspose2d(cin, widths[i - 1], 4, 2, 1, bias=bias), sn)
            layers = [nn.ReLU(), deconv, make_norm(norm, widths[i - 1])]
            if i != n - 1 and widths[i] == widths[i - 1] == 8 * cfg.ngf and cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            self.decoder.append(nn.Sequential(*layers))
        deconv = maybe_sn(nn.ConvTranspose2d(2 * widths[0], cfg.out_channels, 4, 2, 1, bias=cfg.bias is not False), sn)
        self.decoder.append(nn.Sequential(nn.ReLU(), deconv, nn.Tanh()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sides(x, self.config.size_multiple, "the pix2pix U-Net")
        skips = []
        for block in self.encoder:
            x = block(x)  # (B, C_i, H / 2**(i+1), W / 2**(i+1))
            skips.append(x)
        x = self.decoder[0](skips.pop())  # (B, C, 2h, 2w)
        for block in self.decoder[1:]:
            x = block(torch.cat((skips.pop(), x), dim=1))  # (B, C_skip + C_up, h, w) -> (B, C', 2h, 2w)
        return x  # (B, out, H, W)
