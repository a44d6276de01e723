"""RAW decoding, packing, levels, orientation and refusals, on real DNG files written with pidng."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

rawpy = pytest.importorskip("rawpy")
pytest.importorskip("pidng")

from rawcolour.io.dng import write_bayer_dng  # noqa: E402
from rawcolour.errors import InputError, UnsupportedRawError, UsageError  # noqa: E402
from rawcolour.inference.classic import develop_classic  # noqa: E402
from rawcolour.io.classic import classic_develop  # noqa: E402
from rawcolour.io.mosaic import PACKED_ORDER, pack_bayer, unpack_bayer  # noqa: E402
from rawcolour.io.packed_png import read_rawgan_png, read_zurich_png  # noqa: E402
from rawcolour.io.raw import RawPicture, apply_orientation, is_raw_path, read_raw  # noqa: E402

LAYOUTS = ["RGGB", "BGGR", "GRBG", "GBRG"]
BLACK = (64, 80, 96, 112)  # per packed channel R, Gr, B, Gb
WHITE = 4095


def oracle_channel(cfa: str, y: int, x: int) -> str:
    """Packed channel name of mosaic pixel (y, x): an independent statement of the layout rules."""
    letter = cfa[2 * (y % 2) + (x % 2)]
    if letter != "G":
        return letter
    row = cfa[2 * (y % 2) : 2 * (y % 2) + 2]
    return "Gr" if "R" in row else "Gb"


def known_planes(h: int, w: int) -> np.ndarray:
    """Four uint16 planes with distinct ranges and a different gradient each (R, Gr, B, Gb)."""
    yy, xx = np.mgrid[0:h, 0:w]
    planes = np.stack(
        [
            200 + 7 * xx + 3 * yy,
            1100 + 5 * yy + xx,
            2100 + 11 * xx,
            3000 + 13 * yy + 2 * xx,
        ]
    )
    return planes.astype(np.uint16)


def mosaic_with_edges(planes: np.ndarray, cfa: str, extra_rows: int, extra_cols: int) -> np.ndarray:
    mosaic = unpack_bayer(planes, cfa)
    h, w = mosaic.shape
    full = np.full((h + extra_rows, w + extra_cols), 9999, dtype=np.uint16)
    full[:h, :w] = mosaic
    return full


def expected_packed(planes: np.ndarray, black, white) -> np.ndarray:
    b = np.asarray(black, np.float64)[:, None, None]
    return np.clip((planes - b) / (white - b), 0, 1)


# --------------------------------------------------------------------------- pure packing


@pytest.mark.parametrize("cfa", LAYOUTS)
def test_pack_follows_layout_rules(cfa):
    codes = {"R": 1, "Gr": 2, "B": 3, "Gb": 4}
    mosaic = np.array([[codes[oracle_channel(cfa, y, x)] for x in range(8)] for y in range(6)])
    packed = pack_bayer(mosaic, cfa)
    assert packed.shape == (4, 3, 4)
    for k, name in enumerate(PACKED_ORDER):
        assert np.all(packed[k] == codes[name]), (cfa, name)


@pytest.mark.parametrize("cfa", LAYOUTS)
def test_pack_unpack_are_inverse(cfa):
    rng = np.random.default_rng(0)
    mosaic = rng.integers(0, 65535, (10, 14), dtype=np.uint16)
    assert np.array_equal(unpack_bayer(pack_bayer(mosaic, cfa), cfa), mosaic)
    planes = rng.random((4, 5, 7)).astype(np.float32)
    assert np.array_equal(pack_bayer(unpack_bayer(planes, cfa), cfa), planes)


def test_pack_crops_odd_and_rejects_bad_input():
    assert pack_bayer(np.zeros((7, 9)), "rggb").shape == (4, 3, 4)
    with pytest.raises(UsageError, match="Bayer pattern"):
        pack_bayer(np.zeros((4, 4)), "RGBG")
    with pytest.raises(UsageError):
        pack_bayer(np.zeros((4, 4, 3)), "RGGB")
    with pytest.raises(UsageError):
        unpack_bayer(np.zeros((3, 4, 4)), "RGGB")


# --------------------------------------------------------------------------- DNG round trips


@pytest.mark.parametrize("cfa", LAYOUTS)
def test_read_raw_is_exact_for_every_layout(tmp_path, cfa):
    planes = known_planes(22, 30)
    planes[0, 0, 0] = 10  # below R black: must clip to 0
    planes[2, 1, 1] = 4095  # at white: exactly 1
    path = write_bayer_dng(
        tmp_path / "x.dng",
        mosaic_with_edges(planes, cfa, extra_rows=1, extra_cols=1),  # 45x61: odd both ways
        cfa,
        black=BLACK,
        white=WHITE,
    )
    pic = read_raw(path)
    assert pic.cfa == cfa
    assert pic.packed.dtype == np.float32
    assert pic.packed.shape == (4, 22, 30)  # odd edge dropped
    assert pic.black_levels == tuple(float(b) for b in BLACK)
    assert pic.white_level == WHITE
    assert pic.flip == 0
    assert pic.path == path
    np.testing.assert_allclose(pic.packed, expected_packed(planes, BLACK, WHITE), rtol=0, atol=2e-7)
    assert pic.packed[0, 0, 0] == 0.0 and pic.packed[2, 1, 1] == 1.0
    # undo the normalisation: integers come back exactly, channel by channel
    b = np.asarray(BLACK, np.float64)[:, None, None]
    back = np.round(pic.packed.astype(np.float64) * (WHITE - b) + b)
    mask = (planes > b) & (planes <= WHITE)
    assert np.array_equal(back[mask], planes[mask].astype(np.float64))


def test_single_black_level_and_metadata(tmp_path):
    planes = known_planes(12, 16)
    path = write_bayer_dng(
        tmp_path / "m.dng",
        unpack_bayer(planes, "GRBG"),
        "GRBG",
        black=150,
        white=16383,
        camera="Acme Model 7",
        as_shot_neutral=(0.5, 1.0, 0.25),
    )
    pic = read_raw(path)
    assert pic.black_levels == (150.0,) * 4
    assert pic.white_level == 16383.0
    np.testing.assert_allclose(pic.packed, expected_packed(planes, (150,) * 4, 16383), atol=2e-7)
    # AsShotNeutral is the inverse of the white-balance gains
    wb = pic.camera_whitebalance
    assert wb is not None and len(wb) == 4
    assert wb[0] / wb[1] == pytest.approx(2.0) and wb[2] / wb[1] == pytest.approx(4.0) and wb[3] == wb[1]
    assert pic.camera == "Acme Model 7"
    # default ColorMatrix1 says camera RGB is linear sRGB
    assert pic.color_matrix is not None
    np.testing.assert_allclose(pic.color_matrix, np.eye(3), atol=1e-3)


def asymmetric_planes(h: int, w: int) -> np.ndarray:
    planes = np.full((4, h, w), 300, dtype=np.uint16)
    planes[:, : h // 3, : w // 4] = 3500  # bright block in the top-left corner
    planes[0, -2:, :] = 2000  # red band along the bottom
    return planes


@pytest.mark.parametrize("orientation,flip,turns", [(1, 0, 0), (3, 3, 2), (6, 6, -1), (8, 5, 1)])
def test_orientation_tag_to_flip_and_apply(tmp_path, orientation, flip, turns):
    planes = asymmetric_planes(14, 20)
    path = write_bayer_dng(
        tmp_path / "o.dng", unpack_bayer(planes, "RGGB"), "RGGB", black=0, white=WHITE, orientation=orientation
    )
    pic = read_raw(path)
    assert pic.flip == flip
    # packed data stays in sensor orientation
    assert pic.packed.shape == (4, 14, 20)
    # apply_orientation matches a reference rotation (np.rot90: +1 = 90 degrees CCW) ...
    img = np.moveaxis(pic.packed[:3], 0, -1)
    assert np.array_equal(apply_orientation(img, flip), np.rot90(img, turns))
    assert np.array_equal(apply_orientation(img[..., 0], flip), np.rot90(img[..., 0], turns))
    # ... and LibRaw's own output orientation
    with rawpy.imread(str(path)) as raw:
        upright = raw.postprocess(user_flip=0, output_bps=16)
    with rawpy.imread(str(path)) as raw:
        turned = raw.postprocess(output_bps=16)
    assert np.array_equal(apply_orientation(upright, flip), turned)


def test_apply_orientation_mirrors_and_bad_flip():
    img = np.arange(6).reshape(2, 3)
    assert np.array_equal(apply_orientation(img, 1), img[:, ::-1])
    assert np.array_equal(apply_orientation(img, 2), img[::-1])
    assert np.array_equal(apply_orientation(img, 4), img.T)
    with pytest.raises(UsageError):
        apply_orientation(img, 9)


def test_classic_develops_upright_at_full_size(tmp_path):
    planes = asymmetric_planes(14, 20)
    path = write_bayer_dng(
        tmp_path / "c.dng", mosaic_with_edges(planes, "BGGR", 1, 1), "BGGR", black=64, white=WHITE, orientation=6
    )
    out16 = develop_classic(path)
    assert out16.pixels.dtype == np.uint16 and out16.pixels.shape == (41, 29, 3)  # 29x41 mosaic turned 90 CW
    assert out16.white_balance == "auto"  # the fixture's as-shot neutral is the unset 1, 1, 1
    out8 = develop_classic(path, bit_depth=8).pixels
    assert out8.dtype == np.uint8 and out8.shape == (41, 29, 3)
    with pytest.raises(UsageError, match="bit depth 12 is not supported"):
        develop_classic(path, bit_depth=12)


# --------------------------------------------------------------------------- refusals


def write_pidng(path: Path, data: np.ndarray, photometric: int, cfa=None) -> Path:
    """A DNG the project's writer refuses to make (linear / monochrome / odd CFA), via pidng directly."""
    from pidng.core import RAW2DNG
    from pidng.dng import DNGTags, Tag

    h, w = data.shape[:2]
    spp = 1 if data.ndim == 2 else data.shape[2]
    tags = DNGTags()
    for tag, value in [
        (Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
        (Tag.PhotometricInterpretation, photometric), (Tag.SamplesPerPixel, spp),
        (Tag.BitsPerSample, [16] * spp), (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
        (Tag.Make, "Acme"), (Tag.Model, "Test"), (Tag.UniqueCameraModel, "Acme Test"),
        (Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]),
    ]:
        tags.set(tag, value)
    if cfa is not None:
        tags.set(Tag.CFARepeatPatternDim, [2, 2])
        tags.set(Tag.CFAPattern, cfa)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    path.write_bytes(bytes(writer.convert(np.ascontiguousarray(data))))
    return path


def assert_refused(path: Path, kind, text: str):
    for fn in (read_raw, classic_develop):  # classic_develop: what develop_classic runs on a camera file
        with pytest.raises(kind) as err:
            fn(path)
        msg = str(err.value)
        assert msg.startswith(str(path)) and text in msg and "\n" not in msg


def test_linear_dng_is_refused_by_the_mosaic_reader_with_a_way_out(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 4000, (24, 30, 3), dtype=np.uint16)
    path = write_pidng(tmp_path / "linear.dng", rgb, photometric=34892)  # LinearRaw, 3 samples
    with pytest.raises(UnsupportedRawError) as err:
        read_raw(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "already demosaiced" in msg and "--model classic" in msg and "\n" not in msg


def test_classic_develops_a_linear_dng_in_linear_light(tmp_path):
    """LibRaw develops a linear DNG: the output, back in linear light, follows the file's pixels
    channel by channel, turned as the file's orientation says; --half halves it."""
    from rawcolour.io.dng import write_linear_dng
    from rawcolour.io.classic import classic_develop

    yy, xx = np.mgrid[0:30, 0:40]
    rgb = np.stack([200 + 90 * xx, 300 + 100 * yy, 3500 - 60 * xx - 40 * yy], axis=-1).astype(np.uint16)
    path = write_linear_dng(tmp_path / "lin.dng", rgb, white=4095, as_shot_neutral=(1.0, 1.0, 0.999),
                            orientation=3)  # 180 degrees
    developed = classic_develop(path)
    assert developed.linear.shape == (30, 40, 3) and developed.white_balance == "camera"
    upright = developed.linear[::-1, ::-1]
    for c in range(3):
        assert np.corrcoef(upright[..., c].ravel(), rgb[..., c].ravel())[0, 1] > 0.99
    half = classic_develop(path, half=True)
    assert half.linear.shape == (15, 20, 3)
    assert "no effect" in " ".join(classic_develop(path, demosaic="dcb").notes)


def test_monochrome_dng_is_refused(tmp_path):
    grey = np.full((24, 30), 500, dtype=np.uint16)
    path = write_pidng(tmp_path / "mono.dng", grey, photometric=34892)  # LinearRaw, 1 sample
    assert_refused(path, UnsupportedRawError, "monochrome")


def test_non_bayer_2x2_pattern_is_refused(tmp_path):
    mosaic = np.full((24, 30), 500, dtype=np.uint16)
    path = write_pidng(tmp_path / "rgbg.dng", mosaic, photometric=32803, cfa=[0, 1, 2, 1])  # greens in a column
    assert_refused(path, UnsupportedRawError, "not a 2x2 RGB Bayer")


def test_truncated_dng_fails_cleanly(tmp_path):
    good = write_bayer_dng(tmp_path / "good.dng", unpack_bayer(known_planes(12, 16), "RGGB"), "RGGB",
                           black=0, white=WHITE)
    data = good.read_bytes()
    for cut in (len(data) - 64, len(data) // 2, 60):
        bad = tmp_path / f"cut{cut}.dng"
        bad.write_bytes(data[:cut])
        assert_refused(bad, InputError, "truncated")


def test_max_pixels_bounds_camera_raw_files_too(tmp_path):
    path = write_bayer_dng(tmp_path / "shot.dng", unpack_bayer(known_planes(12, 16), "RGGB"), "RGGB",
                           black=0, white=WHITE)  # a 32 x 24 sensor
    assert read_raw(path, max_pixels=32 * 24).packed.shape == (4, 12, 16)
    with pytest.raises(InputError, match="32x24 = 0.0 megapixels, more than the limit.*--max-pixels"):
        read_raw(path, max_pixels=32 * 24 - 1)


def test_empty_text_missing_and_folder(tmp_path):
    empty = tmp_path / "empty.dng"
    empty.write_bytes(b"")
    assert_refused(empty, InputError, "empty file")
    text = tmp_path / "notes.dng"
    text.write_text("this is not a raw file\n" * 20)
    assert_refused(text, InputError, "not a camera RAW")
    assert_refused(tmp_path / "missing.nef", InputError, "no such file")
    folder = tmp_path / "shoot.dng"
    folder.mkdir()
    assert_refused(folder, InputError, "folder")


def test_dng_writer_checks_its_arguments(tmp_path):
    with pytest.raises(UsageError, match="22"):
        write_bayer_dng(tmp_path / "t.dng", np.zeros((20, 40), np.uint16), "RGGB", black=0, white=1023)
    with pytest.raises(UsageError):
        write_bayer_dng(tmp_path / "t.dng", np.zeros((24, 24), np.uint16), "XXXX", black=0, white=1023)
    with pytest.raises(UsageError):
        write_bayer_dng(tmp_path / "t.dng", np.zeros((24, 24), np.uint16), "RGGB", black=2000, white=1023)
    assert not (tmp_path / "t.dng").exists()


# --------------------------------------------------------------------------- packed PNG datasets


def test_zurich_png(tmp_path):
    rng = np.random.default_rng(3)
    mosaic = rng.integers(0, 1024, (12, 18)).astype(np.uint16)
    path = tmp_path / "z.png"
    Image.fromarray(mosaic).save(path)
    pic = read_zurich_png(path)
    assert pic.cfa == "RGGB" and pic.white_level == 1020.0 and pic.black_levels == (0.0,) * 4
    np.testing.assert_allclose(pic.packed, np.clip(pack_bayer(mosaic, "RGGB") / 1020.0, 0, 1), atol=1e-7)
    pic = read_zurich_png(path, cfa="gbrg", black=64, white=1023)
    assert pic.cfa == "GBRG" and pic.black_levels == (64.0,) * 4
    np.testing.assert_allclose(
        pic.packed, np.clip((pack_bayer(mosaic, "GBRG").astype(np.float64) - 64) / (1023 - 64), 0, 1), atol=1e-7
    )
    with pytest.raises(UsageError):
        read_zurich_png(path, black=10, white=10)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(rgba)
    with pytest.raises(InputError, match="one-channel"):
        read_zurich_png(rgba)


def test_rawgan_png_value_rule(tmp_path):
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    arr = np.stack([x, x[::-1], x.T, 255 - x], axis=-1)
    path = tmp_path / "r.png"
    Image.fromarray(arr, "RGBA").save(path)
    pic = read_rawgan_png(path)
    assert pic.packed.shape == (4, 16, 16) and pic.packed.dtype == np.float32
    planes = np.moveaxis(arr, -1, 0)
    assert np.array_equal(pic.packed, planes.astype(np.float32) / 256)
    # the model input 2*packed - 1 equals the dataset's (x - 128) / 128 exactly
    assert np.array_equal(2 * pic.packed - 1, (planes.astype(np.float32) - 128) / 128)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(arr[..., :3], "RGB").save(rgb)
    with pytest.raises(InputError, match="4-channel"):
        read_rawgan_png(rgb)
    deep = tmp_path / "deep.png"
    assert cv2.imwrite(str(deep), arr.astype(np.uint16) * 257)  # 16-bit, 4 channels: Pillow narrows it to 8 bits
    with pytest.raises(InputError, match="16-bit"):
        read_rawgan_png(deep)
    broken = tmp_path / "broken.png"
    broken.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match="broken.png"):
        read_rawgan_png(broken)


# --------------------------------------------------------------------------- classic on packed


def test_classic_on_packed_range_and_white_balance():
    rng = np.random.default_rng(5)
    packed = rng.random((4, 9, 11)).astype(np.float32) * 1.2  # some values beyond 1 to exercise clipping
    out = develop_classic(RawPicture(packed=np.clip(packed, 0, 1), cfa="RGGB"), bit_depth=None).pixels
    assert out.shape == (9, 11, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0

    # a grey card seen through camera gains (2, 1, 4) comes back neutral with camera WB ...
    grey = np.full((9, 11), 0.2, np.float32)
    card = np.stack([grey / 2, grey, grey / 4, grey])
    out = develop_classic(RawPicture(packed=card, camera_whitebalance=(2.0, 1.0, 4.0, 1.0)), bit_depth=None).pixels
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 2], out[..., 1], atol=1e-6)
    srgb_of_02 = 1.055 * 0.2 ** (1 / 2.4) - 0.055
    np.testing.assert_allclose(out[..., 1], srgb_of_02, atol=1e-6)
    # ... and with grey world when the camera gives none
    out = develop_classic(RawPicture(packed=card), bit_depth=None).pixels
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 2], out[..., 1], atol=1e-6)


