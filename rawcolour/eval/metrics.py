"""The papers' image-quality metrics, as pure functions on numpy images.

Images are ``(H, W, 3)`` (or ``(H, W)`` where noted) numpy arrays, either uint8 or float in
[0, 1]; a pair must have the same shape. Every function returns a Python float (or numpy counts
for the histograms) so results go straight into JSON.

What each metric is, and where it comes from:

- :func:`psnr` -- the raw2rgb paper's eq. 7 (seeds/raw2rgb_saliency_gan_paper.txt):
  ``PSNR = 10 log10(255^2 W H / sum (I - K)^2)``, on 0..255 values. For an RGB image the sum runs
  over the three channels too and is divided by ``3 W H`` (the mean squared error over every
  value), which is what scikit-image's ``peak_signal_noise_ratio`` computes.
- :func:`ssim` -- SSIM of Wang et al. (2004) with their settings: 11x11 Gaussian window,
  sigma 1.5, K1 0.01, K2 0.03, population (not sample) covariance, the mean over the positions
  where the window fits inside the image, then over channels. It equals scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1, channel_axis=-1)`` and ``kornia.metrics.ssim(..., 11, padding="valid")``
  (tests/test_metrics.py checks both).
- :func:`ab_errors` -- the colourisation paper's conventions (its released code): both images go
  Lab -> 8-bit RGB -> Lab first; ``L1 = mean |delta a| and |delta b|`` in Lab units and
  ``PSNR = 20 log10(255 / sqrt(MSE over a and b in Lab units))``. The 255 peak is the paper's, not
  the ab range: keep it to compare with Table I.
- :func:`colourfulness` -- Hasler & Suesstrunk (2003), "Measuring colourfulness in natural
  images": on 0..255 sRGB, ``rg = R - G``, ``yb = (R + G)/2 - B``,
  ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)``.
- :func:`ab_histograms` / :func:`histogram_intersection` -- the colourisation paper's Fig. 4:
  histograms of the a and b values of all generated pixels of a dataset against those of the real
  pictures; their overlap is the histogram intersection ``sum_i min(p_i, q_i)`` of the two
  normalised histograms (1 = same distribution, 0 = disjoint), on fixed 1-unit bins over
  [-110, 110] (:data:`AB_BIN_EDGES`) for the plot; the overlap score uses 64 bins over the same
  range (:data:`OVERLAP_BIN_EDGES`), coarse enough that a shift of a Lab unit or two is not
  counted as a miss.
- :func:`hue_hits` / :func:`balanced_hue_accuracy` -- whether a colouriser picks the right hue
  where the truth is colourful, with every hue counted equally: over pixels whose true chroma
  ``C*ab > 20``, split by their true hue into six 60-degree sectors, the fraction whose predicted
  chroma is above 10 and whose hue is within 45 degrees of the truth, averaged over the sectors
  holding at least 0.1% of those pixels. Grey scores 0; a uniform sepia scores well on the warm
  sectors only, and the balancing keeps the (many) warm pixels of photos from hiding that.
- :class:`PerceptualDistance` -- Table I's ``L_perc`` (the colourisation paper's eq. 7):
  ``1/5 sum_i 1/N_i ||F_i(x) - F_i(G(x))||_1`` over VGG19 relu1_1 .. relu5_1 features of both
  images resized to 224x224. Uses torchvision-layout ImageNet weights from a user file (nothing is
  downloaded), so absolute values differ from the paper's Keras figures; compare rows of one table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from rawcolour.camera_colour import srgb_decode, srgb_encode
from rawcolour.colour import lab_to_rgb, rgb_to_lab
from rawcolour.data.unprocess import area_half
from rawcolour.io.pixels import from_float, to_float

__all__ = [
    "AB_BIN_EDGES",
    "ABErrors",
    "OVERLAP_BIN_EDGES",
    "PerceptualDistance",
    "ab_errors",
    "ab_errors_lab",
    "ab_histograms",
    "balanced_hue_accuracy",
    "colourfulness",
    "fit_exposure",
    "fit_tone_curve",
    "histogram_intersection",
    "hue_hits",
    "lab_round_trip",
    "mean_ciede2000",
    "psnr",
    "rgb_to_lab_8bit",
    "ssim",
    "to_uint8",
]

# Fig. 4 bins: 1 Lab unit wide over [-110, 110] (the ab/110 model scaling); sRGB's gamut fits inside.
AB_BIN_EDGES: np.ndarray = np.arange(-110.0, 111.0, 1.0)
# The overlap score's bins: 64 over the same range (3.4 Lab units each).
OVERLAP_BIN_EDGES: np.ndarray = np.linspace(-110.0, 110.0, 65)

# Balanced hue accuracy (see the module docstring).
HUE_SECTORS = 6  # 60 degrees each, starting at hue 0 (the +a axis)
HUE_TRUE_CHROMA = 20.0  # C*ab of the truth above which a pixel counts as colourful
HUE_PRED_CHROMA = 10.0  # C*ab the prediction needs to have a hue at all
HUE_TOLERANCE = 45.0  # degrees
# A sector counts when it holds at least this share of the colourful pixels. Not 1%: blues, cyans
# and magentas are each under 1% of Kodak24's colourful pixels, and they are the hues a sepia-like
# colouriser misses; 0.1% keeps every hue that a dataset really shows.
HUE_MIN_FRACTION = 0.001

SSIM_WINDOW = 11  # Wang et al.: 11x11 Gaussian, sigma 1.5
SSIM_SIGMA = 1.5
PERCEPTUAL_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # taken after the ReLU
PERCEPTUAL_SIZE = 224


# ------------------------------------------------------------------------------------ helpers


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape. Got {pred.shape} and {target.shape}")
    if pred.ndim not in (2, 3) or (pred.ndim == 3 and pred.shape[-1] not in (1, 3)):
        raise ValueError(f"images must have shape (H, W) or (H, W, 3). Got {pred.shape}")
    return pred, target


def _unit_float(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 -> float64 in [0, 1]; float stays as is (as float64, not clipped)."""
    img = np.asarray(img)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64)
    if img.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"images must be uint8, uint16 or float in [0, 1]. Got {img.dtype}")
    return to_float(img, np.float64)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """An image as the 8-bit file a user would get: float [0, 1] -> round(255 x), clipped; uint8 as is.

    Scaled in float64 (a float32 input is widened first), so ties round as the exact value does."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return from_float(_unit_float(img), 8)


def half_size(img8: np.ndarray) -> np.ndarray:
    """An 8-bit (H, W, 3) picture area-downscaled by 2 (odd last row/column dropped), as 8 bits: how a
    picture at the sensor's size is compared with one at half of it (packed RAW resolution)."""
    return to_uint8(area_half(img8.astype(np.float64)) / 255.0)


