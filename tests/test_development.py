"""raw2rgb's development controls and what travels with the picture, through the real CLI.

Colour-managed outputs are checked with an independent colour engine: the embedded ICC profile is
read back with Pillow's ImageCms (LittleCMS) -- its description, white point and primaries -- and
the pixels are converted back to sRGB with LittleCMS and compared with the sRGB output in
CIEDE2000. EXIF is written by Pillow and read back with exifread (PNG, JPEG) and tifffile (TIFF).
"""

from __future__ import annotations

import io
import os
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner

from rawcolour.cli.main import app
from rawcolour.io import images
from rawcolour.io.classic import DEMOSAIC_ALGORITHMS
from rawcolour.io.mosaic import unpack_bayer

pytest.importorskip("pidng")
exifread = pytest.importorskip("exifread")
tifffile = pytest.importorskip("tifffile")
from rawcolour.io.dng import write_bayer_dng, write_linear_dng  # noqa: E402

H, W = 96, 128  # mosaic
NEUTRAL = (0.5, 1.0, 0.7)  # camera RGB of grey: white-balance gains 2, 1, 1.43
D65, D50 = (0.3127, 0.3290), (0.3457, 0.3585)
EXIF = {33434: Fraction(1, 250), 33437: Fraction(28, 10), 34855: 400, 36867: "2024:05:17 10:11:12",
        37386: Fraction(50), 42036: "Acme 50mm F1.8", 42035: "Acme"}
GPS = {0: bytes([2, 3, 0, 0]), 1: "N", 2: (Fraction(47), Fraction(22), Fraction(3051, 100)), 3: "E",
       4: (Fraction(8), Fraction(32), Fraction(4))}

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def develop(*args: str) -> None:
    result = invoke("raw2rgb", *args, "--quiet")
    assert result.exit_code == 0, result.stderr


def scene_planes(blown: bool = False) -> np.ndarray:
    """Packed camera planes (R, Gr, B, Gb) of a smooth colourful scene inside sRGB, seen through
    gains NEUTRAL, with edges (a few sharp stripes) for the demosaickers to disagree on."""
    h, w = H // 2, W // 2
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w], dtype=np.float64)[:, None, None]
    scene = np.stack([0.15 + 0.6 * xx, 0.2 + 0.5 * yy, 0.55 - 0.35 * xx])
    scene[:, 30:40, 4:60:6] *= 0.3  # stripes
    planes = np.stack([scene[0] * NEUTRAL[0], scene[1], scene[2] * NEUTRAL[2], scene[1]])
    if blown:  # red and green clipped, blue not: a blown highlight
        planes[:, :10, :10] = np.array([1.0, 1.0, 0.9, 1.0])[:, None, None]
    return planes


def scene_dng(path: Path, *, blown: bool = False, orientation: int = 6) -> Path:
    planes = scene_planes(blown)
    raw = (64 + planes * (4095 - 64)).round().clip(0, 4095).astype(np.uint16)
    return write_bayer_dng(path, unpack_bayer(raw, "RGGB"), "RGGB", black=64, white=4095, orientation=orientation,
                           camera="Acme X100", as_shot_neutral=NEUTRAL, exif=EXIF, gps=GPS)


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    """A camera DNG turned 90 degrees (orientation 6) with EXIF and GPS."""
    return scene_dng(tmp_path_factory.mktemp("shot") / "IMG_0001.dng")


def embedded_profile(path: Path) -> ImageCms.ImageCmsProfile:
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            icc = tif.pages[0].tags[34675].value
    else:
        with Image.open(path) as im:
            icc = im.info["icc_profile"]
    return ImageCms.ImageCmsProfile(io.BytesIO(bytes(icc)))


BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
PCS_D50 = np.array([0.9642, 1.0, 0.8249])


def from_pcs(profile: ImageCms.ImageCmsProfile) -> np.ndarray:
    """3x3 taking the profile's stored (D50-adapted) XYZ back to its own white: the inverse of its
    chad tag (ICC v4), or Bradford from D50 to its media white point (ICC v2 keeps no chad)."""
    p = profile.profile
    if p.chromatic_adaptation:
        return np.linalg.inv(np.array(p.chromatic_adaptation[0]))
    white = np.array(p.media_white_point[0])
    scale = np.diag((BRADFORD @ white) / (BRADFORD @ PCS_D50))
    return np.linalg.inv(BRADFORD) @ scale @ BRADFORD


def native_xy(profile: ImageCms.ImageCmsProfile, xyz_d50) -> np.ndarray:
    xyz = from_pcs(profile) @ np.array(xyz_d50)
    return xyz[:2] / xyz.sum()