def test_classic_on_packed_dng_planes(tmp_path):
    planes = known_planes(12, 16)
    path = write_bayer_dng(tmp_path / "p.dng", unpack_bayer(planes, "GBRG"), "GBRG", black=BLACK, white=WHITE,
                           as_shot_neutral=(0.6, 1.0, 0.7))
    packed_only = dataclasses.replace(read_raw(path), path=None)  # the planes, not LibRaw's development
    out = develop_classic(packed_only, bit_depth=None).pixels
    assert out.shape == (12, 16, 3) and 0.0 <= out.min() and out.max() <= 1.0


def test_halve_mosaic_bins_quads_and_keeps_the_bayer_layout():
    from rawcolour.io.mosaic import halve_mosaic

    rgb = np.random.default_rng(3).random((3, 5, 7)).astype(np.float32)  # the picture at half size
    full = np.repeat(np.repeat(rgb, 2, axis=1), 2, axis=2)  # each value over a 2x2 block: (3, 10, 14)
    planes = np.stack([full[0, 0::2, 0::2], full[1, 0::2, 1::2], full[2, 1::2, 1::2], full[1, 1::2, 0::2]])
    half = halve_mosaic(planes)  # (4, 5, 7) -> (4, 2, 3): odd edges dropped
    assert half.shape == (4, 2, 3)
    np.testing.assert_allclose(unpack_bayer(half, "RGGB")[0::2, 0::2], rgb[0, 0:4:2, 0:6:2])
    np.testing.assert_allclose(unpack_bayer(half, "RGGB")[1::2, 1::2], rgb[2, 1:4:2, 1:6:2])
    np.testing.assert_allclose(half[1], rgb[1, 0:4:2, 1:6:2])  # green on the red rows
    with pytest.raises(UsageError):
        halve_mosaic(np.zeros((4, 1, 1), np.float32))


def test_is_raw_path():
    assert is_raw_path("a/B.NEF") and is_raw_path("x.dng") and is_raw_path(Path("y.Cr3")) and is_raw_path("z.kdc")
    assert not is_raw_path("photo.jpg") and not is_raw_path("raw") and not is_raw_path("p.png")


def test_libraw_diagnostics_are_kept_off_stderr_while_decoding():
    """LibRaw writes its own lines to the C stderr; the user should see only our one error line."""
    import subprocess
    import sys

    code = ("import os\nfrom rawcolour.io.c_stderr import c_stderr_silenced\n"
            "with c_stderr_silenced():\n    os.write(2, b'data corrupted at 1378\\n')\n"
            "os.write(2, b'after\\n')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert run.returncode == 0 and run.stderr == b"after\n", run.stderr
