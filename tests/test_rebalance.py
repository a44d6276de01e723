"""Class rebalancing of the colour loss: the a/b histogram, the prior and the weights, checked
against numpy's own histogram and the paper's formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawcolour.colour import AB_SCALE
from rawcolour.train.rebalance import BINS, ABRebalance, ab_histogram, ab_prior, rebalance_weights


def test_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    ab = rng.uniform(-1.2, 1.2, size=(2, 2, 9, 11)).astype(np.float32)  # some beyond +-110: edge bins
    ours = ab_histogram(torch.from_numpy(ab))
    a = np.clip(ab[:, 0].ravel() * AB_SCALE, -110, 109.999)
    b = np.clip(ab[:, 1].ravel() * AB_SCALE, -110, 109.999)
    ref, _, _ = np.histogram2d(a, b, bins=BINS, range=[[-110, 110], [-110, 110]])
    np.testing.assert_array_equal(ours, ref)


def test_prior_of_one_colour_peaks_at_its_bin() -> None:
    # a saturated red: a > 0, b > 0 in Lab
    rgb = torch.zeros(3, 8, 8)
    rgb[0] = 0.8
    p = ab_prior([rgb])
    assert p.sum() == pytest.approx(1.0)
    ia, ib = np.unravel_index(p.argmax(), p.shape)
    assert ia > BINS // 2 and ib > BINS // 2  # positive a and b
    assert (p > 0).sum() > 1  # smoothed into its neighbours


def test_weights_follow_the_formula() -> None:
    p = np.zeros((BINS, BINS))
    p[11, 11], p[12, 11], p[3, 4] = 0.90, 0.09, 0.01
    w = rebalance_weights(p, 0.5)
    lam, q = 0.5, 3
    expected = 1 / ((1 - lam) * p[p > 0] + lam / q)
    expected /= (p[p > 0] * expected).sum()
    np.testing.assert_allclose(w[p > 0], expected)
    assert (p * w).sum() == pytest.approx(1.0)
    assert w[3, 4] > w[12, 11] > w[11, 11]  # the rarer, the heavier
    assert w[0, 0] == w.max()  # an unseen bin gets the largest seen weight
    np.testing.assert_allclose(rebalance_weights(p, 0.0)[p > 0], 1.0)  # strength 0: plain L1
    with pytest.raises(ValueError):
        rebalance_weights(p, 1.0)


def test_pixels_get_their_bins_weight() -> None:
    p = np.zeros((BINS, BINS))
    p[11, 11], p[2, 20] = 0.99, 0.01
    r = ABRebalance(p, 0.5)
    ab = torch.zeros(1, 2, 2, 2)
    ab[0, :, 1, 1] = torch.tensor([-85.0, 95.0]) / AB_SCALE  # bin (2, 20)
    w = r(ab)
    table = rebalance_weights(p, 0.5)
    assert float(w[0, 0, 0, 0]) == pytest.approx(table[11, 11])  # a = b = 0 is bin 11
    assert float(w[0, 0, 1, 1]) == pytest.approx(table[2, 20])
