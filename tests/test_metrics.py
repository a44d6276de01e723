"""rawcolour.eval.metrics against independent computations (scikit-image, or numpy written here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata
from skimage import metrics as skmetrics

from rawcolour.eval import metrics
from rawcolour.errors import MissingWeightsError


def _pair(seed: int = 0, noise: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """A real photo crop (uint8) and a noisy, colour-shifted copy of it."""
    a = skdata.astronaut()[80:176, 160:288]  # 96x128 face, hair, background
    rng = np.random.default_rng(seed)
    b = a.astype(np.int64) + rng.integers(-noise, noise + 1, a.shape) + np.array([12, -6, 3])
    return a, np.clip(b, 0, 255).astype(np.uint8)


def _sk_lab_8bit(rgb8: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(rgb8.astype(np.float64) / 255.0)


class TestPSNR:
    def test_unit(self):
        a, b = _pair()
        assert metrics.psnr(b, a) == pytest.approx(skmetrics.peak_signal_noise_ratio(a, b), abs=1e-10)

    def test_float_equals_uint8(self):
        a, b = _pair(1)
        assert metrics.psnr(b / 255.0, a / 255.0) == pytest.approx(metrics.psnr(b, a), abs=1e-9)

    def test_eq7_by_hand(self):
        # eq. 7: 10 log10(255^2 W H / sum (I-K)^2), one channel, written out.
        i = np.array([[0, 10], [20, 30]], np.uint8)
        k = np.array([[1, 10], [22, 27]], np.uint8)
        sse = 1 + 0 + 4 + 9
        assert metrics.psnr(i, k) == pytest.approx(10 * np.log10(255**2 * 4 / sse), abs=1e-12)

    def test_identical(self):
        a, _ = _pair()
        assert metrics.psnr(a, a) == float("inf")

    def test_exception(self):
        a, b = _pair()
        with pytest.raises(ValueError, match="same shape"):
            metrics.psnr(a, b[:-1])
        with pytest.raises(TypeError):
            metrics.psnr(a.astype(np.int32), b.astype(np.int32))


class TestSSIM:
    @pytest.mark.parametrize("seed,noise", [(0, 25), (1, 5), (2, 60)])
    def test_unit(self, seed, noise):
        a, b = _pair(seed, noise)
        want = skmetrics.structural_similarity(
            a / 255.0, b / 255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=1.0, channel_axis=-1)
        assert metrics.ssim(b, a) == pytest.approx(want, abs=1e-9)

    def test_kornia(self):
        import kornia

        a, b = _pair(5)
        t = [torch.from_numpy(x.transpose(2, 0, 1) / 255.0)[None] for x in (a, b)]
        want = float(kornia.metrics.ssim(t[1], t[0], 11, max_val=1.0, eps=0.0, padding="valid").mean())
        assert metrics.ssim(b, a) == pytest.approx(want, abs=1e-9)

    def test_grey(self):
        a, b = _pair()
        ga, gb = a[..., 0], b[..., 1]
        want = skmetrics.structural_similarity(ga / 255.0, gb / 255.0, gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False, data_range=1.0)
        assert metrics.ssim(gb, ga) == pytest.approx(want, abs=1e-9)

    def test_identical(self):
        a, _ = _pair()
        assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)

    def test_exception(self):
        with pytest.raises(ValueError, match="at least 11"):
            metrics.ssim(np.zeros((8, 40, 3)), np.zeros((8, 40, 3)))


class TestABErrors:
    def test_unit(self):
        a, b = _pair()
        # The paper's convention written independently: 8-bit RGB -> Lab with scikit-image.
        la, lb = _sk_lab_8bit(a), _sk_lab_8bit(b)
        d = lb[..., 1:] - la[..., 1:]
        got = metrics.ab_errors(b, a)
        assert got.l1 == pytest.approx(np.mean(np.abs(d)), abs=1e-6)
        assert got.psnr == pytest.approx(20 * np.log10(255 / np.sqrt(np.mean(d**2))), abs=1e-6)

    def test_float_inputs_are_quantised(self):
        a, b = _pair()
        rng = np.random.default_rng(3)
        bf = np.clip(b / 255.0 + rng.uniform(-0.4, 0.4, b.shape) / 255.0, 0, 1)  # rounds back to b
        assert metrics.ab_errors(bf, a) == metrics.ab_errors(b, a)

    @pytest.mark.filterwarnings("ignore:Conversion from CIE-LAB")  # a few colours out of gamut on purpose
    def test_lab_round_trip(self):
        # Lab -> uint8 RGB -> Lab written with scikit-image.
        rng = np.random.default_rng(4)
        lab = np.stack([rng.uniform(5, 95, (20, 24)), rng.uniform(-60, 60, (20, 24)),
                        rng.uniform(-60, 60, (20, 24))], axis=-1)
        rgb8 = np.clip(np.rint(skcolor.lab2rgb(lab) * 255), 0, 255).astype(np.uint8)
        want = skcolor.rgb2lab(rgb8 / 255.0)
        np.testing.assert_allclose(metrics.lab_round_trip(lab), want, atol=1e-6)

    def test_grey_prediction(self):
        # A prediction with zero chroma: the errors are the ground truth's own |ab|.
        a, _ = _pair()
        lab = _sk_lab_8bit(a)
        lab_grey = lab.copy()
        lab_grey[..., 1:] = 0.0
        got = metrics.ab_errors_lab(lab_grey, lab)
        assert got.l1 == pytest.approx(np.mean(np.abs(lab[..., 1:])), abs=1e-12)

    def test_identical(self):
        a, _ = _pair()
        e = metrics.ab_errors(a, a)
        assert e.l1 == 0.0 and e.psnr == float("inf")


class TestColourfulness:
    def test_unit(self):
        a, _ = _pair()
        x = a.astype(np.float64)
        rg = x[..., 0] - x[..., 1]
        yb = (x[..., 0] + x[..., 1]) / 2 - x[..., 2]
        want = np.sqrt(np.std(rg) ** 2 + np.std(yb) ** 2) + 0.3 * np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2)
        assert metrics.colourfulness(a) == pytest.approx(want, rel=1e-12)
        assert metrics.colourfulness(a / 255.0) == pytest.approx(want, rel=1e-12)

    def test_grey_is_zero(self):
        g = np.repeat(skdata.camera()[::8, ::8, None], 3, axis=2)
        assert metrics.colourfulness(g) == 0.0

    def test_known_value(self):
        # Pure red everywhere: rg = 255, yb = 127.5, no spread: M = 0.3 sqrt(255^2 + 127.5^2).
        red = np.zeros((4, 4, 3), np.uint8)
        red[..., 0] = 255
        assert metrics.colourfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5), rel=1e-12)


class TestHistograms:
    def test_identical_sets(self):
        a, _ = _pair()
        ha, hb = metrics.ab_histograms(_sk_lab_8bit(a))
        assert metrics.histogram_intersection(ha, ha) == pytest.approx(1.0)
        assert metrics.histogram_intersection(hb, 3 * hb) == pytest.approx(1.0)  # normalised first

    def test_disjoint(self):
        lab1 = np.zeros((4, 4, 3))
        lab1[..., 1] = -50.5
        lab2 = np.zeros((4, 4, 3))
        lab2[..., 1] = 50.5
        h1, _ = metrics.ab_histograms(lab1)
        h2, _ = metrics.ab_histograms(lab2)
        assert metrics.histogram_intersection(h1, h2) == 0.0

    def test_hand_computed(self):
        # p = (2, 1, 1)/4 and q = (0, 1, 3)/4 over three bins: min = (0, 1/4, 1/4) -> 0.5.
        assert metrics.histogram_intersection([2, 1, 1], [0, 1, 3]) == pytest.approx(0.5)

    def test_counts(self):
        lab = np.zeros((1, 5, 3))
        lab[0, :, 1] = [-109.5, -0.5, 0.2, 0.7, 300.0]  # 300 clips into the last bin
        lab[0, :, 2] = [-200.0, 5.5, 5.5, 5.5, 109.9]
        ha, hb = metrics.ab_histograms(lab)
        assert ha.sum() == hb.sum() == 5 and len(ha) == 220
        assert ha[0] == 1 and ha[109] == 1 and ha[110] == 2 and ha[219] == 1
        assert hb[0] == 1 and hb[115] == 3 and hb[219] == 1

    def test_exception(self):
        with pytest.raises(ValueError):
            metrics.histogram_intersection([1, 2], [1, 2, 3])
        with pytest.raises(ValueError):
            metrics.histogram_intersection([0, 0], [1, 2])


class TestPerceptual:
    def _weights(self, tmp_path):
        """A torchvision-layout VGG19 features state dict with random weights (keys 'features.N.*')."""
        from rawcolour.nets.vgg import conv_indices

        torch.manual_seed(0)
        sd = {}
        cin = 3
        widths = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
        for name, idx in conv_indices("vgg19").items():
            if idx > 28:  # conv5_1 is index 28; later layers are not used
                continue
            cout = widths[int(name[4])]
            sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
            sd[f"features.{idx}.bias"] = torch.zeros(cout)
            cin = cout
        path = tmp_path / "vgg19.pth"
        torch.save(sd, path)
        return path, sd

    def test_unit(self, tmp_path):
        path, sd = self._weights(tmp_path)
        a, b = _pair()
        got = metrics.PerceptualDistance(path)(b, a)

        # Independent: the VGG19 stack by hand, post-ReLU taps at conv1_1, 2_1, 3_1, 4_1, 5_1.
        def feats(img):
            x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
            x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
            x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
                [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            out, idx = [], 0
            for block, n in enumerate((2, 2, 4, 4, 4)):
                for j in range(n):
                    x = torch.relu(torch.nn.functional.conv2d(x, sd[f"features.{idx}.weight"],
                                                              sd[f"features.{idx}.bias"], padding=1))
                    if j == 0:
                        out.append(x)
                    idx += 2
                    if block == 4:
                        return out
                x = torch.nn.functional.max_pool2d(x, 2)
                idx += 1
            return out

        fa, fb = feats(a), feats(b)
        want = float(np.mean([(p - q).abs().mean().item() for p, q in zip(fb, fa)]))
        assert got == pytest.approx(want, rel=1e-4)
        assert metrics.PerceptualDistance(path)(a, a) == 0.0

    def test_needs_weights(self, tmp_path):
        with pytest.raises(MissingWeightsError):
            metrics.PerceptualDistance(tmp_path / "missing.pth")


class TestHueAccuracy:
    """Balanced hue accuracy against a per-pixel loop written here with colorsys-free numpy maths."""

    @staticmethod
    def _by_hand(pred_lab: np.ndarray, true_lab: np.ndarray) -> float:
        hits, counts = [0] * 6, [0] * 6
        for (_, pa, pb), (_, ta, tb) in zip(pred_lab.reshape(-1, 3), true_lab.reshape(-1, 3)):
            if np.hypot(ta, tb) <= 20:
                continue
            th = np.degrees(np.arctan2(tb, ta)) % 360
            s = int(th // 60)
            counts[s] += 1
            ph = np.degrees(np.arctan2(pb, pa)) % 360
            d = abs(ph - th)
            if np.hypot(pa, pb) > 10 and min(d, 360 - d) <= 45:
                hits[s] += 1
        total = sum(counts)
        used = [h / c for h, c in zip(hits, counts) if c >= max(0.001 * total, 1)]
        return float(np.mean(used))

    def test_matches_loop_on_a_photo(self):
        a, b = _pair(noise=40)
        true_lab, pred_lab = _sk_lab_8bit(a[::2, ::2]), _sk_lab_8bit(b[::2, ::2])
        got = metrics.balanced_hue_accuracy(*metrics.hue_hits(pred_lab, true_lab))
        assert got == pytest.approx(self._by_hand(pred_lab, true_lab), abs=1e-12)
        assert 0.0 < got < 1.0

    def test_truth_scores_one_grey_scores_zero(self):
        lab = _sk_lab_8bit(skdata.astronaut()[::4, ::4])
        assert metrics.balanced_hue_accuracy(*metrics.hue_hits(lab, lab)) == 1.0
        grey = lab.copy()
        grey[..., 1:] = 0
        assert metrics.balanced_hue_accuracy(*metrics.hue_hits(grey, lab)) == 0.0

    def test_balanced_over_hues(self):
        # 90 warm pixels and 10 blue ones: a warm tone everywhere gets every warm pixel right, which
        # is 90% unbalanced but only the warm sector's 1.0 averaged with blue's 0.0 when balanced.
        true = np.zeros((1, 100, 3))
        true[0, :90, 1:] = (30, 30)  # hue 45: sector 0
        true[0, 90:, 1:] = (0, -40)  # hue 270: sector 4
        warm = np.zeros_like(true)
        warm[0, :, 1:] = (12, 15)  # hue ~51, chroma ~19
        hits, counts = metrics.hue_hits(warm, true)
        assert hits.sum() / counts.sum() == pytest.approx(0.9)
        assert metrics.balanced_hue_accuracy(hits, counts) == pytest.approx(0.5)

    def test_wraps_around_zero_and_sparse_sectors_left_out(self):
        true = np.zeros((1, 2000, 3))
        true[0, :, 1:] = (40, -5)  # hue ~353: sector 5
        true[0, 0, 1:] = (-40, 0)  # one pixel at hue 180: 0.05% of the colourful ones, below 0.1%
        pred = np.zeros_like(true)
        pred[0, :, 1:] = (40, 5)  # hue ~7: 14 degrees away across 0
        hits, counts = metrics.hue_hits(pred, true)
        assert counts[5] == 1999 and hits[5] == 1999 and counts[3] == 1 and hits[3] == 0
        assert metrics.balanced_hue_accuracy(hits, counts) == 1.0

    def test_no_colourful_pixel_is_nan(self):
        lab = np.zeros((4, 4, 3))
        assert np.isnan(metrics.balanced_hue_accuracy(*metrics.hue_hits(lab, lab)))

    def test_bad_counts(self):
        with pytest.raises(ValueError):
            metrics.balanced_hue_accuracy([2, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0])


class TestToneFits:
    """The RAW developers' fits: one exposure gain, or one curve shared by R, G and B."""

    def test_exposure_recovers_a_darker_copy(self):
        a = skdata.astronaut()[::4, ::4] / 255.0
        lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
        dark = lin * 0.4
        dark_srgb = np.where(dark <= 0.0031308, 12.92 * dark, 1.055 * dark ** (1 / 2.4) - 0.055)
        np.testing.assert_allclose(metrics.fit_exposure(dark_srgb, a), a, atol=1e-9)

    def test_shared_curve_forgives_tone_not_colour(self):
        a = skdata.coffee()[::4, ::4] / 255.0
        look = a ** 0.6 * 0.9  # a brighter, flatter "look", the same for all channels
        fitted = metrics.fit_tone_curve(look, a)
        assert metrics.psnr(fitted, a) > 40 and metrics.psnr(look, a) < 25
        cast = look.copy()
        cast[..., 0] *= 0.8  # a colour cast survives the shared curve
        assert metrics.psnr(metrics.fit_tone_curve(cast, a), a) < 30

    def test_curve_is_non_decreasing_least_squares(self):
        rng = np.random.default_rng(0)
        pred = rng.random((40, 40, 3))
        target = np.clip(pred + rng.normal(0, 0.2, pred.shape), 0, 1)
        fitted = metrics.fit_tone_curve(pred, target, levels=16)
        order = np.argsort(pred.ravel())
        assert np.all(np.diff(fitted.ravel()[order]) >= -1e-12)
        # (3, 1) pool to 2 (weight 2), which then pools with 1 (weight 2) to 1.5.
        y = np.array([3.0, 1.0, 1.0, 5.0])
        np.testing.assert_allclose(metrics._isotonic(y, np.array([1.0, 1.0, 2.0, 1.0])), [1.5, 1.5, 1.5, 5.0])

    def test_ciede2000_against_scikit_image(self):
        from skimage.color import deltaE_ciede2000, rgb2lab

        a, b = _pair(noise=30)
        want = float(np.mean(deltaE_ciede2000(rgb2lab(a / 255.0), rgb2lab(b / 255.0))))
        assert metrics.mean_ciede2000(b, a) == pytest.approx(want, rel=1e-4)
        assert metrics.mean_ciede2000(a, a) == 0.0
