"""Synthetic RAW from sRGB (unprocessing): round trip, distributions, noise, layout, determinism."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from skimage import data

from rawcolour.errors import InputError, UsageError
from rawcolour.data.unprocess import (
    CAMERA_XYZ_TO_CAM,
    SRGB_TO_XYZ,
    UnprocessParams,
    gamma_expand,
    inverse_smoothstep,
    process,
    random_params,
    smoothstep,
    synthetic_pair,
    unprocess,
    unprocess_to_mosaic,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photograph, 256x256 uint8 RGB."""
    return cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)


def _block_constant(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(small float (h,w,3), same picture nearest-upscaled x2): each 2x2 block is one colour."""
    small = cv2.resize(photo, (photo.shape[1] // 2, photo.shape[0] // 2), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32) / 255.0
    return small, np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)


def _exact_mask(small: np.ndarray, p: UnprocessParams) -> np.ndarray:
    """Pixels where unprocessing loses nothing: no clipping of camera values, no highlight easing."""
    cam = gamma_expand(inverse_smoothstep(small)) @ p.rgb_to_cam.T
    after_gain = cam * p.inverse_gains
    return (
        np.all(cam >= 0, axis=-1)
        & np.all(after_gain <= 1, axis=-1)
        & (cam.mean(axis=-1) <= 0.9)
    )


def test_smoothstep_inverse_is_exact():
    y = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.allclose(smoothstep(inverse_smoothstep(y)), y, atol=2e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_process_inverts_unprocess_on_a_photo(photo, seed):
    small, big = _block_constant(photo)
    p = random_params(np.random.default_rng(seed))
    packed = unprocess(big, p, noise=False)
    assert packed.shape == (4, 128, 128) and packed.dtype == np.float32
    back = process(packed, p).transpose(1, 2, 0)
    mask = _exact_mask(small, p)
    # Most of a normal photo is in the lossless range; the rest is saturated colour / highlights.
    assert mask.mean() > 0.9
    err = np.abs(back - small)[mask]
    assert err.max() < 1e-5, err.max()  # float32 rounding only
    # Where it is lossy the damage is bounded, and most of the picture is still near-perfect.
    assert np.abs(back - small).mean() < 1e-3


def test_process_of_unprocess_approximates_downscaled_photo(photo):
    packed, target, p = synthetic_pair(photo, np.random.default_rng(3), noise=False)
    rgb = process(packed, p)
    psnr = 10 * math.log10(1.0 / float(np.mean((rgb - target) ** 2)))
    # Not exact: R, G and B of a packed pixel are sampled at different places of the 2x2 block.
    assert psnr > 22.0, psnr


def test_white_highlights_stay_neutral():
    # Without highlight preservation the inverse white balance would turn clipped white into
    # a coloured cast (R and B darker than G) that no real sensor records.
    p = random_params(np.random.default_rng(4))
    packed = unprocess(np.ones((4, 4, 3), np.float32), p, noise=False)
    assert np.allclose(packed, packed[1:2], atol=1e-5)
    assert packed.min() > 0.99 * min(1.0, 1.0 / p.brightness_gain) - 1e-6


def test_wide_white_balance_gains_cover_balanced_and_blue_starved_sensors():
    brooks = [random_params(np.random.default_rng(s)) for s in range(300)]
    wide = [random_params(np.random.default_rng(s), gains="wide") for s in range(300)]
    red, blue = np.array([p.red_gain for p in wide]), np.array([p.blue_gain for p in wide])
    assert red.min() >= 1.0 and red.max() <= 2.8 and red.min() < 1.2 and red.max() > 2.6
    assert blue.min() >= 1.0 and blue.max() <= 3.5 and blue.min() < 1.2 and blue.max() > 3.2
    # only the gains change: the same seed gives the same matrix, brightness and noise
    assert all(np.array_equal(a.rgb_to_cam, b.rgb_to_cam) and a.shot_noise == b.shot_noise
               for a, b in zip(brooks, wide))
    with pytest.raises(UsageError, match="white-balance"):
        random_params(0, gains="narrow")


def test_parameter_distributions():
    rng = np.random.default_rng(5)
    ps = [random_params(rng) for _ in range(2000)]
    red = np.array([p.red_gain for p in ps])
    blue = np.array([p.blue_gain for p in ps])
    inv_b = np.array([1.0 / p.brightness_gain for p in ps])
    shot = np.array([p.shot_noise for p in ps])
    read = np.array([p.read_noise for p in ps])
    assert red.min() >= 1.9 and red.max() <= 2.4 and red.max() - red.min() > 0.45
    assert blue.min() >= 1.5 and blue.max() <= 1.9 and blue.max() - blue.min() > 0.35
    assert abs(inv_b.mean() - 0.8) < 0.01 and abs(inv_b.std() - 0.1) < 0.01
    assert shot.min() >= 1e-4 and shot.max() <= 0.012
    # log shot uniform: mean in the log domain is the midpoint
    assert abs(np.log(shot).mean() - 0.5 * (math.log(1e-4) + math.log(0.012))) < 0.1
    resid = np.log(read) - (2.18 * np.log(shot) + 1.20)
    assert abs(resid.mean()) < 0.03 and abs(resid.std() - 0.26) < 0.02
    for p in ps[:200]:
        assert np.allclose(p.rgb_to_cam.sum(axis=1), 1.0)
        assert np.linalg.cond(p.rgb_to_cam) < 20
        # a camera sees each primary mostly in its own channel
        assert np.all(np.argmax(p.rgb_to_cam, axis=1) == [0, 1, 2])


def test_camera_matrix_is_a_dng_colour_matrix():
    p = random_params(np.random.default_rng(6))
    d65_xyz = SRGB_TO_XYZ @ np.ones(3)
    assert np.allclose(p.xyz_to_cam @ d65_xyz, 1.0)
    assert np.allclose(p.as_shot_neutral, [1 / p.red_gain, 1, 1 / p.blue_gain])
    for m in CAMERA_XYZ_TO_CAM.values():
        assert m.shape == (3, 3) and np.linalg.det(m) > 0


@pytest.mark.parametrize("level", [0.5, 0.8])  # far enough from 0 and 1 that clipping is rare
def test_noise_variance_is_shot_times_signal_plus_read(level):
    p = UnprocessParams.identity(shot_noise=0.01, read_noise=4e-4)
    flat = np.full((512, 512, 3), level, np.float32)
    clean = unprocess(flat, p, noise=False)
    noisy = unprocess(flat, p, noise=True, rng=np.random.default_rng(7))
    x = float(clean.mean())
    assert np.allclose(clean, x)
    expected = 0.01 * x + 4e-4
    var = float((noisy - clean).var())
    assert abs(var / expected - 1) < 0.03, (var, expected)
    assert abs(float((noisy - clean).mean())) < 3 * math.sqrt(expected / noisy.size) + 1e-4
    assert noisy.min() >= 0 and noisy.max() <= 1


@pytest.mark.parametrize("channel,planes", [(0, [0]), (1, [1, 3]), (2, [2])])
def test_packed_order_is_r_gr_b_gb(channel, planes):
    rgb = np.zeros((8, 8, 3), np.float32)
    rgb[..., channel] = 0.7
    packed = unprocess(rgb, UnprocessParams.identity(), noise=False)
    for i in range(4):
        if i in planes:
            assert np.all(packed[i] > 0.3)
        else:
            assert np.all(packed[i] < 1e-6)


def test_mosaic_positions_and_packing_agree():
    rng = np.random.default_rng(8)
    rgb = rng.uniform(0, 1, (6, 10, 3)).astype(np.float32)
    p = UnprocessParams.identity()
    mosaic, cfa = unprocess_to_mosaic(rgb, p, noise=False)
    assert cfa == "RGGB" and mosaic.shape == (6, 10)
    lin = gamma_expand(inverse_smoothstep(rgb))
    assert np.allclose(mosaic[0::2, 0::2], lin[0::2, 0::2, 0], atol=1e-6)
    assert np.allclose(mosaic[0::2, 1::2], lin[0::2, 1::2, 1], atol=1e-6)
    assert np.allclose(mosaic[1::2, 0::2], lin[1::2, 0::2, 1], atol=1e-6)
    assert np.allclose(mosaic[1::2, 1::2], lin[1::2, 1::2, 2], atol=1e-6)
    packed = unprocess(rgb, p, noise=False)
    assert np.array_equal(packed[0], mosaic[0::2, 0::2])
    assert np.array_equal(packed[1], mosaic[0::2, 1::2])  # green on the red row
    assert np.array_equal(packed[2], mosaic[1::2, 1::2])
    assert np.array_equal(packed[3], mosaic[1::2, 0::2])  # green on the blue row


def test_seeded_rng_is_deterministic(photo):
    a = synthetic_pair(photo, np.random.default_rng(9))
    b = synthetic_pair(photo, np.random.default_rng(9))
    c = synthetic_pair(photo, np.random.default_rng(10))
    assert a[2] == b[2] and a[2] != c[2]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_synthetic_pair_shapes_and_odd_sizes(photo):
    odd = photo[:101, :77]
    packed, target, p = synthetic_pair(odd, np.random.default_rng(11))
    assert packed.shape == (4, 50, 38) and target.shape == (3, 50, 38)
    assert packed.dtype == np.float32 and target.dtype == np.float32
    assert 0 <= packed.min() and packed.max() <= 1 and 0 <= target.min() and target.max() <= 1
    # the target is the 2x2 area mean of the photo (uint8 input scaled to [0, 1])
    expected = odd[:100, :76].astype(np.float32).reshape(50, 2, 38, 2, 3).mean((1, 3)) / 255
    assert np.allclose(target.transpose(1, 2, 0), expected, atol=1e-6)
    assert isinstance(p, UnprocessParams)


def test_float_uint8_uint16_inputs_agree(photo):
    p = random_params(np.random.default_rng(12))
    a = unprocess(photo, p, noise=False)
    b = unprocess(photo.astype(np.float64) / 255, p, noise=False)
    assert np.allclose(a, b, atol=1e-6)
    c = unprocess(photo.astype(np.uint16) * 257, p, noise=False)  # 16-bit: same values
    assert np.allclose(a, c, atol=1e-6)


def test_input_is_not_modified(photo):
    f = photo.astype(np.float32) / 255
    before = f.copy()
    synthetic_pair(f, 13)
    assert np.array_equal(f, before)


def test_params_round_trip_through_json():
    p = random_params(np.random.default_rng(14))
    q = UnprocessParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert p == q
    with pytest.raises(Exception):
        p.rgb_to_cam[0, 0] = 2.0  # frozen, including the matrix


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8)),
        np.zeros((8, 8, 4)),
        np.zeros((1, 8, 3)),
        np.full((4, 4, 3), np.nan),
        np.zeros((4, 4, 3), np.int64),
    ],
)
def test_bad_images_raise_input_error(bad):
    with pytest.raises(InputError):
        unprocess(bad, UnprocessParams.identity(), noise=False)


def test_bad_params_raise_usage_error():
    with pytest.raises(UsageError):
        UnprocessParams(np.zeros((3, 3)), 2.0, 1.7, 1.0, 1e-3, 1e-5)
    with pytest.raises(UsageError):
        UnprocessParams(np.eye(3), -1.0, 1.7, 1.0, 1e-3, 1e-5)
    with pytest.raises(InputError):
        process(np.zeros((3, 4, 4), np.float32), UnprocessParams.identity())
