"""Class rebalancing of the colour loss (Zhang, Isola and Efros, "Colorful Image Colorization", 2016).

Most pixels of photos are nearly grey or warm, so an L1 on a and b is won by predicting a low
chroma, warm tone everywhere: a sepia toner. Rebalancing weights each pixel's L1 by how rare its
true colour is in the training photos:

    w(q) = 1 / ((1 - lam) * p(q) + lam / Q),   normalised so that sum_q p(q) w(q) = 1,

where ``p`` is the training photos' a/b histogram (10-unit bins over -110..110, smoothed with a
Gaussian of sigma 5 a/b units, as in the paper), ``Q`` the number of bins that occur and ``lam``
mixes the prior with a uniform one (the paper: 0.5). The average weight stays 1, so the loss keeps
its scale; a pixel of a rare colour (sky blue, teal, purple) weighs many times a grey one.

``strength`` is ``1 - lam``: 0 is plain L1, 0.5 is the paper's setting, towards 1 the weights
approach inverse frequency.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from rawcolour.colour import AB_SCALE, rgb_to_model_lab

BIN = 10.0  # a/b units per bin
BINS = int(2 * AB_SCALE / BIN)  # 22 bins per axis over -110..110
SMOOTH_SIGMA = 5.0  # a/b units
PRIOR_SHORT_SIDE = 64  # photos are measured at this short side (the prior is a distribution, not detail)


def ab_histogram(ab: torch.Tensor) -> np.ndarray:
    """Pixel counts (BINS, BINS) of model-range a/b (``ab / 110``, any leading shape, channel first
    of the last three dims: (..., 2, H, W)); a/b outside -110..110 fall into the edge bins."""
    counts = torch.bincount(_flat_bin(ab).reshape(-1), minlength=BINS * BINS)
    return counts.reshape(BINS, BINS).cpu().numpy().astype(np.float64)


def _flat_bin(ab: torch.Tensor) -> torch.Tensor:
    """Each pixel's bin of model-range a/b (..., 2, H, W), as one index a_bin * BINS + b_bin: (..., H, W)."""
    return _bin_index(ab[..., 0, :, :]) * BINS + _bin_index(ab[..., 1, :, :])


def _bin_index(v: torch.Tensor) -> torch.Tensor:
    """Bin of model-range values v (ab / 110)."""
    return ((v.float() * AB_SCALE + AB_SCALE) / BIN).floor().clamp(0, BINS - 1).long()


def ab_prior(rgb_photos: Iterable[torch.Tensor]) -> np.ndarray:
    """Smoothed a/b distribution (BINS, BINS), summing to 1, of RGB photos ((3, H, W) in [0, 1])."""
    counts = np.zeros((BINS, BINS))
    for rgb in rgb_photos:
        _, ab = rgb_to_model_lab(rgb[None].float())
        counts += ab_histogram(ab)
    if counts.sum() == 0:
        raise ValueError("no pixels to measure the a/b prior on")
    p = gaussian_filter(counts / counts.sum(), sigma=SMOOTH_SIGMA / BIN, mode="constant")
    return p / p.sum()


def rebalance_weights(prior: np.ndarray, strength: float) -> np.ndarray:
    """Per-bin weights (BINS, BINS) with sum(prior * w) = 1; bins the prior never saw get the
    largest weight of the bins it did see (they do not occur in training, by the prior's account)."""
    if not 0 <= strength < 1:
        raise ValueError(f"rebalance strength must be in [0, 1), got {strength}")
    seen = prior > 0
    lam = 1.0 - strength
    w = np.zeros_like(prior)
    w[seen] = 1.0 / ((1 - lam) * prior[seen] + lam / seen.sum())
    w /= (prior * w).sum()
    w[~seen] = w[seen].max()
    return w


class ABRebalance:
    """Per-pixel weights of the colour L1 from each pixel's true a/b (see the module docstring)."""

    def __init__(self, prior: np.ndarray, strength: float):
        self.strength = strength
        self.table = torch.as_tensor(rebalance_weights(prior, strength), dtype=torch.float32).reshape(-1)

    def __call__(self, ab_true: torch.Tensor) -> torch.Tensor:
        """Weights (B, 1, H, W) for model-range a/b targets (B, 2, H, W)."""
        return self.table.to(ab_true.device)[_flat_bin(ab_true)].unsqueeze(1)

    def summary(self) -> dict[str, float]:
        """The spread of the weights (for the run's log)."""
        t = self.table
        return {"strength": self.strength, "weight_min": round(float(t.min()), 4), "weight_max": round(float(t.max()), 2)}


__all__ = ["ABRebalance", "BINS", "ab_histogram", "ab_prior", "rebalance_weights"]
