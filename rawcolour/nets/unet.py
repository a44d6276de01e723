"""U-Net generators for colourisation: the ColorGAN paper's 7-down/6-up net and pix2pix's unet_256.

Both take L (scaled L/50 - 1) and return ab/110 in [-1, 1] by default. Blocks are
nn.Sequential(..., conv, norm, act) so fold_for_inference can find conv -> BN pairs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .configs import COLORGAN_RELEASED_CODE, COLORGAN_TINY, ColorGANConfig, Pix2PixUNetConfig  # noqa: F401
from .norms import conv_bias, make_norm, maybe_sn, tf_same_pad_4x4


def _check_sides(x: torch.Tensor, multiple: int, name: str) -> None:
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"{name} needs input sides that are multiples of {multiple}; got {h}x{w}. "
            "Pad or resize the input first"
        )


# ----------------------------------------------------------------------------- ColorGAN


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


# ----------------------------------------------------------------------------- pix2pix



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