def native_white_xy(profile: ImageCms.ImageCmsProfile) -> np.ndarray:
    """The profile's own white point (ICC v4 stores D50 as the media white and a chad tag)."""
    p = profile.profile
    if p.chromatic_adaptation:
        return native_xy(profile, PCS_D50)
    white = np.array(p.media_white_point[0])
    return white[:2] / white.sum()


def read_rgb(path: Path) -> np.ndarray:
    """Float (H, W, 3) in [0, 1] of an 8- or 16-bit output, read with tifffile / Pillow (not our reader)."""
    if path.suffix == ".tif":
        return tifffile.imread(path).astype(np.float64) / 65535
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255


def to_srgb_with_littlecms(path: Path) -> np.ndarray:
    """An output converted to sRGB by LittleCMS through its embedded profile."""
    profile = embedded_profile(path)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    if path.suffix == ".tif":  # 16 bits: Pillow's ImageCms is 8-bit only; imagecodecs wraps LittleCMS too
        import imagecodecs

        data = tifffile.imread(path)
        out = imagecodecs.cms_transform(data, profile.tobytes(), srgb.tobytes(), colorspace="rgb",
                                        outcolorspace="rgb", intent=1)  # relative colorimetric
        return out.astype(np.float64) / 65535
    with Image.open(path) as im:
        converted = ImageCms.profileToProfile(im.convert("RGB"), profile, srgb, outputMode="RGB",
                                              renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    return np.asarray(converted, dtype=np.float64) / 255


def mean_ciede2000(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


# ------------------------------------------------------------------------------------ colour spaces


@pytest.mark.parametrize("model", ["classic", "sgan-isp-tiny"])
def test_adobe_rgb_output_converted_back_by_littlecms_matches_the_srgb_output(tmp_path, shot, model):
    """The done-when check: Adobe RGB -> sRGB with LittleCMS (Pillow's ImageCms, 8-bit JPEG and
    PNG) agrees with the sRGB output, mean CIEDE2000 < 1."""
    for fmt in ("png", "jpg"):
        quality = ["--quality", "100"] if fmt == "jpg" else []
        for space in ("srgb", "adobe-rgb"):
            develop(shot, "-o", tmp_path / f"{space}.{fmt}", "--model", model, "--colour-space", space,
                    "--bit-depth", "8", *quality)
        reference = read_rgb(tmp_path / f"srgb.{fmt}")
        adobe = read_rgb(tmp_path / f"adobe-rgb.{fmt}")
        assert np.abs(adobe - reference).mean() > 0.01  # really other numbers ...
        assert mean_ciede2000(to_srgb_with_littlecms(tmp_path / f"adobe-rgb.{fmt}"), reference) < 1.0  # ... same colours


def test_every_colour_space_embeds_its_profile_and_converts_back_to_the_srgb_output(tmp_path, shot):
    """16-bit TIFF in each space: the profile read back with Pillow names the space (sRGB, Adobe
    RGB) or has its white point and primaries (ProPhoto, D50; linear sRGB, D65), and LittleCMS
    takes every output back to the sRGB output's colours."""
    for space in ("srgb", "adobe-rgb", "prophoto", "linear-srgb"):
        develop(shot, "--model", "classic", "-o", tmp_path / f"{space}.tif", "--colour-space", space)
    expected = {"srgb": ("sRGB", D65, (0.64, 0.33)), "adobe-rgb": ("Adobe RGB", D65, (0.64, 0.33)),
                "prophoto": (None, D50, (0.7347, 0.2653)), "linear-srgb": (None, D65, (0.64, 0.33))}
    reference = read_rgb(tmp_path / "srgb.tif")
    for space, (name, white, red) in expected.items():
        profile = embedded_profile(tmp_path / f"{space}.tif")
        if name:
            assert name in ImageCms.getProfileDescription(profile)
        np.testing.assert_allclose(native_white_xy(profile), white, atol=0.002)
        np.testing.assert_allclose(native_xy(profile, profile.profile.red_colorant[0]), red, atol=0.002)
        assert mean_ciede2000(to_srgb_with_littlecms(tmp_path / f"{space}.tif"), reference) < 0.5, space
    # a ProPhoto picture holds other numbers than the sRGB one: the conversion really happened
    assert np.abs(read_rgb(tmp_path / "prophoto.tif") - reference).mean() > 0.02


def test_srgb_outputs_are_tagged_in_every_format(tmp_path, shot):
    for fmt in ("png", "tiff", "jpeg"):
        develop(shot, "--model", "classic", "-f", fmt, "-o", tmp_path / fmt)
    outputs = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert [p.suffix for p in outputs] == [".jpg", ".png", ".tif"]  # -f jpeg writes .jpg
    for path in outputs:
        assert "sRGB" in ImageCms.getProfileDescription(embedded_profile(path)), path


def test_colour_space_refusals_are_one_line(tmp_path, shot):
    result = invoke("raw2rgb", shot, "-o", tmp_path / "x.jpg", "--colour-space", "linear-srgb")
    assert result.exit_code == 2 and "linear light in 8 bits" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "x.jpg").exists()
    assert invoke("raw2rgb", shot, "--colour-space", "cmyk").exit_code == 2


# ------------------------------------------------------------------------------------------ metadata


def exif_of(path: Path) -> dict[str, object]:
    """EXIF read back by a library other than Pillow (which wrote it): tifffile for TIFF, exifread else."""
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            exif, gps = tags["ExifTag"].value, tags["GPSTag"].value
            orientation = tags["Orientation"].value if "Orientation" in tags else 1
            return {"make": tags["Make"].value, "model": tags["Model"].value, "lens": exif["LensModel"],
                    "taken": exif["DateTimeOriginal"], "exposure": Fraction(*exif["ExposureTime"]),
                    "f": Fraction(*exif["FNumber"]), "iso": exif["ISOSpeedRatings"],
                    "focal": Fraction(*exif["FocalLength"]), "latitude": gps["GPSLatitude"],
                    "orientation": int(orientation), "colour_space": exif["ColorSpace"]}
    with open(path, "rb") as fh:
        tags = exifread.process_file(fh, details=False)

    def ratio(key: str) -> Fraction:
        value = tags[key].values[0]
        return Fraction(value.numerator, value.denominator)

    lat = [Fraction(v.numerator, v.denominator) for v in tags["GPS GPSLatitude"].values]
    return {"make": str(tags["Image Make"]), "model": str(tags["Image Model"]), "lens": str(tags["EXIF LensModel"]),
            "taken": str(tags["EXIF DateTimeOriginal"]), "exposure": ratio("EXIF ExposureTime"),
            "f": ratio("EXIF FNumber"), "iso": tags["EXIF ISOSpeedRatings"].values[0], "focal": ratio("EXIF FocalLength"),
            "latitude": tuple(int(x) for f in lat for x in (f.numerator, f.denominator)),
            "orientation": tags["Image Orientation"].values[0], "colour_space": tags["EXIF ColorSpace"].values[0]}


def test_the_cameras_exif_goes_with_the_picture_upright(tmp_path, shot):
    for fmt in ("png", "tiff", "jpeg"):
        develop(shot, "--model", "classic", "-f", fmt, "-o", tmp_path / fmt)
    develop(shot, "-o", tmp_path / "learned.png", "--colour-space", "adobe-rgb")  # the default developer
    outputs = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    for path in outputs:
        exif = exif_of(path)
        assert exif["make"] == "Acme" and exif["model"] == "X100" and exif["lens"] == "Acme 50mm F1.8", path
        assert exif["taken"] == "2024:05:17 10:11:12" and exif["iso"] == 400
        assert exif["exposure"] == Fraction(1, 250) and exif["f"] == Fraction(14, 5) and exif["focal"] == 50
        assert exif["latitude"] == (47, 1, 22, 1, 3051, 100)
        assert exif["orientation"] == 1  # the pixels are upright: the 90-degree turn happened once
        assert exif["colour_space"] == (0xFFFF if path.name == "learned.png" else 1)
        assert read_rgb(path).shape[:2] == (W, H)  # a landscape sensor shot held upright


def test_strip_metadata_leaves_the_profile_and_the_provenance(tmp_path, shot):
    develop(shot, "--model", "classic", "-o", tmp_path / "s.png", "--strip-metadata", "--colour-space", "prophoto")
    path = tmp_path / "s.png"
    with open(path, "rb") as fh:
        assert exifread.process_file(fh, details=False) == {}
    assert np.allclose(native_white_xy(embedded_profile(path)), D50, atol=0.002)  # the pixels' profile stays
    provenance = images.read_metadata_provenance(path)
    assert provenance["model"] == "classic"
    settings = json.loads(provenance["settings"])
    assert settings["colour_space"] == "prophoto" and settings["highlights"] == "clip" and settings["half"] is False
    for command in ("raw2rgb", "colourise"):
        help_text = invoke(command, "--help").stdout
        assert "--strip-metadata" in help_text and "GPS" in help_text and "provenance" in help_text


def test_colourise_strip_metadata_drops_the_inputs_exif(tmp_path):
    exif = Image.Exif()
    exif[271], exif[272] = "Acme", "Scanner"
    grey = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (32, 1))
    Image.fromarray(grey).save(tmp_path / "scan.jpg", exif=exif.tobytes())
    for strip in (False, True):
        out = tmp_path / f"out{int(strip)}.jpg"
        result = invoke("colourise", tmp_path / "scan.jpg", "-o", out, "--model", "grey", "--quiet",
                        *(["--strip-metadata"] if strip else []))
        assert result.exit_code == 0, result.stderr
        with open(out, "rb") as fh:
            tags = exifread.process_file(fh, details=False)
        assert ("Image Model" in tags) is not strip
        assert images.read_metadata_provenance(out)["model"] == "grey"


