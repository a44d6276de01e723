"""A run's networks before training starts: the generator (and discriminator) of the registry
entry, initialised N(0, init_std) before any optimiser exists, then given the weights of --init
or of the run being resumed; and the perceptual loss's VGG16 when a stage uses it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rawcolour.checkpoint import DISCRIMINATOR_PREFIX, load_state, read_checkpoint
from rawcolour.errors import UsageError
from rawcolour.nets import init_weights
from rawcolour.nets.uresnet import SGANGenerator
from rawcolour.train.config import RunPlan
from rawcolour.train.losses import PerceptualLoss
from rawcolour.train.resume import ResumeState

__all__ = ["build_networks", "has_saliency_decoder"]


def has_saliency_decoder(G: nn.Module) -> bool:
    return isinstance(G, SGANGenerator) and G.saliency is not None


def build_networks(plan: RunPlan, device: torch.device, *, vgg_weights: str | None, init: str | None,
                   resume: ResumeState | None) -> tuple[nn.Module, nn.Module | None, PerceptualLoss | None]:
    """(G, D or None, perceptual loss or None) on ``device``; ``init`` is ignored when resuming."""
    G = plan.spec.build_generator()
    init_weights(G, plan.init_std)
    D = None
    if plan.uses_discriminator:
        D = plan.spec.build_discriminator()
        init_weights(D, plan.init_std)
    if plan.needs_saliency and not has_saliency_decoder(G):
        raise UsageError(f"{plan.spec.name} has no saliency decoder: the attention loss needs one",
                         hint="set --lambda-attention 0 (and --lambda-saliency 0)")
    perceptual = PerceptualLoss(vgg_weights) if plan.uses_perceptual else None
    if init and not resume:
        _load_init(init, G, D)
    for net in (G, D, perceptual):
        if net is not None:
            net.to(device)
    if resume is not None:
        load_state(G, resume.generator, resume.source)
        if D is not None and resume.discriminator is not None:
            load_state(D, resume.discriminator, resume.source)
    return G, D, perceptual


def _load_init(path: str, G: nn.Module, D: nn.Module | None) -> None:
    """The weights of a checkpoint file (its discriminator too, when it has one and D exists)."""
    tensors, _ = read_checkpoint(path)
    gen = {k: v for k, v in tensors.items() if not k.startswith(DISCRIMINATOR_PREFIX)}
    load_state(G, gen, Path(path))
    disc = {k[len(DISCRIMINATOR_PREFIX):]: v for k, v in tensors.items() if k.startswith(DISCRIMINATOR_PREFIX)}
    if D is not None and disc:
        load_state(D, disc, Path(path))
