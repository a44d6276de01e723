"""Tests for rawcolour.nets: exact parameter counts of the reference nets, shapes, folding, norm-stat freezing."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

from rawcolour.errors import CheckpointError, MissingWeightsError, UnknownModelError
from rawcolour.interop_files import load_vgg_features
from rawcolour.nets import (
    ARCHITECTURES,
    COLORGAN_RELEASED_CODE,
    COLORGAN_RELEASED_CODE_DISC,
    COLORGAN_TINY,
    COLORGAN_TINY_DISC,
    SGAN_TINY,
    SGAN_TINY_DISC,
    ColorGANConfig,
    PatchGANConfig,
    VGGFeatures,
    build_net,
    config_from_dict,
    config_to_dict,
    count_parameters,
    fold_for_inference,
    has_sample_statistics,
    init_weights,
    make_norm,
    set_norm_stats_mode,
)
from rawcolour.nets.norms import tf_same_pad_4x4
from rawcolour.nets.uresnet import SGANGenerator, SGANGeneratorConfig
from rawcolour.nets.vgg import conv_indices


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# Every norm kind in one net: IBN, instance, batch, and the released code's 'layer' in the decoder.
COLORGAN_MIXED_NORMS = dataclasses.replace(
    COLORGAN_TINY, encoder_norms=("none", "ibn", "instance", "batch", "ibn", "batch", "batch"), spectral_norm=False
)


def meta_count(arch: str, config=None) -> int:
    """Parameter count without allocating or initialising anything."""
    with torch.device("meta"):
        return count_parameters(build_net(arch, config))


# ----------------------------------------------------------------------------- counts and shapes


class TestCounts:
    @pytest.mark.parametrize(
        "arch, config, expected",
        [
            ("pix2pix_unet", None, 54_409_858),  # unet_256 BN 1 -> 2
            ("pix2pix_unet", {"in_channels": 3, "out_channels": 3}, 54_413_955),
            ("pix2pix_unet", {"norm": "instance"}, 54_405_506),
            ("patchgan", None, 2_765_633),  # basic D, BN, in=3
            ("patchgan", {"in_channels": 6}, 2_768_705),
            ("sgan_generator", None, 24_352_448),
            ("sgan_generator", {"saliency_decoder": False}, 23_575_168),
            ("sgan_discriminator", None, 8_151_488),
            ("colorgan_unet", COLORGAN_RELEASED_CODE, 41_830_276),  # REFERENCE.md 1
        ],
    )
    def test_reference_counts(self, arch, config, expected):
        assert meta_count(arch, config) == expected

    def test_released_code_layout(self):
        # BN everywhere, one scalar-affine 'layer' norm (2 params) in the last (64-wide) decoder block.
        cfg = COLORGAN_RELEASED_CODE
        assert cfg.decoder_widths[-1] == 64 and cfg.decoder_norms[-1] == "layer"
        assert set(cfg.decoder_norms[:-1]) == set(cfg.encoder_norms[1:]) == {"batch"}
        assert meta_count("colorgan_unet", ColorGANConfig()) - meta_count("colorgan_unet", cfg) == 2 * 64 - 2
        assert COLORGAN_RELEASED_CODE_DISC.block_norms == ("none", "layer", "batch", "batch")

    def test_tiny_configs_are_small(self):
        for arch, cfg in [
            ("colorgan_unet", COLORGAN_TINY),
            ("patchgan", COLORGAN_TINY_DISC),
            ("sgan_generator", SGAN_TINY),
            ("sgan_discriminator", SGAN_TINY_DISC),
        ]:
            assert 0 < meta_count(arch, cfg) < 3_000_000

    def test_spectral_norm_adds_no_parameters(self):
        assert meta_count("patchgan", {"spectral_norm": True}) == 2_765_633


class TestShapes:
    def test_pix2pix_unet_256(self):
        g = build_net("pix2pix_unet").eval()
        with torch.inference_mode():
            y = g(torch.rand(1, 1, 256, 256) * 2 - 1)
        assert y.shape == (1, 2, 256, 256) and y.abs().max() <= 1
        with pytest.raises(ValueError, match="multiples of 256"):
            g(torch.zeros(1, 1, 224, 224))

    def test_patchgan_30x30_at_256(self):
        (y,) = build_net("patchgan")(torch.randn(1, 3, 256, 256))
        assert y.shape == (1, 1, 30, 30)

    def test_sgan_discriminator_26x26_at_224(self):
        (y,) = build_net("sgan_discriminator", SGAN_TINY_DISC)(torch.randn(1, 7, 224, 224))
        assert y.shape == (1, 1, 26, 26)

    def test_sgan_generator_keeps_size(self):
        g = build_net("sgan_generator", SGAN_TINY)
        rgb, sal = g(torch.randn(1, 4, 56, 40), return_saliency=True)
        assert rgb.shape == (1, 3, 56, 40) and sal.shape == (1, 1, 56, 40)
        assert rgb.abs().max() <= 1 and 0 <= sal.min() and sal.max() <= 1
        with pytest.raises(ValueError, match="multiples of 8"):
            g(torch.zeros(1, 4, 60, 60))

    def test_colorgan_shapes(self):
        with torch.device("meta"):
            assert build_net("colorgan_unet", COLORGAN_RELEASED_CODE)(torch.zeros(1, 1, 256, 384)).shape == (1, 2, 256, 384)
        g = build_net("colorgan_unet", COLORGAN_TINY)
        assert g(torch.randn(2, 1, 128, 256)).shape == (2, 2, 128, 256)
        with pytest.raises(ValueError, match="multiples of 128"):
            g(torch.zeros(1, 1, 192, 256))

    def test_tf_same_padding(self):
        # TF 'same': output ceil(n / stride); for stride 2 on even sides it equals symmetric padding 1.
        conv = nn.Conv2d(2, 3, 4, 2, padding=0)
        for n in (7, 8, 9):
            assert conv(tf_same_pad_4x4()(torch.randn(1, 2, n, n))).shape[-1] == -(-n // 2)
        x = torch.randn(1, 2, 16, 16)
        torch.testing.assert_close(conv(tf_same_pad_4x4()(x)), F.conv2d(x, conv.weight, conv.bias, 2, 1))
        conv1 = nn.Conv2d(2, 3, 4, 1, padding=0)
        assert conv1(tf_same_pad_4x4()(torch.randn(1, 2, 9, 9))).shape[-1] == 9

    def test_multiscale_maps(self):
        d = build_net("patchgan", dataclasses.replace(COLORGAN_TINY_DISC, num_scales=3)).eval()
        x = torch.randn(2, 3, 128, 128)
        maps = d(x)
        assert [m.shape[-1] for m in maps] == [8, 4, 2]
        # Each scale is its own D on the input pooled by 2**i.
        torch.testing.assert_close(maps[2], d.scales[2](F.avg_pool2d(x, 4)))
        assert d.scales[0].blocks[0][1].weight.data_ptr() != d.scales[1].blocks[0][1].weight.data_ptr()
        assert len(build_net("patchgan")(torch.randn(1, 3, 64, 64))) == 1


# ----------------------------------------------------------------------------- folding

FOLD_CASES = [  # (arch, config, input shape, has BN to fold)
    ("colorgan_unet", COLORGAN_TINY, (2, 1, 128, 128), True),
    ("colorgan_unet", COLORGAN_MIXED_NORMS, (2, 1, 128, 128), True),
    ("pix2pix_unet", {"ngf": 8, "num_downs": 6, "spectral_norm": True}, (2, 1, 64, 64), True),
    ("pix2pix_unet", {"in_channels": 3, "ngf": 8, "num_downs": 6, "norm": "ibn"}, (2, 3, 64, 64), True),
    ("sgan_generator", SGAN_TINY, (1, 4, 32, 32), False),
    ("sgan_discriminator", SGAN_TINY_DISC, (1, 7, 64, 64), False),
    ("patchgan", {"ndf": 8, "num_scales": 2, "spectral_norm": True}, (2, 3, 64, 64), True),
    ("patchgan", COLORGAN_TINY_DISC, (2, 3, 64, 64), True),
]


def _warm_up(model: nn.Module, shape: tuple[int, ...]) -> None:
    """Non-trivial BN running stats and SN u/v: a few train-mode forwards, then random BN affines."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(shape))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        y = model(x)
    return y if isinstance(y, list) else [y]