def _hwc_to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, C) or (H, W) float -> (1, C, H, W) float64 tensor."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


# ------------------------------------------------------------------------------- PSNR, SSIM


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB of the raw2rgb paper's eq. 7: ``10 log10(255^2 / MSE)`` on 0..255 values.

    uint8 inputs are used as they are; float inputs in [0, 1] are scaled by 255 (not rounded:
    quantise with :func:`to_uint8` first to score the 8-bit files). The MSE is the mean over
    every pixel and channel. Identical images give ``inf``.
    """
    pred, target = _check_pair(pred, target)
    diff = (_unit_float(pred) - _unit_float(target)) * 255.0
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_taps(window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian taps (float64), the ones scipy's gaussian_filter(sigma=1.5, truncate=3.5) uses."""
    x = np.arange(window, dtype=np.float64) - (window - 1) / 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def too_small_for_ssim(height: int, width: int, scale: int = 1) -> str | None:
    """Why a picture of ``height`` x ``width`` cannot be scored when scored at 1/``scale`` of its
    size (SSIM's window does not fit), as an eval's reason to skip it; None when it can."""
    if min(height, width) // scale >= SSIM_WINDOW:
        return None
    need = SSIM_WINDOW * scale
    if scale == 1:
        return f"smaller than {need} x {need}, SSIM's window"
    return f"smaller than {need} x {need}, SSIM's {SSIM_WINDOW} x {SSIM_WINDOW} window at " + (
        "half size" if scale == 2 else f"1/{scale} size")


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004 settings; see the module docstring) of two images in [0, 1].

    ``SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
    with Gaussian-weighted local statistics, ``C1 = 0.01^2``, ``C2 = 0.03^2`` (data range 1),
    averaged over the positions where the 11x11 window fits, then over channels. The same
    numbers as ``skimage.metrics.structural_similarity(pred, target, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)`` and as
    ``kornia.metrics.ssim(..., 11, padding="valid")``; computed here with OpenCV's separable
    float64 filter (kornia's CPU path is about 100x slower on a Kodak picture). Both sides need
    at least 11 pixels.
    """
    pred, target = _check_pair(pred, target)
    if min(pred.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}. Got {pred.shape[:2]}")
    x, y = _unit_float(pred), _unit_float(target)  # (H, W[, C]) float64
    g = _gaussian_taps()
    r = SSIM_WINDOW // 2

    def blur(t: np.ndarray) -> np.ndarray:  # Gaussian-weighted local mean, valid positions only
        return cv2.sepFilter2D(t, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


# ------------------------------------------------------------- tone fits (the RAW developers')


def fit_exposure(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``pred`` (sRGB, [0, 1] float or integers) after the one exposure gain, in linear light, that
    brings it closest to ``target`` (least squares over every value): float64 sRGB in [0, 1].

    A RAW developer's overall brightness is a choice (LibRaw's auto-brightness, a camera's
    exposure bias), not an error: scoring after this fit counts colour, detail and noise only.
    """
    pred, target = _check_pair(pred, target)
    p, t = srgb_decode(_unit_float(pred)), srgb_decode(_unit_float(target))
    denom = float(np.sum(p * p))
    gain = float(np.sum(p * t)) / denom if denom > 0 else 1.0
    return srgb_encode(p * gain)


TONE_CURVE_LEVELS = 256


def fit_tone_curve(pred: np.ndarray, target: np.ndarray, levels: int = TONE_CURVE_LEVELS) -> np.ndarray:
    """``pred`` through the one non-decreasing curve, shared by R, G and B, that best maps its
    values to ``target``'s: float64 sRGB in [0, 1].

    The curve is the mean target value of each of ``levels`` equal bins of pred values (every
    channel pooled), made non-decreasing by pooling adjacent violators (isotonic regression),
    and applied by linear interpolation between bin centres. Shared by the three channels, it
    forgives a tone "look" (contrast, brightness, a film curve) but not a colour cast.
    """
    pred, target = _check_pair(pred, target)
    p, t = _unit_float(pred).ravel(), _unit_float(target).ravel()
    index = np.minimum((p * levels).astype(np.int64), levels - 1)
    counts = np.bincount(index, minlength=levels).astype(np.float64)
    sums = np.bincount(index, weights=t, minlength=levels)
    centres = np.bincount(index, weights=p, minlength=levels)
    used = counts > 0
    x, y, w = centres[used] / counts[used], sums[used] / counts[used], counts[used]
    y = _isotonic(y, w)
    return np.interp(_unit_float(pred), x, y)


def _isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing least-squares fit of y (pool adjacent violators)."""
    values, weights, sizes = [], [], []
    for v, wt in zip(y.tolist(), w.tolist()):
        values.append(v)
        weights.append(wt)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            v2, w2, n2 = values.pop(), weights.pop(), sizes.pop()
            wsum = weights[-1] + w2
            values[-1] = (values[-1] * weights[-1] + v2 * w2) / wsum
            weights[-1] = wsum
            sizes[-1] += n2
    return np.repeat(values, sizes)


def mean_ciede2000(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference of two sRGB pictures (D65 Lab, scikit-image's formula)."""
    from skimage.color import deltaE_ciede2000

    pred, target = _check_pair(pred, target)
    lab_p = rgb_to_lab(_hwc_to_tensor(_unit_float(pred)))[0].permute(1, 2, 0).numpy()
    lab_t = rgb_to_lab(_hwc_to_tensor(_unit_float(target)))[0].permute(1, 2, 0).numpy()
    return float(np.mean(deltaE_ciede2000(lab_t, lab_p)))


# ------------------------------------------------------------------- the colourisation paper's


def rgb_to_lab_8bit(rgb: np.ndarray) -> np.ndarray:
    """sRGB image (uint8, or float [0, 1] which is quantised to 8 bits first) -> CIE Lab (H, W, 3) float64."""
    rgb8 = to_uint8(rgb)
    if rgb8.ndim != 3 or rgb8.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3). Got {rgb8.shape}")
    lab = rgb_to_lab(_hwc_to_tensor(rgb8.astype(np.float64) / 255.0))
    return lab[0].permute(1, 2, 0).numpy()


