"""Simulated camera shots: training pairs of the learned developer and evaluation DNGs that LibRaw reads."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from rawcolour.camera_colour import balance_packed, picture_colour
from rawcolour.data.camera_sim import (
    EVAL_CAMERAS,
    TRAIN_CAMERAS,
    Shot,
    developer_sample,
    draw_shot,
    illuminant_xy,
    shot_for,
    write_shot_dng,
)
from rawcolour.io.raw import read_raw


def test_planckian_whites():
    assert illuminant_xy(2856) == pytest.approx((0.4476, 0.4074), abs=1e-3)  # CIE illuminant A
    assert illuminant_xy(6504) == pytest.approx((0.3135, 0.3237), abs=1e-3)  # black body, not D65
    with pytest.raises(ValueError):
        illuminant_xy(1000)


def test_cameras_are_real_and_split():
    names = {c.name for c in TRAIN_CAMERAS}
    assert len(TRAIN_CAMERAS) >= 12 and len(EVAL_CAMERAS) >= 6 and not names & {c.name for c in EVAL_CAMERAS}
    for cam in TRAIN_CAMERAS + EVAL_CAMERAS:
        np.testing.assert_allclose(cam.rgb_to_cam.sum(axis=1), 1.0)
        # Daylight through a real sensor: green is the most sensitive channel, red the least.
        neutral = shot_for(cam, "low", kelvin=5500).as_shot_neutral
        assert neutral[1] == 1.0 and 0.25 < neutral[0] < 0.8 and 0.4 < neutral[2] < 0.95, cam.name
        # Warmer light: relatively more red, less blue.
        warm = shot_for(cam, "low", kelvin=3000).as_shot_neutral
        assert warm[0] > neutral[0] and warm[2] < neutral[2]


def test_flat_grey_sample_without_noise_is_its_truth():
    photo = np.full((32, 48, 3), 140, np.uint8)
    shot = Shot(camera=TRAIN_CAMERAS[0], kelvin=3200.0, brightness=0.8, shot_noise=0.0, read_noise=0.0,
                bits=14, black=512)
    model_input, truth = developer_sample(photo, shot, np.random.default_rng(0))
    assert model_input.shape == (4, 16, 24) and truth.shape == (3, 32, 48)
    # Colour comes from the metadata: a grey photo is grey in the truth and in every input site
    # (up to 14-bit quantisation), whatever the light and camera.
    assert np.ptp(truth) < 1e-5
    np.testing.assert_allclose(model_input, truth[0, 0, 0], atol=2e-3)


def test_noisy_sample_is_unbiased_and_seeded():
    photo = skdata.astronaut()[100:164, 200:296]
    rng = np.random.default_rng(1)
    shot = draw_shot(rng)
    a, truth = developer_sample(photo, shot, np.random.default_rng(5))
    b, _ = developer_sample(photo, shot, np.random.default_rng(5))
    assert np.array_equal(a, b)
    noisy = Shot(**{**shot.__dict__, "shot_noise": 1e-2, "read_noise": 1e-4})
    n, t = developer_sample(photo, noisy, np.random.default_rng(2))
    # The green sites of the input scatter around the truth's green at those sites.
    green_truth = truth[1, 0::2, 1::2]
    assert abs(float(np.mean(n[1] - green_truth))) < 0.01 and float(np.std(n[1] - green_truth)) > 0.01


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_dng_states_the_shots_colour_in_every_phase(tmp_path, cfa):
    photo = skdata.coffee()[:64, :96]
    shot = shot_for(EVAL_CAMERAS[1], "mid", kelvin=4200)
    path, truth = write_shot_dng(tmp_path / f"{cfa}.dng", photo, shot, cfa, np.random.default_rng(0))
    raw = read_raw(path)
    assert raw.cfa == cfa and raw.packed.shape[1:] == (truth.shape[0] // 2, truth.shape[1] // 2)
    assert raw.white_level == shot.white and raw.black_levels == (shot.black,) * 4
    colour = picture_colour(raw)
    assert colour.wb == "camera" and colour.notes == ()
    np.testing.assert_allclose(colour.gains, shot.colour.gains, rtol=1e-5)
    np.testing.assert_allclose(colour.camera_to_srgb, shot.colour.camera_to_srgb, atol=1e-5)
    assert balance_packed(raw.packed, colour).shape == raw.packed.shape