class TestFold:
    @pytest.mark.parametrize("arch, config, shape, has_bn", FOLD_CASES)
    def test_fold_keeps_outputs(self, arch, config, shape, has_bn):
        model = build_net(arch, config)
        assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == has_bn
        _warm_up(model, shape)
        model.eval()
        x = torch.randn(shape)
        before = _outputs(model, x)
        assert fold_for_inference(model) is model and not model.training
        after = _outputs(model, x)
        for a, b in zip(before, after, strict=True):
            assert (a - b).abs().max() <= 1e-5
        assert not any(parametrize.is_parametrized(m) for m in model.modules())
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # every BN followed a conv

    def test_fold_removes_power_iteration(self):
        d = build_net("patchgan", {"ndf": 8, "spectral_norm": True})
        fold_for_inference(d)
        conv = d.scales[0].blocks[0][0]
        assert type(conv.weight) is nn.Parameter and "weight" in conv._parameters


# ----------------------------------------------------------------------------- norms


class TestNorms:
    def test_instance_matches_torch(self):
        x = torch.randn(2, 6, 9, 7)
        torch.testing.assert_close(make_norm("instance", 6)(x), nn.InstanceNorm2d(6)(x))

    def test_layer_is_keras_contrib_axis_none(self):
        norm = make_norm("layer", 6)
        assert count_parameters(norm) == 2
        x = torch.randn(2, 6, 5, 5) * 3 + 1
        flat = x.flatten(1)
        expected = (x - flat.mean(1).view(-1, 1, 1, 1)) / (flat.std(1, correction=0).view(-1, 1, 1, 1) + 1e-3)
        torch.testing.assert_close(norm(x), expected)

    def test_ibn_halves(self):
        norm = make_norm("ibn", 6).eval()
        x = torch.randn(2, 6, 5, 5)
        y = norm(x)
        torch.testing.assert_close(y[:, :3], F.instance_norm(x[:, :3]))
        torch.testing.assert_close(y[:, 3:], norm.bnorm(x[:, 3:]))
        assert count_parameters(norm) == 2 * 3 + 2 * 3

    def test_unknown_norm(self):
        with pytest.raises(ValueError, match="unknown norm 'group'.*instance"):
            make_norm("group", 4)
        with pytest.raises(ValueError, match="decoder_norms"):
            dataclasses.replace(COLORGAN_TINY, decoder_norms=("batch",) * 5 + ("grp",))

    def test_has_sample_statistics(self):
        assert has_sample_statistics(build_net("sgan_generator", SGAN_TINY))
        assert has_sample_statistics(build_net("colorgan_unet", COLORGAN_TINY))  # the 'layer' norm
        assert not has_sample_statistics(build_net("pix2pix_unet", {"ngf": 8, "num_downs": 5}))


