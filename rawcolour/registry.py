"""The one table of models: name -> task, networks, training recipe, inference policy, I/O spec.

Every other part of rawcolour (CLI, training, eval, checkpoints) asks this table; nothing else
decides what a model name means.

>>> spec = get_spec("sgan-tiny")
>>> spec.task, spec.policy.size_multiple
('raw2rgb', 8)
>>> sorted(list_models("colorgan-*"))[:2]
['colorgan-bn-sn', 'colorgan-bn-sn-md']
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawcolour.errors import UnknownModelError
from rawcolour.io.mosaic import PACKED_ORDER
# What an entry is (re-exported: the registry is where callers look for it)
from rawcolour.model_spec import IOSpec, InferencePolicy, ModelSpec, NetSpec, Recipe, Stage, Task  # noqa: F401
from rawcolour.tasks import TASKS, TaskSpec, get_task  # noqa: F401 (the registry's task table)
from rawcolour.nets.configs import (
    COLORGAN_RELEASED_CODE,
    COLORGAN_RELEASED_CODE_DISC,
    COLORGAN_TINY,
    SGAN_TINY,
    SGAN_TINY_DISC,
    ColorGANConfig,
    PatchGANConfig,
    Pix2PixUNetConfig,
    SGANDiscriminatorConfig,
    SGANGeneratorConfig,
)

if TYPE_CHECKING:
    from torch import nn

COLOURISE_IO = IOSpec(
    input_space="lab-L",
    input_channels=("L",),
    input_scaling="L/50 - 1 (CIE Lab D65, L in [0,100])",
    output_space="lab-ab",
    output_channels=("a", "b"),
    output_scaling="ab = 110 * y (tanh output y in [-1,1])",
)
RAW2RGB_IO = IOSpec(
    input_space="raw-packed",
    input_channels=("R", "Gr", "B", "Gb"),
    input_scaling="2 * v - 1, v = packed level in [0,1]",
    output_space="srgb",
    output_channels=("R", "G", "B"),
    output_scaling="rgb = (y + 1) / 2 (tanh output y in [-1,1]), sRGB-encoded",
    cfa_order=PACKED_ORDER,
    level_normalisation="v = clip((x - black[c]) / (white - black[c]), 0, 1) per CFA colour",
)
# Our learned developer (not in the paper): colour is applied from the file's metadata before the
# network (rawcolour.camera_colour.balance_packed), the mosaic is mirrored to RGGB, and the network
# demosaics and denoises to linear sRGB at sensor resolution; exposure and the sRGB curve follow.
DEVELOPER_IO = dataclasses.replace(
    RAW2RGB_IO,
    input_space="raw-balanced-srgb",
    input_scaling="2 * v - 1, v = packed level white-balanced (clipped at 1) and taken to linear sRGB primaries",
    output_space="linear-srgb",
    output_scaling="linear sRGB = (y + 1) / 2 at sensor resolution; then auto-brightness, exposure, sRGB curve",
    output_scale=2,
)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model; a name may be registered once."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model name {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registry names matching a glob pattern (and task), in registration order; an unknown task
    is a UsageError (an empty list would read as "no models")."""
    if task is not None:
        get_task(task)
    return [n for n, s in _REGISTRY.items() if fnmatch.fnmatch(n, pattern) and (task is None or s.task == task)]


def is_model(name: str) -> bool:
    return name in _REGISTRY


def get_spec(name: str) -> ModelSpec:
    """The registry entry for `name`; unknown names raise with the closest suggestions."""
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `rawcolour models list`"
        raise UnknownModelError(f"unknown model {name!r}", hint=hint) from None


def create_model(name: str, **overrides: Any) -> nn.Module:
    """A freshly initialised generator for `name`; `overrides` replace config fields.

    >>> net = create_model("sgan-tiny", saliency_decoder=False)
    >>> net(torch.zeros(1, 4, 16, 16)).shape
    torch.Size([1, 3, 16, 16])
    """
    spec = get_spec(name)
    if spec.generator is None:
        raise UnknownModelError(f"{name!r} is a baseline without a network")
    config = dataclasses.replace(spec.generator.config, **overrides) if overrides else spec.generator.config
    return NetSpec(spec.generator.arch, config).build()


def parameter_count(net_spec: NetSpec) -> int:
    """Parameters of a network, counted without allocating its weights (meta device; imports torch).

    Spectral norm adds buffers, not parameters, and its set-up power iteration is slow even on the
    meta device, so it is switched off for counting.
    """
    import torch

    from rawcolour.nets.build import build_net, count_parameters

    config = net_spec.config
    if getattr(config, "spectral_norm", False):
        config = dataclasses.replace(config, spectral_norm=False)
    with torch.device("meta"):
        return count_parameters(build_net(net_spec.arch, config))


