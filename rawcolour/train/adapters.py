"""What differs between the tasks inside the training loop: one adapter per kind of model.

The trainer asks its adapter (chosen by the model's input space) how a collated batch becomes
network input and target, in which space the L1 and attention losses compare output and target,
how to show a batch as pictures, and what validation measures. Everything else in the loop
(optimisers, GAN terms, schedule, resume, DDP) is the same for every model.

- :class:`ColouriseAdapter` (``lab-L`` in, ab out): Lab conversion batch-wise on the device.
- :class:`PackedRawAdapter` (the paper's ``raw-packed`` in, sRGB at packed resolution out).
- :class:`DeveloperAdapter` (our ``raw-balanced-srgb`` in, linear sRGB at sensor resolution out):
  losses compare sRGB-encoded values, so an error in the shadows counts as much as it shows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rawcolour.camera_colour import SRGB_GAMMA, SRGB_LINEAR_KNEE, SRGB_OFFSET, SRGB_SCALE, SRGB_SLOPE
from rawcolour.colour import AB_SCALE, model_lab_to_rgb, model_to_rgb, rgb_to_model_lab
from rawcolour.errors import UsageError
from rawcolour.io.mosaic import packed_preview, packed_rgb
from rawcolour.registry import ModelSpec

__all__ = ["ColouriseAdapter", "DeveloperAdapter", "PackedRawAdapter", "TaskAdapter", "adapter_for"]

Batch = dict[str, torch.Tensor]


def srgb_encode_t(linear: torch.Tensor) -> torch.Tensor:
    """The sRGB curve (camera_colour.srgb_encode's) on a tensor, differentiable everywhere (linear up to
    the knee, negatives included)."""
    return torch.where(linear <= SRGB_LINEAR_KNEE, SRGB_SLOPE * linear,
                       SRGB_SCALE * linear.clamp_min(SRGB_LINEAR_KNEE) ** (1 / SRGB_GAMMA) - SRGB_OFFSET)


class TaskAdapter:
    """The per-kind hooks of the training loop (see the module docstring)."""

    supports_discriminator = True  # D sees concat(input, output): both at one resolution

    def prepare(self, batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A collated batch -> (network input, target, saliency target or None) on the device."""
        raise NotImplementedError

    def loss_view(self, t: torch.Tensor) -> torch.Tensor:
        """Network output or target -> the values the L1 and attention losses compare."""
        return t

    def saliency_view(self, sal_pred: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The saliency decoder's map at the output's resolution."""
        return sal_pred

    def to_rgb01(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Network output (or target) as sRGB pictures in [0, 1], for the perceptual loss and samples."""
        raise NotImplementedError

    def preview(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The network input as a picture of the same size as ``like`` (the output)."""
        raise NotImplementedError

    def validation_sums(self, out: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, float], int, int]:
        """Summed validation figures of one batch, and the (values, pictures) they are averaged over."""
        pred, tgt = self.to_rgb01(out, out).clamp(0, 1), self.to_rgb01(y, y).clamp(0, 1)
        mse = ((pred - tgt) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        return ({"l1": float((pred - tgt).abs().sum()), "psnr": float((-10 * torch.log10(mse)).sum())},
                tgt.numel(), tgt.shape[0])


class ColouriseAdapter(TaskAdapter):
    def prepare(self, batch, device):
        rgb = batch["rgb"].to(device, non_blocking=device.type == "cuda")
        with torch.no_grad():
            l_in, ab = rgb_to_model_lab(rgb)  # (B, 1, S, S), (B, 2, S, S)
        return l_in, ab, None

    def to_rgb01(self, x, out):
        return model_lab_to_rgb(x.float(), out.float())

    def preview(self, x, like):
        return model_lab_to_rgb(x, torch.zeros_like(like))

    def validation_sums(self, out, y):
        # ab_l1 in CIE Lab units; grey_ab_l1 = the same for zero chroma (the no-learning baseline)
        diff = (out.clamp(-1, 1) - y).abs() * AB_SCALE
        return ({"ab_l1": float(diff.sum()), "grey_ab_l1": float((y.abs() * AB_SCALE).sum())}, y.numel(), y.shape[0])


class PackedRawAdapter(TaskAdapter):
    def prepare(self, batch, device):
        nb = device.type == "cuda"
        x = batch["raw"].to(device, non_blocking=nb) * 2 - 1  # (B, 4, S, S)
        y = batch["rgb"].to(device, non_blocking=nb) * 2 - 1  # (B, 3, S, S)
        sal = batch["saliency"].to(device, non_blocking=nb) if "saliency" in batch else None
        return x, y, sal

    def to_rgb01(self, x, out):
        return model_to_rgb(out.float())

    def preview(self, x, like):
        return packed_preview((x + 1) / 2)


class DeveloperAdapter(PackedRawAdapter):
    """Targets are linear sRGB at twice the input's resolution, in network units 2v - 1."""

    supports_discriminator = False

    def loss_view(self, t):
        return srgb_encode_t((t + 1) * 0.5)

    def saliency_view(self, sal_pred, like):
        return F.interpolate(sal_pred, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def to_rgb01(self, x, out):
        return srgb_encode_t(((out.float() + 1) * 0.5).clamp(0, 1))

    def preview(self, x, like):
        # the white-balanced input, already in sRGB primaries: nearest-upsampled to the output size
        return F.interpolate(srgb_encode_t(packed_rgb((x + 1) / 2).clamp(0, 1)), size=like.shape[-2:], mode="nearest")


def adapter_for(spec: ModelSpec) -> TaskAdapter:
    """The adapter of a registry entry, by the input space its checkpoints record."""
    space = spec.io.input_space if spec.io is not None else ""
    if space == "lab-L":
        return ColouriseAdapter()
    if space == "raw-packed":
        return PackedRawAdapter()
    if space == "raw-balanced-srgb":
        return DeveloperAdapter()
    raise UsageError(f"{spec.name}: no training recipe for input space {space!r}")