class TestStatsFreezing:
    @pytest.mark.parametrize("arch, config, shape, crop", [
        ("sgan_generator", SGAN_TINY, (1, 4, 64, 64), (32, 48)),
        # IN needs > 1 pixel per map: a 256x256 tile keeps the ColorGAN bottleneck at 2x2.
        ("colorgan_unet", COLORGAN_MIXED_NORMS, (1, 1, 256, 384), (256, 256)),
    ])
    def test_record_then_frozen(self, arch, config, shape, crop):
        model = build_net(arch, config).eval()
        x = torch.randn(shape)
        with torch.inference_mode():
            live = model(x)
            set_norm_stats_mode(model, "record")
            recorded = model(x)
            set_norm_stats_mode(model, "frozen")
            frozen = model(x)
            tile = x[..., : crop[0], : crop[1]]
            frozen_tile = model(tile)
            set_norm_stats_mode(model, "live")
            live_tile = model(tile)
        torch.testing.assert_close(recorded, live, atol=1e-5, rtol=0)
        torch.testing.assert_close(frozen, live, atol=1e-5, rtol=0)
        assert (frozen_tile - live_tile).abs().max() > 1e-3  # the tile really used the picture's stats

    def test_frozen_other_dtype(self):
        g = build_net("sgan_generator", SGAN_TINY).eval().double()
        x = torch.randn(1, 4, 32, 32, dtype=torch.float64)
        with torch.inference_mode():
            set_norm_stats_mode(g, "record")
            a = g(x)
            set_norm_stats_mode(g, "frozen")
            b = g(x)
        assert b.dtype == torch.float64 and torch.equal(a, b)

    def test_frozen_without_record_fails(self):
        g = build_net("sgan_generator", SGAN_TINY)
        set_norm_stats_mode(g, "frozen")
        with pytest.raises(RuntimeError, match="record"):
            g(torch.randn(1, 4, 32, 32))
        with pytest.raises(ValueError, match="live, record, frozen"):
            set_norm_stats_mode(g, "freeze")

    def test_statistics_frozen_from_elsewhere_and_reset(self):
        # What the tiler's exact statistics do: pool a norm's statistics elsewhere, freeze them, reset after.
        from rawcolour.nets.norms import InstanceNorm, reset_norm_stats, sample_stats_norms

        g = build_net("sgan_generator", SGAN_TINY).eval()
        x, other = torch.randn(1, 4, 32, 32), torch.randn(1, 4, 32, 32) * 3 + 1
        norms = sample_stats_norms(g)
        assert norms and all(isinstance(m, InstanceNorm) for m in norms)
        with torch.inference_mode():
            live = g(x)
            set_norm_stats_mode(g, "record")
            g(other)  # statistics of another picture, handed over as if pooled elsewhere
            recorded = [(m, m.frozen_mean.clone(), m.frozen_var.clone()) for m in norms if m.frozen_mean is not None]
            reset_norm_stats(g)
            assert all(m.stats_mode == "live" and m.frozen_mean is None and m.frozen_var is None for m in norms)
            for m, mean, var in recorded:  # (the saliency decoder's norms do not run in eval)
                m.freeze(mean, var)
            borrowed = g(x)
            reset_norm_stats(g)
            again = g(x)
        assert (borrowed - live).abs().max() > 1e-3  # the frozen statistics were used
        torch.testing.assert_close(again, live, atol=0, rtol=0)  # and reset dropped them