# ----------------------------------------------------------------------------------- controls


def test_highlight_modes(tmp_path):
    """clip turns a blown highlight white; LibRaw's reconstruct keeps the colour of the channel
    that did not clip; blend is LibRaw's other rendering; learned developers refuse both in one line."""
    path = scene_dng(tmp_path / "blown.dng", blown=True, orientation=1)
    out = {}
    for mode in ("clip", "blend", "reconstruct"):
        develop(path, "--model", "classic", "-o", tmp_path / f"{mode}.tif", "--highlights", mode,
                "--colour-space", "linear-srgb")
        out[mode] = read_rgb(tmp_path / f"{mode}.tif")
    blown = (slice(4, 16), slice(4, 16))
    clipped = out["clip"][blown].reshape(-1, 3)
    assert clipped.min() > 0.99  # white
    reconstructed = out["reconstruct"][blown].reshape(-1, 3).mean(axis=0)
    assert reconstructed[2] < 0.9 * reconstructed[0]  # blue was not clipped: its colour comes back
    assert np.abs(out["blend"] - out["clip"]).mean() > 0.01
    result = invoke("raw2rgb", path, "--highlights", "blend")  # the default, learned developer
    assert result.exit_code == 2 and "--model classic" in result.stderr and result.stderr.count("\n") == 1