def parameter_counts(name: str) -> tuple[int, int | None]:
    """(generator, discriminator) parameters of a registry model: 0 and None for a baseline; from
    PARAMETERS when listed there (no torch needed), else counted."""
    spec = get_spec(name)
    if spec.generator is None:
        return 0, None
    if name in PARAMETERS:
        return PARAMETERS[name]
    return parameter_count(spec.generator), parameter_count(spec.discriminator) if spec.discriminator else None


# ---------------------------------------------------------------------------------- shipped weights


def models_dirs() -> list[Path]:
    """Folders searched for shipped weights: $RAWCOLOUR_MODELS (if set), then the installed package's."""
    dirs = []
    if os.environ.get("RAWCOLOUR_MODELS"):
        dirs.append(Path(os.environ["RAWCOLOUR_MODELS"]))
    try:
        dirs.append(Path(str(resources.files("rawcolour._models"))))
    except ModuleNotFoundError:  # running from a source tree without the mapping
        pass
    dirs.append(Path(__file__).resolve().parent.parent / "models")
    return dirs


def weights_path(name: str) -> Path | None:
    """Installed weights for a registry name, or None."""
    spec = get_spec(name)
    if not spec.weights:
        return None
    for d in models_dirs():
        if (d / spec.weights).is_file():
            return d / spec.weights
    return None


def card_path(name: str) -> Path | None:
    """The model card installed beside the weights (``NAME.md`` in a models folder), or None."""
    for d in models_dirs():
        if (d / f"{get_spec(name).name}.md").is_file():
            return d / f"{get_spec(name).name}.md"
    return None


def shipped_models(task: str | None = None) -> list[str]:
    """Registry names (of ``task``) whose weights are installed: the models this package ships."""
    return [n for n in list_models(task=task) if get_spec(n).weights and weights_path(n) is not None]


def weights_status(name: str) -> str:
    spec = get_spec(name)
    if not spec.learned:
        return "not needed"
    if spec.weights is None:
        return "none (train or import)"
    return "installed" if weights_path(name) else f"missing ({spec.weights})"


def output_size(spec: ModelSpec) -> str:
    """What size of picture a model writes: the input's, or for RAW the sensor's or half of it."""
    if not get_task(spec.task).reads_raw:
        return "input"
    if not spec.learned or (spec.io is not None and spec.io.output_scale == 2):
        return "sensor"
    return "half sensor"  # the paper's: one RGB pixel per 2x2 Bayer quad


def summary(name: str) -> dict[str, Any]:
    """One model's facts in a line of `rawcolour models list`: name, task, description, parameters,
    size multiple, tiling, input space, output size, weights (and discriminator parameters)."""
    spec = get_spec(name)
    generator_parameters, discriminator_parameters = parameter_counts(name)
    record = {
        "name": spec.name,
        "task": spec.task,
        "description": spec.description,
        "parameters": generator_parameters,
        "size_multiple": spec.policy.size_multiple,
        "tiling": spec.policy.tiling,
        "input_space": spec.io.input_space if spec.io and spec.learned else None,
        "output_size": output_size(spec),
        "weights": weights_status(name),
    }
    if discriminator_parameters is not None:
        record["discriminator_parameters"] = discriminator_parameters
    return record


def describe(name: str) -> dict[str, Any]:
    """Everything the registry knows about one model (`rawcolour models show`): its summary, weights
    file, card, paper, networks, input and output, inference policy and training recipe."""
    spec = get_spec(name)
    record = summary(name)
    weights, card = weights_path(name), card_path(name)
    record["weights_file"] = str(weights) if weights else None
    record["card"] = str(card) if card else None
    record["paper"] = spec.paper or None
    record["generator"] = spec.generator.to_dict() if spec.generator else None
    record["discriminator"] = spec.discriminator.to_dict() if spec.discriminator else None
    record["io"] = spec.io.to_dict() if spec.io and spec.learned else None  # a baseline has no network to feed
    record["policy"] = spec.policy.to_dict()
    record["recipe"] = dataclasses.asdict(spec.recipe) if spec.recipe else None
    return record


# ---------------------------------------------------------------------------------- the table

# The papers by title (their text is not shipped) and the reference code each was checked against.
PAPER_COLOURISE = ("End-to-End Conditional GAN-based Architectures for Image Colourisation (Blanch, Mrak, "
                   "Smeaton, O'Connor): BN/IN/IBN, SN, multi-scale D; reference code bbc/ColorGAN")