# ----------------------------------------------------------------------------- saliency decoder


class TestSaliency:
    def test_not_run_unless_asked(self):
        g = build_net("sgan_generator", SGAN_TINY)
        calls = []
        g.saliency.register_forward_hook(lambda *a: calls.append(1))
        g(torch.randn(1, 4, 32, 32)).mean().backward()
        assert calls == [] and all(p.grad is None for p in g.saliency.parameters())
        g(torch.randn(1, 4, 32, 32), return_saliency=True)
        assert calls == [1]

    def test_without_decoder(self):
        g = build_net("sgan_generator", dataclasses.replace(SGAN_TINY, saliency_decoder=False))
        assert g.saliency is None and not any("saliency" in n for n, _ in g.named_parameters())
        with pytest.raises(ValueError, match="saliency"):
            g(torch.randn(1, 4, 32, 32), return_saliency=True)


# ----------------------------------------------------------------------------- configs and registry


ALL_CONFIGS = [
    ("colorgan_unet", COLORGAN_RELEASED_CODE),
    ("colorgan_unet", COLORGAN_TINY),
    ("patchgan", COLORGAN_RELEASED_CODE_DISC),
    ("patchgan", COLORGAN_TINY_DISC),
    ("sgan_generator", SGAN_TINY),
    ("sgan_discriminator", SGAN_TINY_DISC),
] + [(arch, cls()) for arch, (cls, _) in ARCHITECTURES.items()]