def lab_round_trip(lab: np.ndarray) -> np.ndarray:
    """The paper code's preparation of an image for its metrics: Lab -> 8-bit sRGB -> Lab, (H, W, 3) float64."""
    lab = np.asarray(lab, dtype=np.float64)
    if lab.ndim != 3 or lab.shape[-1] != 3:
        raise ValueError(f"lab must have shape (H, W, 3). Got {lab.shape}")
    rgb = lab_to_rgb(_hwc_to_tensor(lab), clip=True)[0].permute(1, 2, 0).numpy()
    return rgb_to_lab_8bit(rgb)


@dataclass(frozen=True)
class ABErrors:
    """The colourisation paper's chroma errors of one picture."""

    l1: float  # mean |delta a|, |delta b| in Lab units
    psnr: float  # 20 log10(255 / sqrt(mean delta^2 over a and b)), dB


def ab_errors(pred_rgb: np.ndarray, target_rgb: np.ndarray) -> ABErrors:
    """ab-L1 and ab-PSNR of two sRGB pictures, both taken to 8-bit sRGB then to Lab (the paper's round trip).

    An sRGB picture in float is exactly a Lab picture that went Lab -> RGB, so quantising it to 8
    bits and converting to Lab completes the paper's Lab -> uint8 RGB -> Lab round trip. For Lab
    images use :func:`lab_round_trip` on each and :func:`ab_errors_lab`.
    """
    pred_rgb, target_rgb = _check_pair(pred_rgb, target_rgb)
    return ab_errors_lab(rgb_to_lab_8bit(pred_rgb), rgb_to_lab_8bit(target_rgb))


