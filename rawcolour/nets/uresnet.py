"""Saliency-map-aided RAW-to-RGB generator (zhaoyuzhi/RAW2RGB-GAN): U-Net with 4 ResBlocks and a saliency decoder.

Every conv is reflection pad -> conv (SN, no bias) -> norm -> LeakyReLU 0.2, as in the reference
code. The saliency decoder only serves the training loss, so it runs only when asked for.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .bayer import bilinear_demosaic
from .configs import SGAN_TINY, SGANGeneratorConfig  # noqa: F401
from .norms import make_norm, maybe_sn


def conv_block(
    cin: int, cout: int, k: int, stride: int, norm: str, act: nn.Module | None, sn: bool, bias: bool, upsample: bool = False
) -> nn.Sequential:
    """[nearest x2] -> reflection pad -> conv -> norm -> act, the reference code's Conv2dLayer."""
    pad = (k - 1) // 2 if stride == 1 else 1
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
    if pad:
        layers.append(nn.ReflectionPad2d(pad))
    layers += [maybe_sn(nn.Conv2d(cin, cout, k, stride, 0, bias=bias), sn), make_norm(norm, cout)]
    layers.append(act if act is not None else nn.Identity())
    return nn.Sequential(*layers)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class ResBlock(nn.Module):
    """x + [3x3 conv, norm, LReLU, 3x3 conv] (no norm or activation after the second conv)."""

    def __init__(self, c: int, norm: str, sn: bool, bias: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_block(c, c, 3, 1, norm, _lrelu(), sn, bias),
            conv_block(c, c, 3, 1, "none", None, sn, bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (B, C, h, w)


class SaliencyDecoder(nn.Module):
    """Brings the three decoder tensors to w channels at full resolution, fuses them, predicts a map in [0, 1]."""

    def __init__(self, w: int, norm: str, sn: bool, bias: bool) -> None:
        super().__init__()

        def block(cin: int, cout: int, up: bool = False) -> nn.Sequential:
            return conv_block(cin, cout, 3, 1, norm, _lrelu(), sn, bias, upsample=up)

        self.from_d1 = nn.Sequential(block(8 * w, w, up=True), block(w, w), block(w, w, up=True), block(w, w))
        self.from_d2 = nn.Sequential(block(4 * w, w, up=True), block(w, w))
        self.from_d3 = block(2 * w, w)
        self.fuse = nn.Sequential(block(3 * w, w), conv_block(w, 1, 7, 1, "none", nn.Sigmoid(), sn, bias))

    def forward(self, d1: torch.Tensor, d2: torch.Tensor, d3: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.from_d1(d1), self.from_d2(d2), self.from_d3(d3)), dim=1)  # (B, 3w, H, W)
        return self.fuse(x)  # (B, 1, H, W)


class SGANGenerator(nn.Module):
    """Packed RAW (B, 4, h, w) -> RGB (B, 3, s*h, s*w), s = config.output_scale (tanh: in [-1, 1]; residual: a
    bilinear demosaic of the input plus a learned correction); optionally the saliency map (B, 1, h, w)."""

    def __init__(self, config: SGANGeneratorConfig = SGANGeneratorConfig()) -> None:
        super().__init__()
        self.config = cfg = config
        w, norm, sn, bias = cfg.width, cfg.norm, cfg.spectral_norm, cfg.bias
        self.e1 = conv_block(cfg.in_channels, w, 7, 1, "none", _lrelu(), sn, bias)
        self.e2 = conv_block(w, 2 * w, 4, 2, norm, _lrelu(), sn, bias)
        self.e3 = conv_block(2 * w, 4 * w, 4, 2, norm, _lrelu(), sn, bias)
        self.e4 = conv_block(4 * w, 8 * w, 4, 2, norm, _lrelu(), sn, bias)
        self.bottleneck = nn.Sequential(*[ResBlock(8 * w, norm, sn, bias) for _ in range(cfg.num_resblocks)])
        self.d1 = conv_block(8 * w, 4 * w, 3, 1, norm, _lrelu(), sn, bias, upsample=True)
        self.d2 = conv_block(8 * w, 2 * w, 3, 1, norm, _lrelu(), sn, bias, upsample=True)
        self.d3 = conv_block(4 * w, w, 3, 1, norm, _lrelu(), sn, bias, upsample=True)
        if cfg.output_scale == 1:
            self.d4 = conv_block(2 * w, cfg.out_channels, 7, 1, "none", nn.Tanh(), sn, bias)
        else:  # 4 output pixels per packed pixel: (B, 4 * C, h, w) -> (B, C, 2h, 2w)
            head = conv_block(2 * w, 4 * cfg.out_channels, 7, 1, "none", None if cfg.residual else nn.Tanh(), sn, bias)
            self.d4 = nn.Sequential(head, nn.PixelShuffle(2))
        self.saliency = SaliencyDecoder(w, norm, sn, bias) if cfg.saliency_decoder else None

    def forward(
        self, x: torch.Tensor, return_saliency: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        if h % 8 or w % 8:
            raise ValueError(f"the raw2rgb generator needs input sides that are multiples of 8; got {h}x{w}. Pad first")
        if return_saliency and self.saliency is None:
            raise ValueError(
                "this generator was built without a saliency decoder (saliency_decoder=False); "
                "call it with return_saliency=False"
            )
        e1 = self.e1(x)  # (B, w, h, w)
        e2 = self.e2(e1)  # (B, 2w, h/2, w/2)
        e3 = self.e3(e2)  # (B, 4w, h/4, w/4)
        y = self.bottleneck(self.e4(e3))  # (B, 8w, h/8, w/8)
        d1 = torch.cat((self.d1(y), e3), dim=1)  # (B, 8w, h/4, w/4)
        d2 = torch.cat((self.d2(d1), e2), dim=1)  # (B, 4w, h/2, w/2)
        d3 = torch.cat((self.d3(d2), e1), dim=1)  # (B, 2w, h, w)
        rgb = self.d4(d3)  # (B, 3, s*h, s*w)
        if self.config.residual:
            rgb = rgb + bilinear_demosaic(x)
        if not return_saliency:
            return rgb
        return rgb, self.saliency(d1, d2, d3)  # (B, 3, s*h, s*w), (B, 1, h, w)