class TestConfigs:
    @pytest.mark.parametrize("arch, config", ALL_CONFIGS)
    def test_round_trip(self, arch, config):
        d = json.loads(json.dumps(config_to_dict(config)))
        back = config_from_dict(arch, d)
        assert back == config and type(back) is type(config)
        assert hash(back) == hash(config)  # tuples again, not lists

    def test_unknown_key(self):
        with pytest.raises(ValueError, match="widht"):
            build_net("sgan_generator", {"widht": 16})

    def test_unknown_arch(self):
        with pytest.raises(UnknownModelError, match="resnet.*colorgan_unet.*sgan_discriminator"):
            build_net("resnet")

    def test_wrong_config_type(self):
        with pytest.raises(TypeError, match="SGANGeneratorConfig"):
            build_net("sgan_generator", COLORGAN_TINY)

    def test_patchgan_norms_length(self):
        with pytest.raises(ValueError, match="norms"):
            PatchGANConfig(norms=("none", "batch"))

    def test_init_weights_under_spectral_norm(self):
        d = build_net("patchgan", {"ndf": 8, "spectral_norm": True})
        init_weights(d, std=0.5)
        conv = d.scales[0].blocks[1][0]
        assert parametrize.is_parametrized(conv, "weight")
        assert abs(conv.parametrizations.weight.original.std().item() - 0.5) < 0.05


# ----------------------------------------------------------------------------- VGG