def ab_errors_lab(pred_lab: np.ndarray, target_lab: np.ndarray) -> ABErrors:
    """ab-L1 and ab-PSNR between two Lab images (H, W, 3) as they are (no round trip here)."""
    pred_lab, target_lab = _check_pair(pred_lab, target_lab)
    d = np.asarray(pred_lab, np.float64)[..., 1:] - np.asarray(target_lab, np.float64)[..., 1:]
    l1 = float(np.mean(np.abs(d)))
    mse = float(np.mean(d * d))
    return ABErrors(l1=l1, psnr=float("inf") if mse == 0.0 else float(20.0 * np.log10(255.0 / np.sqrt(mse))))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M of an sRGB image (uint8 or float [0, 1]), on 0..255.

    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)``, ``rg = R - G``,
    ``yb = (R + G)/2 - B``; standard deviations over the pixels (population). A grey image scores 0.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3). Got {rgb.shape}")
    x = _unit_float(rgb) * 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = np.sqrt(rg.var() + yb.var())
    mu = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(sigma + 0.3 * mu)


def ab_histograms(lab: np.ndarray, edges: np.ndarray = AB_BIN_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the a and b values of a Lab image (H, W, 3) in the bins ``edges`` (int64 each).

    Values outside the edges are put in the first or last bin, so every pixel counts once.
    Add the counts of many pictures to get the dataset histograms of Fig. 4.
    """
    lab = np.asarray(lab, dtype=np.float64)
    if lab.ndim != 3 or lab.shape[-1] != 3:
        raise ValueError(f"lab must have shape (H, W, 3). Got {lab.shape}")
    lo, hi = float(edges[0]), float(edges[-1])
    out = []
    for c in (1, 2):
        v = np.clip(lab[..., c].ravel(), lo, hi)
        counts, _ = np.histogram(v, bins=edges)
        out.append(counts.astype(np.int64))
    return out[0], out[1]


def histogram_intersection(p: np.ndarray, q: np.ndarray) -> float:
    """Overlap of two histograms on the same bins: ``sum_i min(p_i / sum p, q_i / sum q)`` in [0, 1]."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms must have the same bins. Got {p.shape} and {q.shape}")
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError("histogram counts must be non-negative")
    sp, sq = p.sum(), q.sum()
    if sp <= 0 or sq <= 0:
        raise ValueError("histograms must not be empty")
    return float(np.minimum(p / sp, q / sq).sum())