PAPER_RAW2RGB = "Saliency-map-aided GAN for RAW to RGB mapping; reference code zhaoyuzhi/RAW2RGB-GAN"

# 7 stride-2 blocks: sides are multiples of 128, and at least 256 so the bottleneck is 2x2
# (instance norm needs more than one pixel).
COLOURISE_POLICY = InferencePolicy(size_multiple=128, tiling="discouraged", render_size=256, min_size=256)


def _colorgan_recipe(gan_loss: str = "nonsaturating") -> Recipe:
    # The paper text uses a non-saturating GAN loss + 100 L1; its released code uses LSGAN.
    return Recipe(
        stages=(Stage("main", epochs=200, lr_g=2e-4, lr_d=2e-4, lambda_l1=100.0, lambda_gan=1.0),),
        gan_loss=gan_loss,  # type: ignore[arg-type]
        batch_size=16,
        crop_size=256,
        augment=(),
    )


def _ibn(n: int, shallow: int) -> tuple[str, ...]:
    return tuple("ibn" if i < shallow else "batch" for i in range(n))


def _colorgan(name: str, desc: str, enc: tuple[str, ...], dec: tuple[str, ...], disc: tuple[str, ...],
              sn: bool, scales: int, base: ColorGANConfig = ColorGANConfig(),
              base_disc: PatchGANConfig = PatchGANConfig(in_channels=3), **kw: Any) -> ModelSpec:
    return register(ModelSpec(
        name=name,
        task="colourise",
        description=desc,
        generator=NetSpec("colorgan_unet", dataclasses.replace(
            base, encoder_norms=enc, decoder_norms=dec, spectral_norm=sn)),
        discriminator=NetSpec("patchgan", dataclasses.replace(
            base_disc, norms=disc, spectral_norm=sn, num_scales=scales)),
        recipe=_colorgan_recipe(),
        policy=COLOURISE_POLICY,
        io=COLOURISE_IO,
        paper=PAPER_COLOURISE,
        **kw,
    ))


# Generator norms, per block. Encoder block 1 and discriminator block 1 have no norm (paper: "input layers").
_E, _D = 7, 6
_ENC = {
    "batch": ("none",) + ("batch",) * (_E - 1),
    "instance": ("none",) + ("instance",) * (_E - 1),
    # IBN-Net-a reading of the paper: IBN in the shallow levels (first 3), BN deeper; the
    # decoder mirrors it (its last 2 blocks are the shallow levels).
    "ibn": ("none",) + _ibn(_E - 1, 2),
}
_DEC = {
    "batch": ("batch",) * _D,
    "instance": ("instance",) * _D,
    "ibn": tuple(reversed(_ibn(_D, 2))),
}
_DISC = {
    "batch": ("none", "batch", "batch", "batch"),
    "instance": ("none", "instance", "instance", "instance"),
    "ibn": ("none", "ibn", "batch", "batch"),
}

register(ModelSpec(
    name="pix2pix",
    task="colourise",
    description="pix2pix baseline: unet_256 BN + dropout, basic PatchGAN (BN row of Table I)",
    generator=NetSpec("pix2pix_unet", Pix2PixUNetConfig(in_channels=1, out_channels=2)),
    discriminator=NetSpec("patchgan", PatchGANConfig(in_channels=3, norm="batch")),
    # pix2pix's "vanilla" GAN is BCE-with-logits where G is trained towards "real": the
    # non-saturating form. Linear lr decay over the second 100 epochs.
    recipe=Recipe(
        stages=(Stage("main", epochs=200, lr_g=2e-4, lr_d=2e-4, lambda_l1=100.0, lambda_gan=1.0,
                      lr_decay_epochs=100),),
        gan_loss="nonsaturating", batch_size=1, crop_size=256, augment=("resize286", "crop", "flip")),
    policy=InferencePolicy(size_multiple=256, tiling="discouraged", render_size=256),
    io=COLOURISE_IO,
    paper="pix2pix (Isola et al. 2017), baseline of " + PAPER_COLOURISE,
))
_colorgan("colorgan-in", "Table I: IN (instance norm), no SN", _ENC["instance"], _DEC["instance"],
          _DISC["instance"], sn=False, scales=1)
_colorgan("colorgan-in-sn", "Table I: IN + SN", _ENC["instance"], _DEC["instance"], _DISC["instance"],
          sn=True, scales=1)
