"""Whole pictures through a model: decode dispatch, colourise keeps L, raw2rgb orientation and classic,
precision fallback, devices, and the exact inference rewrites."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from rawcolour.checkpoint import LoadedModel, load_model
from rawcolour.colour import rgb_to_lab
from rawcolour.nets.inference_graph import NarrowConv2d, UpsampleConv2d
from rawcolour.inference.device import (
    default_channels_last,
    forget_prepared,
    prepare_net,
    resolve_device,
    resolve_precision,
)
from rawcolour.errors import DeviceError, InputError, UsageError
from rawcolour.io.images import Picture
from rawcolour.inference.pipelines import InferenceOptions, colourise_image, load_input, raw_to_rgb, render_shape
from rawcolour.io.mosaic import unpack_bayer
from rawcolour.io.pixels import from_float
from rawcolour.io.raw import RawPicture, apply_orientation
from rawcolour.registry import RAW2RGB_IO, InferencePolicy, create_model

pytest.importorskip("pidng")
from rawcolour.io.dng import write_bayer_dng  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A colour photo (skimage's astronaut), cropped to an odd size."""
    skdata = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skdata.astronaut()[40:233, 100:371])  # 193 x 271


@pytest.fixture(scope="module")
def sgan_tiny() -> LoadedModel:
    torch.manual_seed(0)
    return load_model("sgan-tiny", allow_random=True)


def lightness(rgb01: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(rgb01, dtype=np.float32))
    t = t[None].expand(3, *t.shape) if t.dim() == 2 else t.permute(2, 0, 1)
    return rgb_to_lab(t)[0].numpy()


def mosaic_from(photo: np.ndarray, white: int = 4095) -> np.ndarray:
    """An RGGB mosaic (even sides) with a photo's colours, in 12-bit levels."""
    h, w = photo.shape[0] // 2 * 2, photo.shape[1] // 2 * 2
    rgb = photo[:h, :w].astype(np.float64) / 255.0
    planes = np.stack([rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1], rgb[1::2, 1::2, 2], rgb[1::2, 0::2, 1]])
    return np.round(unpack_bayer(planes, "RGGB") * (white - 64) + 64).astype(np.uint16)


# ----------------------------------------------------------------------------------------- load_input


