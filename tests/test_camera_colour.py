"""Camera colour from RAW metadata: DNG tags, LibRaw's matrices, white-balance modes and fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import rawpy

from rawcolour.camera_colour import (
    ILLUMINANT_KELVIN,
    SRGB_TO_XYZ,
    DngColourTags,
    camera_colour,
    camera_to_srgb_matrix,
    cct_from_xy,
    grey_world_gains,
    interpolate_color_matrix,
    parse_wb,
    picture_colour,
    read_dng_colour_tags,
)
from rawcolour.io.dng import write_bayer_dng
from rawcolour.io.mosaic import unpack_bayer
from rawcolour.io.raw import read_raw

# A plausible XYZ -> camera matrix (D65 calibration), not any one camera's.
CAMERA = np.array([[0.6722, -0.0635, -0.0963], [-0.4287, 1.2460, 0.2046], [-0.0572, 0.1468, 0.6374]])
NEUTRAL = (0.5, 1.0, 0.7)  # the camera RGB of a grey object under the shooting light


def _grey_card_dng(path, neutral=NEUTRAL, matrix=CAMERA, cfa="GRBG"):
    """A DNG of a flat grey card: each channel at the card's level times the as-shot neutral."""
    level = 0.4
    packed = np.empty((4, 24, 32), np.float64)
    for k, c in enumerate((0, 1, 2, 1)):  # R, Gr, B, Gb
        packed[k] = level * neutral[c]
    black, white = 128, 4095
    mosaic = np.rint(black + unpack_bayer(packed, cfa) * (white - black)).astype(np.uint16)
    return write_bayer_dng(path, mosaic, cfa, black=black, white=white, color_matrix=matrix,
                           as_shot_neutral=neutral)


def test_dng_tags_read_back(tmp_path):
    tags = read_dng_colour_tags(_grey_card_dng(tmp_path / "card.dng"))
    assert tags is not None and len(tags.color_matrices) == 1 and tags.illuminants == (21,)
    np.testing.assert_allclose(tags.color_matrices[0], CAMERA, atol=1e-6)
    np.testing.assert_allclose(tags.as_shot_neutral, NEUTRAL, atol=1e-6)


def test_known_white_develops_neutral_and_matches_libraw(tmp_path):
    path = _grey_card_dng(tmp_path / "card.dng")
    colour = picture_colour(read_raw(path))
    assert colour.wb == "camera" and colour.notes == () and colour.matrix_source == "DNG ColorMatrix1"
    np.testing.assert_allclose(colour.gains, (2.0, 1.0, 1 / 0.7), rtol=1e-5)
    # LibRaw builds its camera -> sRGB matrix from the same tag: ours must be the same numbers.
    with rawpy.imread(str(path)) as raw:
        np.testing.assert_allclose(colour.camera_to_srgb, raw.color_matrix[:3, :3], atol=1e-4)
    # The grey card: equal R, G, B after development.
    rgb = colour.develop(np.array(NEUTRAL)[:, None] * 0.4)[:, 0]
    assert np.ptp(rgb) < 1e-5 and 0.3 < rgb[0] < 0.5


def test_matrix_rows_sum_to_one_and_invert_camera_response():
    m = camera_to_srgb_matrix(CAMERA)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)
    # A saturated sRGB red seen by the camera (then white-balanced for D65) comes back as that red.
    cam = CAMERA @ SRGB_TO_XYZ
    cam_wb = cam / cam.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m @ (cam_wb @ np.array([0.8, 0.1, 0.05])), [0.8, 0.1, 0.05], atol=1e-12)


def test_two_illuminants_interpolate_by_temperature():
    m_a, m_d65 = CAMERA * np.array([[1.3], [1.0], [0.6]]), CAMERA
    tags = DngColourTags(color_matrices=(m_a, m_d65), illuminants=(17, 21))
    # The white of illuminant A (x, y) = (0.4476, 0.4074) selects ColorMatrix1, D65 ColorMatrix2.
    got_a, how = interpolate_color_matrix(DngColourTags(tags.color_matrices, tags.illuminants,
                                                        as_shot_white_xy=(0.4476, 0.4074)), None)
    assert "interpolated" in how
    np.testing.assert_allclose(got_a, m_a, atol=2e-3)
    got_d65, _ = interpolate_color_matrix(DngColourTags(tags.color_matrices, tags.illuminants,
                                                        as_shot_white_xy=(0.3127, 0.3290)), None)
    np.testing.assert_allclose(got_d65, m_d65, atol=2e-3)
    # Halfway in inverse temperature -> the mean of the two matrices.
    t_mid = 2.0 / (1 / ILLUMINANT_KELVIN[17] + 1 / ILLUMINANT_KELVIN[21])
    mid = 0.5 * (m_a + m_d65)
    neutral = mid @ np.array([0.9, 1.0, 0.6])  # some warm white seen through the halfway matrix
    got, how = interpolate_color_matrix(tags, neutral)
    temperature = float(how.split(" at ")[1].split(" K")[0])
    xyz = np.linalg.solve(got, neutral)
    assert temperature == pytest.approx(cct_from_xy(xyz[0] / xyz.sum(), xyz[1] / xyz.sum()), abs=2)
    assert 2856 < temperature < 6504 and t_mid > 0