_TV_CFG = {  # torchvision's cfgs "D" and "E"
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def torchvision_layout_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """Random tensors under torchvision's vgg keys: features.{i}.weight/bias, plus a classifier key."""
    sd, i, cin = {}, 0, 3
    for v in _TV_CFG[arch]:
        if v == "M":
            i += 1
            continue
        sd[f"features.{i}.weight"] = torch.randn(v, cin, 3, 3) * (2 / (9 * cin)) ** 0.5
        sd[f"features.{i}.bias"] = torch.randn(v) * 0.1
        cin, i = v, i + 2
    sd["classifier.0.weight"] = torch.randn(8, 8)
    return sd


class TestVGG:
    def test_layer_indices_match_torchvision(self):
        assert conv_indices("vgg16")["conv4_3"] == 21 and conv_indices("vgg16")["conv5_3"] == 28
        assert conv_indices("vgg19")["conv5_4"] == 34 and conv_indices("vgg19")["conv5_1"] == 28

    @pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
    def test_loads_torchvision_layout(self, tmp_path, suffix):
        sd = torchvision_layout_state_dict("vgg16")
        path = tmp_path / f"vgg16{suffix}"
        if suffix == ".pth":
            torch.save(sd, path)
        else:
            from safetensors.torch import save_file

            save_file({k.removeprefix("features."): v for k, v in sd.items()}, str(path))  # no prefix works too
        vgg = load_vgg_features("vgg16", ("conv1_2", "conv2_1"), path)
        assert len(vgg.features) == 6 and not any(p.requires_grad for p in vgg.parameters())
        x = torch.rand(1, 3, 16, 16)
        f12, f21 = vgg(x)
        # Oracle: the same convs by hand, ImageNet-normalised input, pre-ReLU taps.
        z = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        z = F.conv2d(z, sd["features.0.weight"], sd["features.0.bias"], padding=1).relu()
        z = F.conv2d(z, sd["features.2.weight"], sd["features.2.bias"], padding=1)
        torch.testing.assert_close(f12, z)
        z = F.conv2d(F.max_pool2d(z.relu(), 2), sd["features.5.weight"], sd["features.5.bias"], padding=1)
        torch.testing.assert_close(f21, z)
        # the module itself takes the state dict (no file), keys without 'features.'
        direct = VGGFeatures("vgg16", ("conv1_2", "conv2_1"), {k.removeprefix("features."): v for k, v in sd.items()})
        torch.testing.assert_close(direct(x), [f12, f21])
        with pytest.raises(ValueError, match="missing 0.weight"):
            VGGFeatures("vgg16", ("conv1_1",), {})

    def test_missing_weights(self, tmp_path):
        with pytest.raises(MissingWeightsError, match="downloads nothing"):
            load_vgg_features("vgg16", ("conv4_3",), None)
        missing = tmp_path / "vgg16-397923af.pth"
        with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
            load_vgg_features("vgg16", ("conv4_3",), missing)

    def test_wrong_file(self, tmp_path):
        path = tmp_path / "not_vgg.pth"
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
        with pytest.raises(CheckpointError, match="features.0.bias|0.bias"):
            load_vgg_features("vgg16", ("conv1_1",), path)
        path.write_bytes(b"not a pickle")
        with pytest.raises(CheckpointError, match="cannot read"):
            load_vgg_features("vgg16", ("conv1_1",), path)


class TestSensorResolution:
    """Our extension of the raw2rgb generator: a pixel-shuffle head and a residual over bilinear demosaicking."""

    def test_bilinear_demosaic_matches_opencv(self):
        import cv2
        import numpy as np

        from rawcolour.nets.bayer import bilinear_demosaic

        packed = np.random.default_rng(0).random((4, 16, 20)).astype(np.float32)  # R, Gr, B, Gb of RGGB
        mosaic = np.zeros((32, 40), np.float32)
        mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 1::2], mosaic[1::2, 0::2] = packed
        # OpenCV names Bayer layouts by the second row's colours: RGGB is its "BayerBG".
        want = cv2.cvtColor((mosaic * 65535).round().astype(np.uint16), cv2.COLOR_BayerBG2RGB) / 65535.0
        got = bilinear_demosaic(torch.from_numpy(packed)[None])[0].permute(1, 2, 0).numpy()
        assert np.abs(got - want)[2:-2, 2:-2].max() < 1e-4  # OpenCV's borders are its own
        # Flat colour is exact everywhere, borders included; the input samples are kept.
        flat = bilinear_demosaic(torch.tensor([0.3, 0.5, 0.7, 0.5]).view(1, 4, 1, 1).expand(1, 4, 6, 6))
        assert torch.allclose(flat, torch.tensor([0.3, 0.5, 0.7]).view(1, 3, 1, 1).expand_as(flat))
        assert np.array_equal(got[0::2, 0::2, 0], packed[0]) and np.array_equal(got[1::2, 1::2, 2], packed[2])

    def test_output_at_sensor_resolution(self):
        cfg = SGANGeneratorConfig(width=8, norm="none", output_scale=2, residual=True, spectral_norm=False)
        net = SGANGenerator(cfg).eval()
        x = torch.rand(2, 4, 16, 24) * 2 - 1
        with torch.no_grad():
            rgb, sal = net(x, return_saliency=True)
        assert rgb.shape == (2, 3, 32, 48) and sal.shape == (2, 1, 16, 24)
        # With the learned head zeroed, the output is exactly the bilinear demosaic of the input.
        from rawcolour.nets.bayer import bilinear_demosaic

        with torch.no_grad():
            for p in net.d4.parameters():
                p.zero_()
            assert torch.allclose(net(x), bilinear_demosaic(x), atol=1e-6)

    def test_norm_free_generator_tiles_exactly_inside_its_reach(self):
        # No per-picture statistics: the centre of a crop with enough context equals the whole picture's.
        net = SGANGenerator(SGANGeneratorConfig(width=8, norm="none", output_scale=2, residual=True)).eval()
        x = torch.rand(1, 4, 384, 384)
        with torch.no_grad():
            whole = net(x)
            crop = net(x[..., :256, :256])  # shares the top-left borders; 128 packed pixels short elsewhere
        assert torch.allclose(crop[..., :256, :256], whole[..., :256, :256], atol=1e-5)
        assert not torch.allclose(crop[..., -8:, -8:], whole[..., 504:512, 504:512], atol=1e-3)  # the cut edge

    def test_old_configs_load_unchanged_and_bad_scales_refused(self):
        old = {k: v for k, v in config_to_dict(SGANGeneratorConfig(width=16)).items()
               if k not in ("output_scale", "residual")}
        cfg = config_from_dict("sgan_generator", old)  # a checkpoint written before the new fields
        assert cfg.output_scale == 1 and not cfg.residual
        with pytest.raises(ValueError, match="output_scale"):
            SGANGeneratorConfig(output_scale=3)
        with pytest.raises(ValueError, match="residual"):
            SGANGeneratorConfig(residual=True)