_colorgan("colorgan-bn-sn", "Table I: BN + SN", _ENC["batch"], _DEC["batch"], _DISC["batch"], sn=True, scales=1)
_colorgan("colorgan-bn-sn-md", "Table I: BN + SN + multi-scale D (3 scales)", _ENC["batch"], _DEC["batch"],
          _DISC["batch"], sn=True, scales=3)
_colorgan("colorgan-ibn-sn-md", "Table I: IBN + SN + MD, paper-text reading (IBN-Net-a in shallow levels)",
          _ENC["ibn"], _DEC["ibn"], _DISC["ibn"], sn=True, scales=3)
_colorgan("colorgan-ibn-sn-md-code", "Table I IBN + SN + MD as the released code builds it (BN; C,H,W "
          "instance norm in the last decoder block and D block 2; TF 'same' padding)",
          COLORGAN_RELEASED_CODE.encoder_norms, COLORGAN_RELEASED_CODE.decoder_norms,
          COLORGAN_RELEASED_CODE_DISC.norms, sn=True, scales=3,
          base=COLORGAN_RELEASED_CODE, base_disc=COLORGAN_RELEASED_CODE_DISC)
_colorgan("colorgan-tiny", "IBN + SN + MD at small widths, trained on a CPU; shipped weights",
          ("none",) + _ibn(_E - 1, 2), tuple(reversed(_ibn(_D, 2))), _DISC["ibn"], sn=True, scales=3,
          base=COLORGAN_TINY, base_disc=PatchGANConfig(in_channels=3, ndf=16), weights="colorgan-tiny.safetensors")
# Table I at the tiny width (docs/table1.md): the same six rows on COLORGAN_TINY, trained with one
# recipe. The BN row is the pix2pix-style baseline on the ColorGAN U-Net (BN, no SN, one D), so the
# rows differ only in what Table I varies; its IBN + SN + MD row is colorgan-tiny itself.
_TINY = dict(base=COLORGAN_TINY, base_disc=PatchGANConfig(in_channels=3, ndf=16))
_colorgan("colorgan-tiny-bn", "Table I at tiny width: BN baseline (no SN, one D)", _ENC["batch"], _DEC["batch"],
          _DISC["batch"], sn=False, scales=1, **_TINY)
_colorgan("colorgan-tiny-in", "Table I at tiny width: IN, no SN", _ENC["instance"], _DEC["instance"],
          _DISC["instance"], sn=False, scales=1, **_TINY)
_colorgan("colorgan-tiny-bn-sn", "Table I at tiny width: BN + SN", _ENC["batch"], _DEC["batch"], _DISC["batch"],
          sn=True, scales=1, **_TINY)
_colorgan("colorgan-tiny-in-sn", "Table I at tiny width: IN + SN", _ENC["instance"], _DEC["instance"],
          _DISC["instance"], sn=True, scales=1, **_TINY)
_colorgan("colorgan-tiny-bn-sn-md", "Table I at tiny width: BN + SN + MD (3 scales)", _ENC["batch"],
          _DEC["batch"], _DISC["batch"], sn=True, scales=3, **_TINY)
def _constant_chroma(name: str, what: str, ab: tuple[float, float]) -> ModelSpec:
    """A colourise baseline without learning: the input's luminance with one (a, b) everywhere."""
    return register(ModelSpec(name=name, task="colourise", description=f"baseline without learning: {what}",
                              generator=None, policy=InferencePolicy(size_multiple=1, tiling="none"),
                              io=COLOURISE_IO, constant_ab=ab))


_constant_chroma("grey", "zero ab (the input's luminance, no colour)", (0.0, 0.0))
_constant_chroma("sepia", "one warm tone (a, b) = (6, 18) over the input's luminance", (6.0, 18.0))

_SGAN_STAGES = (
    Stage("1", epochs=10, lr_g=2e-4, lambda_l1=1.0, lambda_attention=0.5),
    Stage("2", epochs=30, lr_g=1e-4, lr_d=4e-4, lambda_l1=1.0, lambda_attention=0.5, lambda_gan=0.01,
          lambda_perc=1.0, lr_halve_every=10),
)
_SGAN_RECIPE = Recipe(stages=_SGAN_STAGES, gan_loss="lsgan", batch_size=8, crop_size=224,
                      augment=("rot90", "flip"))
# Reflection padding in the 1/8-resolution ResBlocks needs at least 2 pixels there: sides >= 16.
RAW2RGB_POLICY = InferencePolicy(size_multiple=8, tiling="supported", default_overlap=32, min_size=16)