def test_mccamy_cct_known_whites():
    assert cct_from_xy(0.3127, 0.3290) == pytest.approx(6504, abs=15)  # D65
    assert cct_from_xy(0.4476, 0.4074) == pytest.approx(2856, abs=15)  # illuminant A


def test_unity_multipliers_fall_back_to_auto_with_a_note(tmp_path):
    path = _grey_card_dng(tmp_path / "unset.dng", neutral=(1.0, 1.0, 1.0))
    colour = picture_colour(read_raw(path))
    assert colour.wb == "auto" and any("no usable as-shot white balance" in n for n in colour.notes)


def test_no_matrix_falls_back_to_identity_with_a_note():
    from rawcolour.cameras import TYPICAL_CAMERA

    colour = camera_colour(as_shot_gains=(2.0, 1.0, 1.5), camera_rgb=np.ones((3, 4)))
    np.testing.assert_allclose(colour.camera_to_srgb, camera_to_srgb_matrix(TYPICAL_CAMERA.xyz_to_cam))
    assert colour.wb == "camera" and any("no colour matrix" in n for n in colour.notes)
    # A typical modern sensor's matrix saturates (diagonal above 1), unlike taking camera RGB as sRGB.
    assert np.all(np.diag(colour.camera_to_srgb) > 1.2)
    for bad in ((0.0, 1.0, 1.0), (-1.0, 1.0, 2.0), (1.0, 1.0, 1.0), None):
        assert camera_colour(as_shot_gains=bad, camera_rgb=np.ones((3, 4))).wb == "auto"


def test_wb_modes():
    rng = np.random.default_rng(0)
    v = rng.uniform(0.05, 0.6, 1000)
    scene = np.stack([v, rng.permutation(v), rng.permutation(v)])  # colourful pixels, grey on average
    cast = scene * np.array([[0.5], [1.0], [0.8]])  # a camera that sees grey as (0.5, 1, 0.8)
    auto = camera_colour(libraw_xyz_to_cam=CAMERA, as_shot_gains=(2.0, 1.0, 1.25), wb="auto", camera_rgb=cast)
    np.testing.assert_allclose(auto.gains, (2.0, 1.0, 1.25), rtol=1e-9)  # grey world finds the cast
    daylight = camera_colour(libraw_xyz_to_cam=CAMERA, wb="daylight")
    response = CAMERA @ SRGB_TO_XYZ.sum(axis=1)
    np.testing.assert_allclose(daylight.gains, (response[1] / response[0], 1, response[1] / response[2]))
    custom = camera_colour(libraw_xyz_to_cam=CAMERA, wb=parse_wb("4,2,3"))
    assert custom.wb == "custom" and custom.gains == (2.0, 1.0, 1.5)
    assert parse_wb(" Camera ") == "camera"
    for bad in ("warm", "1,2", "1,0,1", "a,b,c", "1,nan,1"):
        with pytest.raises(ValueError, match="white balance"):
            parse_wb(bad)
    assert parse_wb("1000,1,0.001") == (1000.0, 1.0, 0.001)  # the widest gains allowed
    for extreme in ("1e20,1,1", "1,1,1e-20", "1,1e9,1"):  # 1e20 overflowed float32: red came out black
        with pytest.raises(ValueError, match="red and blue must be within 1000x of green"):
            parse_wb(extreme)


def test_the_library_checks_gains_as_the_command_line_does():
    from rawcolour.errors import UsageError
    from rawcolour.inference.options import InferenceOptions

    assert InferenceOptions(wb=(4.0, 2.0, 3.0)).wb == (2.0, 1.0, 1.5)
    for bad in ((1e20, 1, 1), (float("inf"), 1, 1), (1, 0, 1), (1, 2), 7):
        with pytest.raises(UsageError, match="white-balance gains"):
            InferenceOptions(wb=bad)


def test_grey_world_ignores_clipped_and_black_pixels():
    x = np.full((3, 100), 0.3) * np.array([[0.5], [1.0], [0.8]])
    x[:, :10] = 1.0  # blown highlights (white, would pull towards 1:1:1)
    x[:, 10:20] = 0.0  # black
    np.testing.assert_allclose(grey_world_gains(x), (2.0, 1.0, 1.25), rtol=1e-9)


def test_develop_clips_highlights_before_the_matrix():
    colour = camera_colour(libraw_xyz_to_cam=CAMERA, as_shot_gains=(2.0, 1.0, 1.5))
    blown = colour.develop(np.array([[1.0], [1.0], [1.0]]))  # every channel saturated
    np.testing.assert_allclose(blown[:, 0], 1.0, atol=1e-5)  # white, not magenta
    assert colour.develop(np.full((3, 1), 0.1), exposure=1.0)[1, 0] == pytest.approx(
        colour.develop(np.full((3, 1), 0.2))[1, 0], rel=1e-6)


def test_non_dng_or_broken_file_has_no_tags(tmp_path):
    (tmp_path / "x.dng").write_bytes(b"II*\x00garbage")
    assert read_dng_colour_tags(tmp_path / "x.dng") is None
    assert read_dng_colour_tags(tmp_path / "missing.dng") is None
