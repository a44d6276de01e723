"""Normalisation layers and the small building blocks every net here shares.

Per-sample-statistics norms (instance, the IN half of IBN, and the ColorGAN code's "layer" norm)
can record the statistics of one picture and reuse them on its tiles (``set_norm_stats_mode``, or
``freeze`` statistics pooled elsewhere, and ``reset_norm_stats``): a tile normalised with its own
statistics changes colour from tile to tile.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .configs import NORM_KINDS

STATS_MODES = ("live", "record", "frozen")


class _SampleStatsNorm(nn.Module):
    """Base for norms whose statistics come from the sample itself; supports record/frozen."""

    reduce_dims: tuple[int, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.stats_mode = "live"
        # Non-persistent buffers: they follow .to(device) but never enter a checkpoint.
        self.register_buffer("frozen_mean", None, persistent=False)
        self.register_buffer("frozen_var", None, persistent=False)

    def freeze(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Normalise with these statistics (shaped as ``reduce_dims`` keeps them) until ``reset``."""
        self.frozen_mean, self.frozen_var = mean, var
        self.stats_mode = "frozen"

    def reset(self) -> None:
        """Back to the sample's own statistics, recorded or frozen ones dropped."""
        self.stats_mode = "live"
        self.frozen_mean = self.frozen_var = None

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance of x over reduce_dims, in float32 (or float64) for accuracy."""
        xs = x if x.dtype == torch.float64 else x.float()
        var, mean = torch.var_mean(xs, dim=self.reduce_dims, correction=0, keepdim=True)
        return mean, var

    def _normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _live(self, x: torch.Tensor) -> torch.Tensor:
        return self._normalise(x, *self._stats(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stats_mode == "live":
            return self._live(x)
        if self.stats_mode == "record":
            mean, var = self._stats(x)
            self.frozen_mean, self.frozen_var = mean.detach(), var.detach()
            return self._normalise(x, mean, var)
        if self.frozen_mean is None:
            raise RuntimeError(
                "norm statistics are frozen but none were recorded; run the whole picture once "
                "after set_norm_stats_mode(model, 'record')"
            )
        if self.frozen_mean.shape[0] not in (1, x.shape[0]):
            raise RuntimeError(
                f"recorded norm statistics are for batch {self.frozen_mean.shape[0]} but the input "
                f"has batch {x.shape[0]}; record with batch 1 or the same batch"
            )
        return self._normalise(x, self.frozen_mean, self.frozen_var)


class InstanceNorm(_SampleStatsNorm):
    """InstanceNorm2d (per sample, per channel over H, W) that can record and freeze its statistics."""

    reduce_dims = (2, 3)

    def __init__(self, channels: int, affine: bool = False, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels, self.affine, self.eps = channels, affine, eps
        # Same parameter names as nn.InstanceNorm2d, so its state dicts load unchanged.
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def _live(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)

    def _normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        rstd = torch.rsqrt(var + self.eps)
        y = (x - mean.to(x.dtype)) * rstd.to(x.dtype)  # (B, C, H, W)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return f"{self.channels}, affine={self.affine}, eps={self.eps}"


class ScalarLayerNorm(_SampleStatsNorm):
    """keras-contrib InstanceNormalization(axis=None): one mean/std over (C, H, W), scalar gamma/beta.

    As in that layer: y = (x - mean) / (std + eps) * gamma + beta, biased std, eps 1e-3.
    """

    reduce_dims = (1, 2, 3)

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def _normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        inv = 1.0 / (var.sqrt() + self.eps)
        return (x - mean.to(x.dtype)) * (inv.to(x.dtype) * self.weight) + self.bias  # (B, C, H, W)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class IBNorm(nn.Module):
    """IBN-Net-a: the first half of the channels instance-normalised (affine), the rest batch-normalised."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.inorm = InstanceNorm(self.half, affine=True)
        self.bnorm = nn.BatchNorm2d(channels - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, : self.half], x[:, self.half :]  # (B, C/2, H, W) each
        return torch.cat((self.inorm(a), self.bnorm(b)), dim=1)


def make_norm(kind: str, channels: int, affine: bool = False) -> nn.Module:
    """The norm layer named by kind (see NORM_KINDS); affine applies to 'instance' only."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm(channels, affine=affine)
    if kind == "ibn":
        return IBNorm(channels)
    if kind == "layer":
        return ScalarLayerNorm()
    raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORM_KINDS)}")


def set_norm_stats_mode(model: nn.Module, mode: str) -> None:
    """Switch every per-sample-statistics norm to 'live', 'record' (store stats) or 'frozen' (reuse them)."""
    if mode not in STATS_MODES:
        raise ValueError(f"unknown norm statistics mode {mode!r}; choose one of {', '.join(STATS_MODES)}")
    for m in model.modules():
        if isinstance(m, _SampleStatsNorm):
            m.stats_mode = mode
            if mode == "record":
                m.frozen_mean = m.frozen_var = None


def sample_stats_norms(model: nn.Module) -> list[nn.Module]:
    """The norms of ``model`` that take statistics from the sample, in module order; each has
    ``reduce_dims``, ``freeze(mean, var)`` and ``reset()``."""
    return [m for m in model.modules() if isinstance(m, _SampleStatsNorm)]


def reset_norm_stats(model: nn.Module) -> None:
    """Every per-sample-statistics norm of ``model`` back to live statistics, recorded ones dropped."""
    for m in sample_stats_norms(model):
        m.reset()


def has_sample_statistics(model: nn.Module) -> bool:
    """True when some norm of ``model`` normalises with statistics of the picture itself (instance,
    IBN's instance half, scalar layer norm), as opposed to none or batch norms (fixed statistics)."""
    return any(isinstance(m, _SampleStatsNorm) for m in model.modules())


def conv_bias(bias: bool | None, norm: str) -> bool:
    """Conv bias policy: None means pix2pix's rule, no bias right before a batch norm (its beta does it)."""
    return norm != "batch" if bias is None else bias


def maybe_sn(conv: nn.Module, enabled: bool) -> nn.Module:
    """Wrap conv in a spectral-norm parametrization when enabled."""
    return spectral_norm(conv) if enabled else conv


def tf_same_pad_4x4() -> nn.ZeroPad2d:
    """TF/Keras 'same' padding for a 4x4 conv, stride 1 or 2: 1 left/top, 2 right/bottom.

    For stride 2 on even sides the extra right/bottom column is never read, so this equals
    TF's symmetric (1, 1) there and its (1, 2) on odd sides.
    """
    return nn.ZeroPad2d((1, 2, 1, 2))

