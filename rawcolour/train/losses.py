"""Losses of both papers. Discriminators return a list of logit maps (one per scale); every GAN
loss is summed over the scales (the colourisation paper's eq. 6).

GAN losses (``kind``):

- ``vanilla``: the original minimax game. D: BCE(D(real), 1) + BCE(D(fake), 0); G *minimises*
  log(1 - D(G(x))), i.e. -BCE(D(fake), 0): the saturating form (weak gradients early on).
- ``nonsaturating``: same D; G minimises BCE(D(fake), 1) (pix2pix's "vanilla" mode, the
  colourisation paper's text).
- ``lsgan``: D: MSE(D(real), 1) + MSE(D(fake), 0); G: MSE(D(fake), 1) (the released ColorGAN and
  RAW2RGB-GAN code).

The D loss is always 0.5 * (real term + fake term), as pix2pix and the RAW2RGB-GAN code weigh it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rawcolour.interop_files import load_vgg_features
from rawcolour.model_spec import GAN_LOSSES

Logits = Sequence[torch.Tensor]


def _as_list(x: torch.Tensor | Logits) -> list[torch.Tensor]:
    return [x] if isinstance(x, torch.Tensor) else list(x)


class GANLoss:
    """Adversarial loss of one kind; ``d_term`` / ``g_term`` take a D output (list of maps)."""

    def __init__(self, kind: str):
        if kind not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {kind!r}; use {', '.join(GAN_LOSSES[:-1])} or {GAN_LOSSES[-1]}")
        self.kind = kind

    def _target(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        return torch.full_like(logits, 1.0 if real else 0.0)

    def d_term(self, logits: torch.Tensor | Logits, real: bool) -> torch.Tensor:
        """One half of the D loss: how far D is from calling these ``real`` (summed over scales)."""
        total = 0.0
        for lg in _as_list(logits):
            lg = lg.float()
            if self.kind == "lsgan":
                total = total + F.mse_loss(lg, self._target(lg, real))
            else:
                total = total + F.binary_cross_entropy_with_logits(lg, self._target(lg, real))
        return total  # type: ignore[return-value]

    def d_loss(self, real_logits: torch.Tensor | Logits, fake_logits: torch.Tensor | Logits) -> torch.Tensor:
        return 0.5 * (self.d_term(real_logits, True) + self.d_term(fake_logits, False))

    def g_loss(self, fake_logits: torch.Tensor | Logits) -> torch.Tensor:
        """The generator's adversarial term for D's output on generated samples."""
        total = 0.0
        for lg in _as_list(fake_logits):
            lg = lg.float()
            if self.kind == "lsgan":
                total = total + F.mse_loss(lg, self._target(lg, True))
            elif self.kind == "nonsaturating":
                total = total + F.binary_cross_entropy_with_logits(lg, self._target(lg, True))
            else:  # vanilla minimax: minimise log(1 - sigmoid(l)) = -BCE(l, 0)
                total = total - F.binary_cross_entropy_with_logits(lg, self._target(lg, False))
        return total  # type: ignore[return-value]


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred.float(), target.float())


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``weights * |pred - target|`` (weights broadcast over channels; mean 1 keeps L1's scale)."""
    return ((pred.float() - target.float()).abs() * weights).mean()


def attention_loss(rgb_pred: torch.Tensor, sal_pred: torch.Tensor, rgb_gt: torch.Tensor,
                   sal_gt: torch.Tensor) -> torch.Tensor:
    """L1(rgb_pred * sal_pred, rgb_gt * sal_gt): the saliency GAN's attention loss (model-range RGB).

    As in the reference code, this is the only loss on the saliency decoder by default: it learns
    whatever map makes the weighted errors agree (``lambda_saliency`` adds a direct L1 to the target).
    """
    return F.l1_loss((rgb_pred * sal_pred).float(), (rgb_gt * sal_gt).float())


class PerceptualLoss(nn.Module):
    """L1 between VGG features (default VGG16 conv4_3, pre-ReLU) of two RGB images in [0, 1].

    VGGFeatures ImageNet-normalises its input; load_vgg_features raises MissingWeightsError without a weights file.
    """

    def __init__(self, weights: str | None, arch: str = "vgg16", layers: Sequence[str] = ("conv4_3",)):
        super().__init__()
        self.vgg = load_vgg_features(arch, layers, weights, pre_relu=True, normalize_input=True)

    def forward(self, pred01: torch.Tensor, target01: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ref = self.vgg(target01)
        out = self.vgg(pred01)
        return sum(F.l1_loss(a.float(), b.float()) for a, b in zip(out, ref))  # type: ignore[return-value]


__all__ = ["GANLoss", "PerceptualLoss", "attention_loss", "l1", "weighted_l1"]
