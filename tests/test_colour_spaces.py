"""Output colour spaces: matrices, curves and profiles against textbook colour science.

The conversion matrices are read from the LittleCMS profiles (rawcolour.colour_spaces); here they
are derived independently from the spaces' published primaries and white points with the Bradford
transform, and the curves from their specifications.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from rawcolour.colour_spaces import COLOUR_SPACES, apply_matrix, encode_linear_srgb, get_colour_space, icc_profile, \
    matrix_from_linear_srgb
from rawcolour.errors import UsageError

PRIMARIES = {  # red, green, blue xy; white xy
    "srgb": ([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], (0.3127, 0.3290)),
    "adobe-rgb": ([(0.64, 0.33), (0.21, 0.71), (0.15, 0.06)], (0.3127, 0.3290)),
    "prophoto": ([(0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)], (0.3457, 0.3585)),
}
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(name: str) -> np.ndarray:
    primaries, white = PRIMARIES[name]
    columns = np.stack([xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, xyz(*white))


def bradford(src: tuple[float, float], dst: tuple[float, float]) -> np.ndarray:
    scale = np.diag((BRADFORD @ xyz(*dst)) / (BRADFORD @ xyz(*src)))
    return np.linalg.inv(BRADFORD) @ scale @ BRADFORD


@pytest.mark.parametrize("name", ["adobe-rgb", "prophoto"])
def test_matrix_is_the_bradford_adapted_conversion(name):
    expected = np.linalg.inv(rgb_to_xyz(name)) @ bradford(PRIMARIES["srgb"][1], PRIMARIES[name][1]) @ rgb_to_xyz("srgb")
    np.testing.assert_allclose(matrix_from_linear_srgb(name), expected, atol=1.5e-3)
    np.testing.assert_allclose(matrix_from_linear_srgb(name).sum(axis=1), 1.0, atol=1e-3)  # white stays white


def test_curves_follow_the_specifications():
    grey = np.full((1, 1, 3), 0.18, np.float32)
    expected = {"srgb": 1.055 * 0.18 ** (1 / 2.4) - 0.055, "adobe-rgb": 0.18 ** (256 / 563),
                "prophoto": 0.18 ** (1 / 1.8), "linear-srgb": 0.18}
    for name, value in expected.items():
        np.testing.assert_allclose(encode_linear_srgb(grey, name), value, atol=3e-5)  # profile colorants: 1e-5
        np.testing.assert_allclose(encode_linear_srgb(np.ones((1, 1, 3)), name), 1.0, atol=3e-5)
        np.testing.assert_array_equal(encode_linear_srgb(np.zeros((1, 1, 3)), name), 0.0)


def test_apply_matrix_multiplies_each_pixel_as_a_column_vector():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(3, 3))  # not symmetric: a transposed product would differ
    pixels = rng.random((5, 7, 3)).astype(np.float32)
    codes = rng.integers(0, 65536, size=(5, 7, 3)).astype(np.uint16)
    for given in (pixels, pixels[::2, 1::3], codes):  # views and integer codes too
        got = apply_matrix(given, matrix)
        assert got.dtype == np.float32 and got.shape == given.shape
        expected = np.einsum("ij,hwj->hwi", matrix, given.astype(np.float64))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_encoding_with_a_matrix_matches_the_matrix_then_the_curve():
    rng = np.random.default_rng(4)
    linear = rng.random((33, 40, 3)).astype(np.float32) * 1.2 - 0.1
    to_srgb = np.array([[1.2, -0.1, 0.0], [0.05, 0.9, 0.1], [0.0, -0.2, 1.3]])
    # Adobe RGB's curve is a pure power, steepest at black, where the curve's table is a little coarser.
    for space, atol in (("srgb", 2e-5), ("adobe-rgb", 1e-4)):
        through = np.einsum("ij,hwj->hwi", matrix_from_linear_srgb(space) @ to_srgb, linear.astype(np.float64))
        np.testing.assert_allclose(encode_linear_srgb(linear, space, to_srgb=to_srgb),
                                   get_colour_space(space).encode(np.clip(through, 0, 1)), atol=atol)


def test_colours_outside_srgb_survive_in_prophoto():
    green = np.array([[[-0.08, 0.7, -0.04]]], np.float32)  # more saturated than sRGB's green
    encoded = encode_linear_srgb(green, "prophoto")
    assert 0.0 < encoded.min() and encoded.max() < 1.0  # inside ProPhoto: nothing clipped
    back = np.linalg.solve(matrix_from_linear_srgb("prophoto"), (encoded[0, 0] ** 1.8).astype(np.float64))
    np.testing.assert_allclose(back, green[0, 0], atol=2e-4)
    assert encode_linear_srgb(green, "srgb").min() == 0.0  # sRGB clips it


def test_names_and_profiles():
    assert get_colour_space("Adobe-RGB").name == "adobe-rgb"
    with pytest.raises(UsageError, match="srgb, adobe-rgb, prophoto, linear-srgb"):
        get_colour_space("rec2020")
    for name in COLOUR_SPACES:
        profile = icc_profile(name)
        assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB "  # an RGB ICC profile


def test_profiles_carry_a_fixed_date_so_outputs_are_reproducible():
    # LittleCMS stamps each profile with the time it is made; an embedded profile that changes from
    # run to run would make the same picture, developed twice, differ in its bytes.
    from PIL import ImageCms

    for name in COLOUR_SPACES:
        profile = icc_profile(name)
        made_again = get_colour_space(name).make_profile()
        assert profile[:24] == made_again[:24] and profile[36:] == made_again[36:]  # only the date set
        parsed = ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile
        assert parsed.creation_date.timetuple()[:6] == (2026, 1, 1, 0, 0, 0)