def test_load_input_dispatches_by_format(tmp_path: Path, photo: np.ndarray) -> None:
    mosaic = mosaic_from(photo)
    dng = write_bayer_dng(tmp_path / "a.dng", mosaic, "RGGB", black=64, white=4095)
    raw = load_input("raw2rgb", dng)
    assert isinstance(raw, RawPicture) and raw.packed.shape == (4, mosaic.shape[0] // 2, mosaic.shape[1] // 2)

    zurich = tmp_path / "z.png"
    cv2.imwrite(str(zurich), (mosaic // 4).astype(np.uint16))  # 10-bit data in a 16-bit grey PNG
    z = load_input("raw2rgb", zurich, white=1020)
    assert z.packed.shape == raw.packed.shape and z.white_level == 1020

    rgba = tmp_path / "r.png"
    Image.fromarray(np.dstack([photo[:64, :64], photo[:64, :64, 1]]), mode="RGBA").save(rgba)
    g = load_input("raw2rgb", rgba)
    assert g.packed.shape == (4, 64, 64)

    jpg = tmp_path / "p.jpg"
    Image.fromarray(photo).save(jpg)
    picture = load_input("colourise", jpg)
    assert isinstance(picture, Picture) and picture.pixels.shape == photo.shape


def test_load_input_refuses_what_raw2rgb_cannot_read(tmp_path: Path, photo: np.ndarray) -> None:
    rgb_png = tmp_path / "photo.png"
    Image.fromarray(photo).save(rgb_png)
    with pytest.raises(InputError, match="neither a Zurich"):
        load_input("raw2rgb", rgb_png)
    jpg = tmp_path / "photo.jpg"
    Image.fromarray(photo).save(jpg)
    with pytest.raises(InputError, match="not a RAW input"):
        load_input("raw2rgb", jpg)
    with pytest.raises(UsageError):
        load_input("raw2rgb", jpg, raw_format="tiff")
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((64, 64), np.uint16))
    with pytest.raises(InputError, match="megapixels"):
        load_input("raw2rgb", big, max_pixels=1000)
    shot = tmp_path / "shot.dng"  # named for a camera RAW: the PNG readers would call it an unreadable TIFF
    shot.write_bytes(b"II*\x00" + bytes(60))
    for fmt in ("zurich", "rawgan"):
        with pytest.raises(InputError, match=f"a camera RAW file, but --raw-format {fmt} reads PNG mosaics"):
            load_input("raw2rgb", shot, raw_format=fmt)


# ----------------------------------------------------------------------------------------- colourise


def test_render_shape_rounds_to_the_size_multiple() -> None:
    assert render_shape(512, 768, 256, 128, 256) == (256, 384)
    assert render_shape(3000, 4000, 256, 128, 256) == (256, 384)  # 341 rounds to 384
    assert render_shape(40, 30, 256, 128, 256) == (384, 256)
    assert render_shape(100, 100, 64, 8) == (64, 64)


@pytest.mark.parametrize("options", [InferenceOptions(), InferenceOptions(tile=256, tile_batch=1)],
                         ids=["render-size", "native-tiles"])
def test_colourise_keeps_size_and_luminance(photo: np.ndarray, options: InferenceOptions) -> None:
    torch.manual_seed(0)
    model = load_model("colorgan-tiny", allow_random=True)
    # An untrained net saturates ab at +-110, out of gamut almost everywhere; a trained one is tamer.
    model.net = nn.Sequential(model.net, Scale(0.25))
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    result = colourise_image(model, grey, options)
    out = result.rgb
    assert out.shape == (*grey.shape, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.ptp(out - out.mean(axis=2, keepdims=True)) > 0.01  # it did add colour
    l_in, l_out = lightness(grey / 255.0), lightness(out)
    # Only gamut clipping may change L: where no channel was clipped, L is the input's.
    inside = np.all((out > 1e-4) & (out < 1 - 1e-4), axis=2)
    assert inside.mean() > 0.8
    np.testing.assert_allclose(l_out[inside], l_in[inside], atol=0.02)
    # written as 8 bits, L moves by quantisation only (< 1 L unit for one 8-bit step)
    q = np.round(out * 255) / 255
    assert np.abs(lightness(q)[inside] - l_in[inside]).max() < 1.0


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_grey_model_gives_the_input_luminance_and_no_colour(photo: np.ndarray) -> None:
    model = load_model("grey")
    result = colourise_image(model, Picture(photo, 8, None, None))
    l_in = lightness(photo / 255.0)
    np.testing.assert_allclose(lightness(result.rgb), l_in, atol=0.01)
    np.testing.assert_allclose(result.rgb[..., 0], result.rgb[..., 1], atol=2e-3)
    assert result.tile is None and result.device == ""


def test_colourise_accepts_16_bit_grey(photo: np.ndarray) -> None:
    model = load_model("grey")
    grey16 = (cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    out = colourise_image(model, grey16).rgb
    np.testing.assert_allclose(lightness(out), lightness(grey16 / 65535.0), atol=0.01)


# ----------------------------------------------------------------------------------------- raw2rgb


def test_raw_to_rgb_applies_the_orientation(tmp_path: Path, photo: np.ndarray, sgan_tiny: LoadedModel) -> None:
    mosaic = mosaic_from(photo[:120, :180])
    upright = write_bayer_dng(tmp_path / "o1.dng", mosaic, "RGGB", black=64, white=4095, orientation=1)
    turned = write_bayer_dng(tmp_path / "o6.dng", mosaic, "RGGB", black=64, white=4095, orientation=6)
    a = raw_to_rgb(sgan_tiny, upright)
    b = raw_to_rgb(sgan_tiny, turned)
    assert a.rgb.shape == (60, 90, 3) and b.rgb.shape == (90, 60, 3)
    np.testing.assert_array_equal(b.rgb, apply_orientation(a.rgb, 6))
    np.testing.assert_array_equal(b.rgb, np.rot90(a.rgb, k=-1))  # 6 = 90 degrees clockwise
    assert 0 <= b.rgb.min() and b.rgb.max() <= 1


def test_classic_renders_camera_files_at_full_resolution(tmp_path: Path, photo: np.ndarray) -> None:
    mosaic = mosaic_from(photo[:100, :150])
    dng = write_bayer_dng(tmp_path / "c.dng", mosaic, "RGGB", black=64, white=4095, orientation=6)
    classic = load_model("classic")
    full = raw_to_rgb(classic, dng)
    assert full.rgb.shape == (150, 100, 3) and full.rgb.dtype == np.float32  # full res, turned
    assert 0 <= full.rgb.min() and full.rgb.max() <= 1 and full.rgb.std() > 0.01
    also = raw_to_rgb(classic, load_input("raw2rgb", dng))
    np.testing.assert_array_equal(also.rgb, full.rgb)
    packed = RawPicture(packed=load_input("raw2rgb", dng).packed, flip=6)  # no file behind it
    small = raw_to_rgb(classic, packed)
    assert small.rgb.shape == (75, 50, 3)


@pytest.mark.parametrize("name", ["classic", "sgan-tiny", "sgan-isp-tiny"])
@pytest.mark.parametrize("settings", [{}, {"colour_space": "adobe-rgb", "exposure": 0.5}])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_codes_for_a_writer_are_the_codes_of_the_float_picture(tmp_path: Path, photo: np.ndarray, name: str,
                                                             settings: dict, bit_depth: int) -> None:
    """``bit_depth`` hands a writer its codes without a float picture: exactly from_float's codes."""
    torch.manual_seed(0)
    model = load_model(name, allow_random=True)
    dng = write_bayer_dng(tmp_path / "shot.dng", mosaic_from(photo[:96, :128]), "RGGB", black=64, white=4095,
                          orientation=6)
    options = InferenceOptions(**settings)
    picture = raw_to_rgb(model, dng, options)
    codes = raw_to_rgb(model, dng, options, bit_depth=bit_depth)
    assert picture.rgb.dtype == np.float32 and codes.rgb.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
    assert codes.rgb.shape == picture.rgb.shape and picture.rgb.std() > 0.01
    np.testing.assert_array_equal(codes.rgb, from_float(picture.rgb, bit_depth))


def test_an_unknown_bit_depth_is_refused_before_the_network_runs(sgan_tiny: LoadedModel) -> None:
    raw = RawPicture(packed=np.full((4, 16, 16), 0.3, np.float32))
    with pytest.raises(UsageError, match="bit depth 12 is not supported; use 8 or 16"):
        raw_to_rgb(sgan_tiny, raw, bit_depth=12)


def test_tile_options(sgan_tiny: LoadedModel) -> None:
    rng = np.random.default_rng(0)
    raw = RawPicture(packed=rng.random((4, 70, 90), dtype=np.float32))
    whole = raw_to_rgb(sgan_tiny, raw, InferenceOptions(tile=0))
    assert whole.tile is None and whole.rgb.shape == (70, 90, 3)
    auto = raw_to_rgb(sgan_tiny, raw)
    assert auto.tile is None  # a small picture fits: one pass
    np.testing.assert_allclose(auto.rgb, whole.rgb, atol=1e-6)
    tiled = raw_to_rgb(sgan_tiny, raw, InferenceOptions(tile="48", overlap=8, tile_batch=1))
    assert tiled.tile == 48 and tiled.rgb.shape == whole.rgb.shape
    assert any("norm statistics" in n for n in tiled.notes)
    with pytest.raises(UsageError):
        raw_to_rgb(sgan_tiny, raw, InferenceOptions(tile="big"))
    with pytest.raises(UsageError):
        raw_to_rgb(sgan_tiny, raw, InferenceOptions(tile_stats="median"))
    with pytest.raises(UsageError, match="colourise model"):
        raw_to_rgb(load_model("grey"), raw)


class NanInHalf(nn.Module):
    """Fine in fp32, NaN in fp16/bf16: what overflowing activations do to a real net."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.conv(x))
        return y * float("nan") if x.dtype != torch.float32 else y


def test_half_precision_falls_back_to_fp32_on_non_finite_output() -> None:
    model = LoadedModel(name="nan-in-half", task="raw2rgb", net=NanInHalf(), io=RAW2RGB_IO,
                        policy=InferencePolicy(size_multiple=8, tiling="supported", min_size=8))
    raw = RawPicture(packed=np.random.default_rng(1).random((4, 40, 52), dtype=np.float32))
    for precision in ("fp16", "bf16"):
        result = raw_to_rgb(model, raw, InferenceOptions(device="cpu", precision=precision))
        assert np.isfinite(result.rgb).all()
        assert result.precision == "fp32"
        assert any(f"{precision} gave non-finite values; reran in fp32" in n for n in result.notes)
    ok = raw_to_rgb(model, raw, InferenceOptions(device="cpu", precision="fp32", backend="torch"))  # as the retry
    np.testing.assert_array_equal(ok.rgb, result.rgb)


def test_half_precision_runs_when_finite(sgan_tiny: LoadedModel) -> None:
    raw = RawPicture(packed=np.random.default_rng(2).random((4, 32, 40), dtype=np.float32))
    ref = raw_to_rgb(sgan_tiny, raw).rgb
    half = raw_to_rgb(sgan_tiny, raw, InferenceOptions(precision="bf16"))
    assert half.precision == "bf16" and any("emulated" in n for n in half.notes)
    assert np.abs(half.rgb - ref).mean() < 0.05


# ----------------------------------------------------------------------------------------- devices


def test_devices_and_precisions() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(UsageError):
        resolve_device("gpu")
    for name in ("gpu", "cuda:", "cuda:x", "cuda0", "", "cpu cpu"):  # refused when the options are made
        with pytest.raises(UsageError, match="unknown --device"):
            InferenceOptions(device=name)
    for name in ("auto", "cpu", "CPU", "cuda", "cuda:3", "mps"):  # whether it is there is said when it runs
        assert InferenceOptions(device=name).device == name
    assert InferenceOptions(device=None).device == "auto" and InferenceOptions(device=CPU).device == "cpu"
    with pytest.raises(UsageError):
        resolve_precision("fp8", CPU)
    assert resolve_precision("fp32", CPU) == (torch.float32, [])
    dtype, notes = resolve_precision("half", CPU)
    assert dtype is torch.float16 and notes
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="cuda"):
            resolve_device("cuda:0")
        with pytest.raises(DeviceError):
            raw_to_rgb(load_model("sgan-tiny", allow_random=True), RawPicture(packed=np.zeros((4, 16, 16), np.float32)),
                       InferenceOptions(device="cuda"))


@pytest.mark.parametrize("name,channels", [("sgan-tiny", 4), ("colorgan-tiny", 1)])
def test_inference_copy_is_exact_and_leaves_the_net_alone(name: str, channels: int) -> None:
    torch.manual_seed(0)
    net = create_model(name)  # training-mode spectral norm, as training holds it
    x = torch.randn(2, channels, 256, 256)
    reference = copy.deepcopy(net)  # never folded: deep copies share the parametrized class
    reference.eval()
    with torch.no_grad():
        expect = reference(x)
    fast = prepare_net(net, CPU)
    kinds = {type(m) for m in fast.modules()}
    assert UpsampleConv2d in kinds
    if name == "sgan-tiny":
        assert NarrowConv2d in kinds and fast.saliency is None
    with torch.inference_mode():
        got = fast(x)
        got_nhwc = prepare_net(net, CPU, channels_last=True)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expect, atol=2e-5, rtol=0)
    torch.testing.assert_close(got_nhwc, expect, atol=2e-5, rtol=0)
    # the caller's net still works, is still spectral-normalised and in training mode
    assert net.training and any("parametrizations" in n for n, _ in net.named_modules())
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), expect)
    assert prepare_net(net, CPU) is fast  # cached
    with torch.no_grad():
        next(net.parameters()).add_(0.01)  # trained further: a fresh copy
    assert prepare_net(net, CPU) is not fast
    forget_prepared(net)


def test_folded_reference_agrees_with_pipeline(sgan_tiny: LoadedModel) -> None:
    """raw_to_rgb computes (net(2v - 1) + 1) / 2 of the plain folded net."""
    raw = RawPicture(packed=np.random.default_rng(3).random((4, 48, 64), dtype=np.float32))
    with torch.no_grad():  # load_model folded spectral norm already; the saliency branch is idle
        expect = ((sgan_tiny.net(torch.from_numpy(raw.packed)[None] * 2 - 1) + 1) / 2)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(raw_to_rgb(sgan_tiny, raw).rgb, np.clip(expect, 0, 1), atol=2e-5)


def test_sepia_baseline_paints_one_tone_over_the_luminance() -> None:
    """`sepia` keeps the input's L and paints (a, b) = (6, 18) wherever the gamut allows it."""
    from skimage import color as skcolor
    from skimage import data as skdata

    grey = skdata.camera()[::4, ::4]
    out = colourise_image(load_model("sepia"), grey).rgb
    lab = skcolor.rgb2lab(out.astype(np.float64))
    mid = (lab[..., 0] > 20) & (lab[..., 0] < 80)  # away from black and white, where sRGB clips chroma
    assert np.abs(lab[..., 1][mid] - 6).max() < 0.5 and np.abs(lab[..., 2][mid] - 18).max() < 0.5
    assert np.abs(lab[..., 0] - skcolor.rgb2lab(np.repeat(grey[..., None] / 255.0, 3, -1))[..., 0])[mid].max() < 0.5


# ------------------------------------------------------------------ the learned developer (our extension)


def _bilinear_developer() -> LoadedModel:
    """sgan-isp-tiny with its learned head zeroed: exactly the bilinear demosaic, plus the analytic colour."""
    model = load_model("sgan-isp-tiny", allow_random=True)
    with torch.no_grad():
        for p in model.net.d4.parameters():
            p.zero_()
    return model


def _phase_mosaic(rgb01: np.ndarray, cfa: str) -> np.ndarray:
    """(H, W, 3) -> the (H, W) Bayer mosaic of layout cfa."""
    letters = {"R": 0, "G": 1, "B": 2}
    out = np.empty(rgb01.shape[:2], rgb01.dtype)
    for k, letter in enumerate(cfa):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = rgb01[dy::2, dx::2, letters[letter]]
    return out


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_to_rggb_is_the_mirrored_scene(photo, cfa):
    from rawcolour.io.mosaic import flip_image, pack_bayer, rggb_flips, to_rggb

    rgb = photo[:64, :96].astype(np.float32) / 255.0
    packed = pack_bayer(_phase_mosaic(rgb, cfa), cfa)
    flips = rggb_flips(cfa)
    want = pack_bayer(_phase_mosaic(np.ascontiguousarray(flip_image(rgb, flips)), "RGGB"), "RGGB")
    np.testing.assert_array_equal(to_rggb(packed, cfa), want)


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_developer_writes_the_sensor_size_in_every_phase(tmp_path, photo, cfa):
    rgb = photo[:96, :128].astype(np.float64) / 255.0
    mosaic = np.rint(64 + _phase_mosaic(rgb ** 2.2, cfa) * (4095 - 64)).astype(np.uint16)
    path = write_bayer_dng(tmp_path / f"{cfa}.dng", mosaic, cfa, black=64, white=4095,
                           as_shot_neutral=(0.999, 1.0, 1.001))
    developer = _bilinear_developer()
    out = raw_to_rgb(developer, path, InferenceOptions(device="cpu"))
    classic = raw_to_rgb(load_model("classic"), path)
    assert out.rgb.shape == classic.rgb.shape == (96, 128, 3)
    assert out.white_balance == "camera" and classic.white_balance == "camera"
    # The phases are undone: the bilinear developer's picture is the photo (up to its own interpolation
    # and LibRaw-like brightness): interior correlation with the photo per channel, not a shifted one.
    lin = out.rgb.astype(np.float64)
    for c in range(3):
        assert np.corrcoef(lin[4:-4, 4:-4, c].ravel(), rgb[4:-4, 4:-4, c].ravel())[0, 1] > 0.97


def test_developer_white_balance_modes_and_exposure(tmp_path):
    card = np.full((32, 48, 3), 0.3) * np.array([0.5, 1.0, 0.7])  # a grey card under warm light
    mosaic = np.rint(64 + _phase_mosaic(card, "RGGB") * (4095 - 64)).astype(np.uint16)
    path = write_bayer_dng(tmp_path / "card.dng", mosaic, "RGGB", black=64, white=4095,
                           as_shot_neutral=(0.5, 1.0, 0.7))
    developer = _bilinear_developer()
    camera = raw_to_rgb(developer, path, InferenceOptions(device="cpu"))
    assert np.ptp(camera.rgb[8:-8, 8:-8].mean(axis=(0, 1))) < 2e-3  # the card is grey, as the file says
    unbalanced = raw_to_rgb(developer, path, InferenceOptions(device="cpu", wb="1,1,1"))  # the raw cast stays
    r, g, _ = unbalanced.rgb.reshape(-1, 3).mean(axis=0)
    assert unbalanced.white_balance == "custom" and g > r + 0.1
    auto = raw_to_rgb(developer, path, InferenceOptions(device="cpu", wb="auto"))
    assert auto.white_balance == "auto" and np.ptp(auto.rgb[8:-8, 8:-8].mean(axis=(0, 1))) < 2e-3
    dark = raw_to_rgb(developer, path, InferenceOptions(device="cpu", exposure=-1.0))
    ratio = (dark.rgb[8:-8, 8:-8] ** 2.2).mean() / (camera.rgb[8:-8, 8:-8] ** 2.2).mean()
    assert 0.4 < ratio < 0.6  # one stop down in linear light (the sRGB curve is near 2.2 here)


def test_packed_models_refuse_wb_but_take_exposure(tmp_path, sgan_tiny):
    raw = RawPicture(packed=np.full((4, 16, 16), 0.2, np.float32))
    with pytest.raises(UsageError, match="cannot use --wb"):
        raw_to_rgb(sgan_tiny, raw, InferenceOptions(device="cpu", wb="daylight"))
    base = raw_to_rgb(sgan_tiny, raw, InferenceOptions(device="cpu"))
    assert base.white_balance == "model" and base.rgb.shape == (16, 16, 3)  # the paper's: packed resolution


def test_inference_options_validate_themselves():
    assert InferenceOptions(wb=" 4,2,3 ").wb == (2.0, 1.0, 1.5)
    for bad in ({"wb": "tungsten"}, {"wb": (1.0, 0.0, 1.0)}, {"exposure": 4.0}, {"exposure": "1"}):
        with pytest.raises(UsageError):
            InferenceOptions(**bad)


def test_inference_options_normalise_tiles_and_refuse_bad_values_once():
    opts = InferenceOptions(tile=" 512 ", overlap=np.int64(8), precision="Half")
    assert (opts.tile, opts.overlap, opts.precision) == (512, 8, "fp16")
    assert InferenceOptions(tile=None).tile == 0 and InferenceOptions(tile="AUTO").tile == "auto"
    for bad in ({"tile": -1}, {"tile": "big"}, {"tile": 1.5}, {"overlap": -4}, {"overlap": "8"},
                {"tile_stats": "live"}, {"precision": "fp8"}):
        with pytest.raises(UsageError):
            InferenceOptions(**bad)
    # the tiler's own entry point asks the same rules
    from rawcolour.inference.tiling import run_tiled

    with pytest.raises(UsageError, match="--tile must be auto, 0 or a number of pixels"):
        run_tiled(nn.Identity(), torch.zeros(3, 8, 8), out_channels=3, tile="big")
    with pytest.raises(UsageError, match="unknown tile statistics source"):
        run_tiled(nn.Identity(), torch.zeros(3, 8, 8), out_channels=3, tile=0, stats="median")


def test_provenance_records_the_options_each_command_offers():
    raw = InferenceOptions(wb="4,2,3", tile=256, render_size=300).offered("raw2rgb")
    assert raw["wb"] == "4,2,3" and "render_size" not in raw and raw["tile"] == 256  # --wb as written
    grey = InferenceOptions(render_size=300, wb="daylight").offered("colourise")
    assert grey["render_size"] == 300 and not {"wb", "exposure", "colour_space", "tile_stats"} & set(grey)
    moved = InferenceOptions(wb="Daylight").on_device("cuda:1")
    assert moved.device == "cuda:1" and moved.offered("raw2rgb")["wb"] == "Daylight" and moved.wb == "daylight"


def test_developer_tiles_match_the_whole_picture():
    from rawcolour.inference.tiling import run_tiled

    torch.manual_seed(0)
    net = create_model("sgan-isp-tiny", saliency_decoder=False).eval()
    x = torch.rand(4, 200, 264)
    whole = run_tiled(net, x, out_channels=3, tile=None, size_multiple=8, min_size=16, device=CPU, scale=2).output
    tiled = run_tiled(net, x, out_channels=3, tile=96, overlap=32, size_multiple=8, min_size=16, device=CPU,
                      scale=2, whole_if_fits=False)
    assert whole.shape == tiled.output.shape == (400, 528, 3) and tiled.tile == 96
    mse = float(np.mean((whole - tiled.output) ** 2))
    assert 10 * np.log10(np.ptp(whole) ** 2 / mse) > 40  # no per-picture statistics: only border effects


def test_cpu_layout_follows_the_net(monkeypatch):
    # NHWC is faster on CPUs for nets without per-picture norm statistics (sgan-isp-tiny) and slower
    # around instance norm (sgan-tiny, IBN colourisers); CUDA always takes NHWC; the variable wins.
    monkeypatch.delenv("RAWCOLOUR_CHANNELS_LAST", raising=False)
    assert default_channels_last(CPU, create_model("sgan-isp-tiny")) is True
    assert default_channels_last(CPU, create_model("sgan-tiny")) is False
    assert default_channels_last(CPU, create_model("colorgan-tiny")) is False  # IBN holds an instance norm
    assert default_channels_last(torch.device("cuda"), create_model("sgan-tiny")) is True
    monkeypatch.setenv("RAWCOLOUR_CHANNELS_LAST", "0")
    assert default_channels_last(CPU, create_model("sgan-isp-tiny")) is False



def test_a_render_is_not_larger_than_the_picture_it_colours_but_for_rounding() -> None:
    # a render size beyond the picture's short side only predicts interpolated pixels (and 60000
    # on a 512 x 512 picture would need tens of GB)
    assert render_shape(512, 768, 60000, 128, 256) == (512, 768)
    assert render_shape(500, 700, 4096, 128, 256) == (512, 768)  # rounded to the multiple
    assert render_shape(100, 100, 4096, 128, 256) == (256, 256)  # small pictures still get the minimum


def test_a_thin_strip_is_not_rendered_at_a_giant_long_side() -> None:
    h, w = render_shape(1, 512, 256, 128, 256)
    assert (h, w) == (256, 256 * 16)  # 131072 long unbounded
    assert render_shape(20000, 2, 256, 128, 256) == (256 * 16, 256)
    assert render_shape(1000, 10000, 256, 128, 256) == (256, 2560)  # a 10:1 panorama keeps its shape


def test_a_one_pixel_high_strip_is_colourised_at_its_own_size() -> None:
    model = load_model("colorgan-tiny", allow_random=True)
    strip = np.linspace(0.0, 1.0, 700, dtype=np.float32)[None, :]
    out = colourise_image(model, strip).rgb
    assert out.shape == (1, 700, 3) and np.isfinite(out).all()


def test_what_the_reader_noted_reaches_the_result() -> None:
    noted = Picture(np.full((40, 60), 128, np.uint8), 8, None, None, notes=("only the first page was read",))
    for name in ("grey", "colorgan-tiny"):
        result = colourise_image(load_model(name, allow_random=True), noted)
        assert result.notes[0] == "only the first page was read"