def hue_hits(pred_lab: np.ndarray, target_lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per hue sector of the truth: (pixels with the right hue, colourful pixels), int64 arrays of 6.

    A pixel counts when the truth's chroma ``sqrt(a^2 + b^2)`` exceeds 20; it lands in the sector
    ``floor(hue / 60)`` of the truth's hue ``atan2(b, a)`` in [0, 360); it is a hit when the
    prediction's chroma exceeds 10 and its hue is within 45 degrees of the truth's (circularly).
    Add the arrays of many pictures and pass them to :func:`balanced_hue_accuracy`.
    """
    pred_lab, target_lab = _check_pair(pred_lab, target_lab)
    if pred_lab.ndim != 3:
        raise ValueError(f"Lab images must have shape (H, W, 3). Got {pred_lab.shape}")
    ta, tb = (np.asarray(target_lab[..., c], np.float64).ravel() for c in (1, 2))
    pa, pb = (np.asarray(pred_lab[..., c], np.float64).ravel() for c in (1, 2))
    colourful = np.hypot(ta, tb) > HUE_TRUE_CHROMA
    ta, tb, pa, pb = ta[colourful], tb[colourful], pa[colourful], pb[colourful]
    true_hue = np.degrees(np.arctan2(tb, ta)) % 360.0
    pred_hue = np.degrees(np.arctan2(pb, pa)) % 360.0
    gap = np.abs(pred_hue - true_hue)
    gap = np.minimum(gap, 360.0 - gap)
    hit = (np.hypot(pa, pb) > HUE_PRED_CHROMA) & (gap <= HUE_TOLERANCE)
    sector = np.minimum((true_hue // (360.0 / HUE_SECTORS)).astype(np.int64), HUE_SECTORS - 1)
    hits = np.bincount(sector[hit], minlength=HUE_SECTORS).astype(np.int64)
    counts = np.bincount(sector, minlength=HUE_SECTORS).astype(np.int64)
    return hits, counts


def balanced_hue_accuracy(hits: np.ndarray, counts: np.ndarray, min_fraction: float = HUE_MIN_FRACTION) -> float:
    """Mean over hue sectors of hits / counts, over the sectors holding at least `min_fraction` of
    all colourful pixels; NaN when no pixel is colourful (a grey truth has no hue to get right)."""
    hits, counts = np.asarray(hits, np.float64), np.asarray(counts, np.float64)
    if hits.shape != counts.shape or np.any(hits > counts) or np.any(hits < 0):
        raise ValueError("hits and counts must be per-sector counts with 0 <= hits <= counts")
    total = counts.sum()
    if total <= 0:
        return float("nan")
    used = counts >= max(min_fraction * total, 1.0)
    return float(np.mean(hits[used] / counts[used]))


# ------------------------------------------------------------------------ perceptual distance


class PerceptualDistance:
    """Table I's L_perc: mean over VGG19 relu1_1..relu5_1 of the mean |F_i(pred) - F_i(target)|.

    ``weights`` is a torchvision VGG19 ImageNet state dict file (``vgg19-dcbb9e9d.pth`` or the
    same tensors as safetensors); without it this raises MissingWeightsError (never downloads).
    Both images are resized to 224x224 (bilinear, antialiased) and ImageNet-normalised.
    """

    def __init__(self, weights: str | Path, device: str | torch.device = "cpu",
                 layers: Sequence[str] = PERCEPTUAL_LAYERS, size: int = PERCEPTUAL_SIZE) -> None:
        from rawcolour.interop_files import load_vgg_features

        self.size = size
        self.device = torch.device(device)
        self.net = load_vgg_features("vgg19", tuple(layers), weights, pre_relu=False).to(self.device)

    def _prepare(self, img: np.ndarray) -> torch.Tensor:
        t = _hwc_to_tensor(_unit_float(img)).to(self.device, torch.float32)  # (1, 3, H, W)
        return F.interpolate(t, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred, target = _check_pair(pred, target)
        with torch.no_grad():
            fp = self.net(self._prepare(pred))
            ft = self.net(self._prepare(target))
        return float(torch.stack([(a - b).abs().mean() for a, b in zip(fp, ft)]).mean())
