"""Fold a trained net for inference: bake spectral norm into plain weights, fold eval-mode BN into convs.

Spectral norm otherwise recomputes sigma on every forward, and each BN is an extra pass over the
activations; after folding the net computes the same function (eval mode) with less work.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from .norms import IBNorm

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def bake_parametrizations(model: nn.Module) -> None:
    """Replace every parametrized tensor (spectral norm) by its current value, as a plain Parameter."""
    for m in list(model.modules()):
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Module, bn: nn.BatchNorm2d, channels: slice = slice(None)) -> bool:
    """Fold eval-mode bn into conv's output channels (a slice for IBN's BN half); False if impossible."""
    if not bn.track_running_stats or bn.running_mean is None or parametrize.is_parametrized(conv):
        return False
    transposed = isinstance(conv, nn.ConvTranspose2d)
    if transposed and conv.groups != 1:
        return False
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.affine:
        shift = shift + bn.bias.double()
    w = conv.weight
    if conv.bias is None:
        out_channels = w.shape[1] * conv.groups if transposed else w.shape[0]
        conv.bias = nn.Parameter(torch.zeros(out_channels, dtype=w.dtype, device=w.device))
    # Conv2d weight: (out, in/g, k, k); ConvTranspose2d weight: (in, out, k, k).
    view = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)
    idx = (slice(None), channels) if transposed else (channels,)
    w[idx] = (w[idx].double() * scale.view(view)).to(w.dtype)
    b = conv.bias
    b[channels] = (b[channels].double() * scale + shift).to(b.dtype)
    return True


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every BatchNorm2d (or IBN's BN half) that directly follows a conv in a Sequential; returns how many."""
    folded = 0
    for seq in list(model.modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules.keys())
        for prev_name, name in zip(names, names[1:]):
            conv, norm = seq._modules[prev_name], seq._modules[name]
            if not isinstance(conv, _CONVS):
                continue
            if isinstance(norm, nn.BatchNorm2d) and fold_bn_into_conv(conv, norm):
                seq._modules[name] = nn.Identity()
                folded += 1
            elif isinstance(norm, IBNorm) and isinstance(norm.bnorm, nn.BatchNorm2d):
                # IBN: y[:, half:] = BN(x[:, half:]) is per-channel affine in eval mode.
                if fold_bn_into_conv(conv, norm.bnorm, slice(norm.half, None)):
                    norm.bnorm = nn.Identity()
                    folded += 1
    return folded


def fold_for_inference(model: nn.Module) -> nn.Module:
    """In place: eval(), bake spectral norm into weights, fold BN into the preceding convs; returns model."""
    model.eval()  # SN must read its stored u, v (no power iteration) and BN its running stats
    bake_parametrizations(model)
    fold_batch_norms(model)
    return model
