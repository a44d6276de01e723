"""The registry: every documented name, exact parameter counts, sane policies."""

import dataclasses

import pytest
import torch

from rawcolour import registry
from rawcolour.errors import UnknownModelError

DESIGN_NAMES = [
    "pix2pix", "colorgan-in", "colorgan-in-sn", "colorgan-bn-sn", "colorgan-bn-sn-md", "colorgan-ibn-sn-md",
    "colorgan-tiny", "grey", "sgan", "sgan-tiny", "pix2pix-raw", "classic",
]


def test_every_design_name_is_registered():
    for name in DESIGN_NAMES:
        assert registry.is_model(name), name


@pytest.mark.parametrize(
    "name, which, expected",
    [
        ("pix2pix", "generator", 54_409_858),  # pix2pix unet_256, BN, 1 -> 2
        ("pix2pix", "discriminator", 2_765_633),  # basic PatchGAN, BN, 3 input channels
        ("sgan", "generator", 24_352_448),  # main 23,575,168 + saliency 777,280
        ("sgan", "discriminator", 8_151_488),
        ("colorgan-ibn-sn-md-code", "generator", 41_830_276),  # as the released Keras code builds it
    ],
)
def test_reference_parameter_counts(name, which, expected):
    spec = registry.get_spec(name)
    assert registry.parameter_count(getattr(spec, which)) == expected


def test_sgan_without_saliency_decoder_count():
    net = registry.create_model("sgan", saliency_decoder=False)
    assert sum(p.numel() for p in net.parameters()) == 23_575_168


def test_multiscale_discriminators_count_three_patchgans():
    one = registry.parameter_count(registry.get_spec("colorgan-bn-sn").discriminator)
    three = registry.parameter_count(registry.get_spec("colorgan-bn-sn-md").discriminator)
    assert three == 3 * one


@pytest.mark.parametrize("name", ["colorgan-tiny", "sgan-tiny"])
def test_tiny_models_are_small_and_same_architecture(name):
    tiny = registry.get_spec(name)
    full = registry.get_spec("sgan" if name.startswith("sgan") else "colorgan-ibn-sn-md")
    assert tiny.generator.arch == full.generator.arch
    assert 0 < registry.parameter_count(tiny.generator) < 3_000_000
    assert registry.parameter_count(tiny.discriminator) < 3_000_000
    assert tiny.policy == full.policy


def test_table_one_rows_differ_only_in_norms_sn_and_scales():
    rows = ["colorgan-in", "colorgan-in-sn", "colorgan-bn-sn", "colorgan-bn-sn-md", "colorgan-ibn-sn-md"]
    configs = [registry.get_spec(r).generator.config for r in rows]
    widths = {(c.encoder_widths, c.decoder_widths) for c in configs}
    assert widths == {((64, 128, 256, 512, 512, 512, 512), (512, 512, 512, 256, 128, 64))}
    assert [c.spectral_norm for c in configs] == [False, True, True, True, True]
    scales = [registry.get_spec(r).discriminator.config.num_scales for r in rows]
    assert scales == [1, 1, 1, 3, 3]


def test_every_model_has_task_io_and_policy():
    for name in registry.list_models():
        spec = registry.get_spec(name)
        assert spec.task in registry.TASKS
        assert spec.io is not None
        assert spec.policy.size_multiple >= 1
        if spec.learned:
            assert spec.recipe is not None and spec.recipe.stages
            assert spec.discriminator is not None


@pytest.mark.parametrize("name", ["colorgan-tiny", "sgan-tiny"])
def test_size_multiple_is_enough_for_the_generator(name):
    spec = registry.get_spec(name)
    m = max(spec.policy.size_multiple, spec.policy.min_size)
    net = spec.build_generator().eval()
    c_in = len(spec.io.input_channels)
    with torch.no_grad():
        y = net(torch.zeros(1, c_in, m, 2 * m))
    assert m % spec.policy.size_multiple == 0
    assert y.shape == (1, len(spec.io.output_channels), m, 2 * m)


def test_sgan_recipe_matches_the_paper():
    recipe = registry.get_spec("sgan").recipe
    s1, s2 = recipe.stage("1"), recipe.stage("2")
    assert (s1.lr_g, s1.lr_d, s1.lambda_attention, s1.lambda_gan) == (2e-4, None, 0.5, 0.0)
    assert (s2.lr_g, s2.lr_d, s2.lambda_gan, s2.lambda_perc, s2.lr_halve_every) == (1e-4, 4e-4, 0.01, 1.0, 10)
    assert recipe.gan_loss == "lsgan"


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownModelError, match="sgan-tiny"):
        registry.get_spec("sgan-tinny")


def test_duplicate_registration_raises():
    spec = registry.get_spec("grey")
    with pytest.raises(ValueError, match="twice"):
        registry.register(spec)


def test_create_model_overrides_config():
    net = registry.create_model("sgan-tiny", saliency_decoder=False)
    assert not any("saliency" in k for k in net.state_dict())
    with pytest.raises(TypeError):
        registry.create_model("sgan-tiny", no_such_field=1)


def test_list_models_filters():
    assert set(registry.list_models(task="raw2rgb")) == {"sgan", "sgan-tiny", "sgan-isp-tiny", "pix2pix-raw", "classic"}
    assert registry.list_models("sgan*") == ["sgan", "sgan-tiny", "sgan-isp-tiny"]
    assert all(registry.get_spec(n).task == "colourise" for n in registry.list_models(task="colourise"))


def test_io_spec_round_trips_through_dict():
    io = registry.get_spec("sgan").io
    assert registry.IOSpec.from_dict(dataclasses.asdict(io)) == io


def test_what_models_list_and_show_say_comes_from_the_registry() -> None:
    sizes = {name: registry.summary(name)["output_size"] for name in ("classic", "sgan-tiny", "sgan-isp-tiny", "colorgan-tiny")}
    assert sizes == {"classic": "sensor", "sgan-tiny": "half sensor", "sgan-isp-tiny": "sensor", "colorgan-tiny": "input"}
    shown = registry.describe("sgan-isp-tiny")
    assert shown["parameters"] == registry.parameter_counts("sgan-isp-tiny")[0] > 0
    assert tuple(shown["io"]["cfa_order"]) == ("R", "Gr", "B", "Gb")
    assert shown["policy"]["size_multiple"] == registry.get_spec("sgan-isp-tiny").policy.size_multiple
    assert registry.describe("classic")["io"] is None and registry.summary("classic")["weights"] == "not needed"


def test_literal_types_name_the_same_values_as_their_tuples():
    from typing import get_args

    from rawcolour import model_spec

    assert get_args(model_spec.GanLoss) == model_spec.GAN_LOSSES
    assert get_args(model_spec.Tiling) == model_spec.TILING_MODES
