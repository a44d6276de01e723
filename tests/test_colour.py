"""rawcolour.colour against scikit-image (the Lab convention the papers' code trained with)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata

from rawcolour import colour

# The 8 corners of the RGB cube: the extremes of the gamut (a and b reach about +-100 there).
CORNERS = np.array(list(itertools.product([0.0, 1.0], repeat=3))).reshape(2, 4, 3)


def _random_rgb(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgb = rng.random((16, 16, 3))
    rgb[0, :, :] = rng.random((16, 3)) * 0.04  # the linear toe of the sRGB curve
    return rgb


def _photo_rgb() -> np.ndarray:
    return skdata.astronaut()[::16, ::16].astype(np.float64) / 255.0  # 32x32 real colours


def _to_t(hwc: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hwc)).permute(2, 0, 1).to(dtype)


def _to_np(chw: torch.Tensor) -> np.ndarray:
    return chw.detach().permute(1, 2, 0).double().numpy()


SAMPLES = {"random": _random_rgb, "corners": lambda: CORNERS, "photo": _photo_rgb}


class TestRgbToLab:
    def test_smoke(self):
        out = colour.rgb_to_lab(torch.rand(2, 3, 4, 5))
        assert out.shape == (2, 3, 4, 5)
        assert out.dtype == torch.float32

    @pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 2, 3, 1, 1)])
    def test_cardinality(self, shape):
        assert colour.rgb_to_lab(torch.rand(shape)).shape == shape

    @pytest.mark.parametrize("sample", sorted(SAMPLES))
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_unit_vs_skimage(self, sample, dtype):
        rgb = SAMPLES[sample]()
        expected = skcolor.rgb2lab(rgb)
        got = _to_np(colour.rgb_to_lab(_to_t(rgb, dtype)))
        err = np.abs(got - expected).max(axis=(0, 1))  # per channel L, a, b
        assert (err <= 1e-3).all(), f"max |error| L,a,b = {err}"
        if dtype == torch.float64:
            assert (err <= 1e-9).all()

    def test_known_values(self):
        # generated with skimage.color.rgb2lab
        rgb = torch.tensor([[[[0.0]], [[0.0]], [[0.0]]], [[[1.0]], [[1.0]], [[1.0]]], [[[1.0]], [[0.0]], [[0.0]]]])
        lab = colour.rgb_to_lab(rgb.double())[..., 0, 0]
        expected = torch.tensor(
            [[0.0, 0.0, 0.0], [100.0, -0.00245493786, 0.00465342115], [53.2405879, 80.0923082, 67.2027510]],
            dtype=torch.float64,
        )
        torch.testing.assert_close(lab, expected, atol=1e-6, rtol=0)

    def test_exception(self):
        with pytest.raises(TypeError, match="Got <class 'numpy.ndarray'>"):
            colour.rgb_to_lab(np.zeros((3, 2, 2)))
        with pytest.raises(TypeError, match="Got torch.uint8"):
            colour.rgb_to_lab(torch.zeros(3, 2, 2, dtype=torch.uint8))
        with pytest.raises(ValueError, match=r"Got \(4, 2, 2\)"):
            colour.rgb_to_lab(torch.zeros(4, 2, 2))
        with pytest.raises(ValueError, match=r"Got \(2, 2\)$"):
            colour.rgb_to_lab(torch.zeros(2, 2))

    def test_gradcheck(self):
        rgb = (torch.rand(1, 3, 2, 2, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
        assert torch.autograd.gradcheck(colour.rgb_to_lab, (rgb,))


class TestLabToRgb:
    @pytest.mark.parametrize("sample", sorted(SAMPLES))
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_unit_vs_skimage(self, sample, dtype):
        lab = skcolor.rgb2lab(SAMPLES[sample]())
        got = _to_np(colour.lab_to_rgb(_to_t(lab, dtype)))
        assert np.abs(got - skcolor.lab2rgb(lab)).max() <= 1e-5

    def test_out_of_gamut_vs_skimage(self):
        rng = np.random.default_rng(1)
        lab = np.stack(
            [rng.uniform(0, 100, (16, 16)), rng.uniform(-120, 120, (16, 16)), rng.uniform(-120, 120, (16, 16))], -1
        )
        with pytest.warns(UserWarning, match="negative Z"):  # skimage clamps f(Z) < 0, as we do
            expected = skcolor.lab2rgb(lab)
        got = colour.lab_to_rgb(_to_t(lab, torch.float64))
        assert np.abs(_to_np(got) - expected).max() <= 1e-9
        unclipped = colour.lab_to_rgb(_to_t(lab, torch.float64), clip=False)
        assert unclipped.max() > 1.0 and unclipped.min() < 0.0
        assert torch.equal(unclipped.clamp(0, 1), got)

    @pytest.mark.parametrize("sample", sorted(SAMPLES))
    def test_forth_and_back(self, sample):
        rgb = _to_t(SAMPLES[sample](), torch.float64)
        back = colour.lab_to_rgb(colour.rgb_to_lab(rgb))
        torch.testing.assert_close(back, rgb, atol=1e-9, rtol=0)
        rgb32 = rgb.float()
        torch.testing.assert_close(colour.lab_to_rgb(colour.rgb_to_lab(rgb32)), rgb32, atol=2e-5, rtol=0)

    def test_exception(self):
        with pytest.raises(TypeError, match="Got <class 'list'>"):
            colour.lab_to_rgb([[0.0]])
        with pytest.raises(ValueError, match=r"Got \(1, 2, 2, 2\)"):
            colour.lab_to_rgb(torch.zeros(1, 2, 2, 2))

    def test_gradcheck(self):
        lab = torch.tensor([50.0, 10.0, -20.0], dtype=torch.float64).view(1, 3, 1, 1).repeat(1, 1, 2, 2)
        lab = (lab + torch.rand_like(lab)).requires_grad_()
        assert torch.autograd.gradcheck(lambda x: colour.lab_to_rgb(x, clip=False), (lab,))


class TestGreyL:
    def test_matches_lab_l(self):
        rgb = _to_t(_photo_rgb(), torch.float64)
        L = colour.rgb_to_grey_l(rgb)
        assert L.shape == (1, 32, 32)
        np.testing.assert_allclose(L[0].numpy(), skcolor.rgb2lab(_photo_rgb())[..., 0], atol=1e-9)

    def test_single_channel_is_neutral_grey(self):
        grey = torch.rand(2, 1, 4, 4, dtype=torch.float64)
        L = colour.rgb_to_grey_l(grey)
        assert L.shape == (2, 1, 4, 4)
        torch.testing.assert_close(L, colour.rgb_to_lab(grey.repeat(1, 3, 1, 1))[:, :1])

    def test_exception(self):
        with pytest.raises(ValueError, match=r"\(\*, 1 or 3, H, W\)\. Got \(1, 2, 4, 4\)"):
            colour.rgb_to_grey_l(torch.zeros(1, 2, 4, 4))


class TestModelScalings:
    def test_known_values(self):
        L = torch.tensor([0.0, 50.0, 100.0])
        torch.testing.assert_close(colour.l_to_model(L), torch.tensor([-1.0, 0.0, 1.0]))
        ab = torch.tensor([-110.0, 0.0, 55.0])
        torch.testing.assert_close(colour.ab_to_model(ab), torch.tensor([-1.0, 0.0, 0.5]))
        torch.testing.assert_close(colour.rgb_to_model(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-1.0, 0.0, 1.0]))
        torch.testing.assert_close(colour.model_to_rgb(torch.tensor([-3.0, 0.0, 2.0])), torch.tensor([0.0, 0.5, 1.0]))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_inverses(self, dtype):
        x = torch.linspace(-1, 1, 1001, dtype=dtype)
        eps = torch.finfo(dtype).eps
        # each pair is an exact inverse up to one rounding of the scale (a few ulps)
        torch.testing.assert_close(colour.l_to_model(colour.model_to_l(x)), x, atol=4 * eps, rtol=0)
        torch.testing.assert_close(colour.ab_to_model(colour.model_to_ab(x)), x, atol=4 * eps, rtol=0)
        torch.testing.assert_close(colour.rgb_to_model(colour.model_to_rgb(x)), x, atol=4 * eps, rtol=0)
        L = torch.linspace(0, 100, 1001, dtype=dtype)
        torch.testing.assert_close(colour.model_to_l(colour.l_to_model(L)), L, atol=200 * eps, rtol=0)
        ab = torch.linspace(-110, 110, 1001, dtype=dtype)
        torch.testing.assert_close(colour.model_to_ab(colour.ab_to_model(ab)), ab, atol=220 * eps, rtol=0)

    def test_model_lab_round_trip(self):
        rgb = _to_t(_photo_rgb(), torch.float64).unsqueeze(0)
        l_model, ab_model = colour.rgb_to_model_lab(rgb)
        assert l_model.shape == (1, 1, 32, 32) and ab_model.shape == (1, 2, 32, 32)
        assert l_model.min() >= -1 and l_model.max() <= 1 and ab_model.abs().max() <= 1
        lab = skcolor.rgb2lab(_photo_rgb())
        np.testing.assert_allclose(l_model[0, 0].numpy(), lab[..., 0] / 50 - 1, atol=1e-9)
        np.testing.assert_allclose(ab_model[0].permute(1, 2, 0).numpy(), lab[..., 1:] / 110, atol=1e-9)
        torch.testing.assert_close(colour.model_lab_to_rgb(l_model, ab_model), rgb, atol=1e-9, rtol=0)

    def test_model_lab_exception(self):
        with pytest.raises(ValueError, match=r"Got \(1, 3, 4, 4\)"):
            colour.model_lab_to_rgb(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4))
        with pytest.raises(ValueError, match=r"Got \(1, 1, 4, 4\) and \(1, 2, 4, 5\)"):
            colour.model_lab_to_rgb(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 5))

    def test_float16_keeps_dtype(self):
        rgb = torch.rand(1, 3, 4, 4)
        out = colour.rgb_to_lab(rgb.half())
        assert out.dtype == torch.float16
        torch.testing.assert_close(out.float(), colour.rgb_to_lab(rgb), atol=0.1, rtol=0.01)