register(ModelSpec(
    name="sgan",
    task="raw2rgb",
    description="saliency-map-aided GAN: U-Net + 4 ResBlocks + saliency decoder, SN PatchGAN, LSGAN",
    generator=NetSpec("sgan_generator", SGANGeneratorConfig()),
    discriminator=NetSpec("sgan_discriminator", SGANDiscriminatorConfig()),
    recipe=_SGAN_RECIPE,
    policy=RAW2RGB_POLICY,
    io=RAW2RGB_IO,
    paper=PAPER_RAW2RGB,
))
register(ModelSpec(
    name="sgan-tiny",
    task="raw2rgb",
    description="the saliency GAN at small widths, trained on a CPU; shipped weights",
    generator=NetSpec("sgan_generator", SGAN_TINY),
    discriminator=NetSpec("sgan_discriminator", SGAN_TINY_DISC),
    recipe=dataclasses.replace(_SGAN_RECIPE, batch_size=8, crop_size=128),
    policy=RAW2RGB_POLICY,
    io=RAW2RGB_IO,
    weights="sgan-tiny.safetensors",
    paper=PAPER_RAW2RGB,
))
register(ModelSpec(
    name="sgan-isp-tiny",
    task="raw2rgb",
    description="our developer: camera colour from the file, the saliency U-Net demosaics and denoises to full "
                "sensor resolution (norm-free, pixel-shuffle head, residual over bilinear); shipped weights",
    generator=NetSpec("sgan_generator", SGANGeneratorConfig(width=16, norm="none", spectral_norm=False, bias=True,
                                                            output_scale=2, residual=True)),
    discriminator=NetSpec("sgan_discriminator", SGAN_TINY_DISC),
    recipe=dataclasses.replace(_SGAN_RECIPE, batch_size=8, crop_size=128),
    policy=RAW2RGB_POLICY,
    io=DEVELOPER_IO,
    weights="sgan-isp-tiny.safetensors",
    paper=PAPER_RAW2RGB + " (extended: metadata colour, sensor resolution)",
))
register(ModelSpec(
    name="pix2pix-raw",
    task="raw2rgb",
    description="pix2pix U-Net baseline for RAW: 4 -> 3 channels (7 downs), basic PatchGAN",
    generator=NetSpec("pix2pix_unet", Pix2PixUNetConfig(in_channels=4, out_channels=3, num_downs=7)),
    discriminator=NetSpec("patchgan", PatchGANConfig(in_channels=7, norm="batch")),
    recipe=Recipe(stages=(Stage("main", epochs=40, lr_g=2e-4, lr_d=2e-4, lambda_l1=100.0, lambda_gan=1.0),),
                  gan_loss="nonsaturating", batch_size=8, crop_size=256, augment=("rot90", "flip")),
    policy=InferencePolicy(size_multiple=128, tiling="supported", default_overlap=64),
    io=RAW2RGB_IO,
    paper="pix2pix baseline of " + PAPER_RAW2RGB,
))
register(ModelSpec(
    name="classic",
    task="raw2rgb",
    description="baseline without learning: LibRaw demosaic + camera white balance + colour matrix + sRGB curve",
    generator=None,
    policy=InferencePolicy(size_multiple=1, tiling="none"),
    io=RAW2RGB_IO,
))

# (generator, discriminator) parameters of every learned model, so that `rawcolour models list`
# answers without importing torch. tests/test_registry.py counts each network and, for an entry
# that is missing or wrong, names the line to write here.
PARAMETERS: dict[str, tuple[int, int | None]] = {
    "pix2pix": (54_409_858, 2_765_633),
    "colorgan-in": (41_821_570, 2_764_737),
    "colorgan-in-sn": (41_821_570, 2_764_737),
    "colorgan-bn-sn": (41_830_402, 2_765_633),
    "colorgan-bn-sn-md": (41_830_402, 8_296_899),
    "colorgan-ibn-sn-md": (41_830_402, 8_297_283),
    "colorgan-ibn-sn-md-code": (41_830_276, 8_298_825),
    "colorgan-tiny": (2_617_858, 526_035),
    "colorgan-tiny-bn": (2_617_858, 175_313),
    "colorgan-tiny-in": (2_615_650, 175_089),
    "colorgan-tiny-bn-sn": (2_617_858, 175_313),
    "colorgan-tiny-in-sn": (2_615_650, 175_089),
    "colorgan-tiny-bn-sn-md": (2_617_858, 525_939),
    "sgan": (24_352_448, 8_151_488),
    "sgan-tiny": (1_528_496, 510_320),
    "sgan-isp-tiny": (1_544_125, 510_320),
    "pix2pix-raw": (41_830_019, 2_769_729),
}