def test_demosaic_algorithms(tmp_path, shot):
    """Every LibRaw algorithm develops the picture: they agree on the smooth parts and not all on the stripes."""
    pictures = {}
    for name in DEMOSAIC_ALGORITHMS:
        develop(shot, "--model", "classic", "-o", tmp_path / f"{name}.tif", "--demosaic", name)
        pictures[name] = read_rgb(tmp_path / f"{name}.tif")
    for name, picture in pictures.items():
        assert np.abs(picture - pictures["ahd"]).mean() < 0.02, name
    assert len({picture.tobytes() for picture in pictures.values()}) >= 4
    result = invoke("raw2rgb", shot, "--demosaic", "vng")  # the default, learned developer
    assert result.exit_code == 2 and "--model classic" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("model", ["classic", "sgan-isp-tiny"])
def test_half_size_preview_has_the_full_pictures_colours(tmp_path, shot, model):
    import cv2

    develop(shot, "--model", model, "-o", tmp_path / "full.tif")
    develop(shot, "--model", model, "-o", tmp_path / "half.tif", "--half")
    full, half = read_rgb(tmp_path / "full.tif"), read_rgb(tmp_path / "half.tif")
    assert half.shape == (W // 2, H // 2, 3)
    small = cv2.resize(full, (half.shape[1], half.shape[0]), interpolation=cv2.INTER_AREA)
    assert mean_ciede2000(half, small) < 3.0


def test_jpeg_quality_and_format_names(tmp_path, shot):
    develop(shot, "--model", "classic", "-o", tmp_path / "q95.jpeg")
    develop(shot, "--model", "classic", "-f", "jpeg", "--quality", "20", "-o", tmp_path / "q20.jpg")
    for name in ("q95.jpeg", "q20.jpg"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "JPEG"
    assert (tmp_path / "q20.jpg").stat().st_size < (tmp_path / "q95.jpeg").stat().st_size
    result = invoke("raw2rgb", shot, "-o", tmp_path / "x.png", "--quality", "80")
    assert result.exit_code == 2 and "--quality" in result.stderr and not (tmp_path / "x.png").exists()


def test_skip_keeps_an_output_only_with_the_same_development_and_quality(tmp_path, shot):
    """--quality goes through the writer and the development controls through the model step; an
    output made with other values of either is not kept as if it were this run's."""
    out = tmp_path / "q.jpg"
    develop(shot, "--model", "classic", "-o", out, "--quality", "60", "--highlights", "blend")
    made = out.stat().st_mtime_ns
    develop(shot, "--model", "classic", "-o", out, "--quality", "60", "--highlights", "blend")  # the same: skipped
    for other, named in ((["--quality", "61", "--highlights", "blend"], "--quality 60"),
                         (["--quality", "60"], "--highlights blend")):
        result = invoke("raw2rgb", shot, "--model", "classic", "-o", out, *other, "--quiet")
        assert result.exit_code == 1 and f"exists, made by classic with {named};" in result.stderr, result.stderr
    assert out.stat().st_mtime_ns == made


def test_linear_dng_classic_develops_it_learned_models_refuse(tmp_path):
    yy, xx = np.mgrid[0:40, 0:56]
    rgb = np.stack([300 + 50 * xx, 400 + 60 * yy, 3000 - 40 * xx], axis=-1).astype(np.uint16)
    path = write_linear_dng(tmp_path / "phone.dng", rgb, white=4095, as_shot_neutral=(1.0, 1.0, 0.999))
    develop(path, "--model", "classic", "-o", tmp_path / "classic.png")
    assert read_rgb(tmp_path / "classic.png").shape == (40, 56, 3)
    result = invoke("raw2rgb", path, "-o", tmp_path / "learned.png")
    assert result.exit_code == 1 and not (tmp_path / "learned.png").exists()
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "already demosaiced" in lines[0] and "--model classic" in lines[0]


def test_camera_exif_keeps_the_photographers_tags_only(tmp_path):
    from rawcolour.io.metadata import camera_exif

    path = write_bayer_dng(tmp_path / "m.dng", unpack_bayer(np.full((4, 12, 12), 900, np.uint16), "RGGB"), "RGGB",
                           black=0, white=4095, camera="Acme X100", orientation=8,
                           exif={**EXIF, 37500: b"MAKERNOTE-PRIVATE", 42016: "unique-id"})
    exif = Image.Exif()
    exif.load(camera_exif(path, colour_space_tag=1))
    sub = exif.get_ifd(0x8769)
    assert exif[271] == "Acme" and exif[0x0112] == 1 and sub[42036] == "Acme 50mm F1.8" and sub[0xA001] == 1
    assert 37500 not in sub and 42016 not in sub  # maker notes and private ids stay behind
    assert 0x8825 not in exif  # no GPS in the file, none invented
    (tmp_path / "notes.txt").write_text("not a picture")
    assert camera_exif(tmp_path / "notes.txt") is None
    (tmp_path / "cut.dng").write_bytes(path.read_bytes()[:60])
    assert camera_exif(tmp_path / "cut.dng") is None  # a broken header costs the metadata, never the picture


def test_the_papers_model_honours_colour_space_and_half(tmp_path, shot, models):
    """sgan-tiny writes half the sensor's size already: --half changes nothing, --colour-space converts."""
    for half in ([], ["--half"]):
        develop(shot, "--model", models["sgan-tiny"], "-o", tmp_path / f"p{len(half)}.tif", "--colour-space", "prophoto",
                *half)
    full, half = read_rgb(tmp_path / "p0.tif"), read_rgb(tmp_path / "p1.tif")
    assert full.shape == half.shape == (W // 2, H // 2, 3)
    np.testing.assert_array_equal(full, half)
    np.testing.assert_allclose(native_white_xy(embedded_profile(tmp_path / "p0.tif")), D50, atol=0.002)


def test_an_overlapped_batch_decodes_on_one_thread_with_the_same_result(shot, monkeypatch):
    # In a batch of several files the decode overlaps other files' stages, so LibRaw's OpenMP and
    # numpy's BLAS keep to one thread there (they only fought the encoder for the two cores); the
    # picture must not change, and a single file keeps every thread.
    import rawpy
    from threadpoolctl import threadpool_info

    from rawcolour.batch import model_step

    if not rawpy.flags or not rawpy.flags.get("OPENMP"):
        pytest.skip("this LibRaw has no OpenMP threads to limit")
    from rawcolour.batch.model_step import ModelConverter

    seen: list[set[int]] = []
    develop = model_step.develop_classic

    def watched(*args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()
                     if pool["user_api"] == "openmp" and "rawpy" in pool["filepath"]})
        return develop(*args, **kwargs)

    monkeypatch.setattr(model_step, "develop_classic", watched)
    alone = ModelConverter("raw2rgb", "classic", output_depth=16).load(shot)
    overlapped = ModelConverter("raw2rgb", "classic", output_depth=16, overlapped=True).load(shot)
    np.testing.assert_array_equal(alone.source.pixels, overlapped.source.pixels)
    assert seen[1] == {1}
    assert seen[0] != {1} or os.cpu_count() == 1 or os.environ.get("OMP_NUM_THREADS") == "1"
