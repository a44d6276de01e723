"""Every network's config dataclass and the named configs, free of torch.

The registry, the command line and checkpoint headers describe networks with these; only building
one (rawcolour.nets.build_net) needs torch. Each network module imports its config from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

NORM_KINDS = ("none", "batch", "instance", "ibn", "layer")


def check_norm_kinds(kinds: tuple[str, ...] | list[str], what: str) -> None:
    """Raise ValueError naming the config field if a norm kind is unknown."""
    bad = [k for k in kinds if k not in NORM_KINDS]
    if bad:
        raise ValueError(f"{what}: unknown norm {bad[0]!r}; choose one of {', '.join(NORM_KINDS)}")


# ----------------------------------------------------------------------------- colourisation U-Nets (unet.py)


@dataclass(frozen=True)
class ColorGANConfig:
    """The colourisation paper's generator (bbc/ColorGAN); defaults: BN everywhere, no SN."""

    in_channels: int = 1  # L
    out_channels: int = 2  # ab
    # Down blocks: 4x4 stride-2 conv (TF 'same' padding), norm, LeakyReLU 0.2.
    encoder_widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512)
    # Up blocks: nearest x2, 4x4 conv ('same'), norm, ReLU, concat skip; one fewer than the encoder.
    decoder_widths: tuple[int, ...] = (512, 512, 512, 256, 128, 64)
    # One norm kind per encoder block; the input block has none in every variant.
    encoder_norms: tuple[str, ...] = ("none", "batch", "batch", "batch", "batch", "batch", "batch")
    # One norm kind per decoder block.
    decoder_norms: tuple[str, ...] = ("batch", "batch", "batch", "batch", "batch", "batch")
    spectral_norm: bool = False  # SN on every conv (the paper's "+SN" variants)
    bias: bool | None = True  # conv bias: True as keras Conv2D; None = none before batch norm
    instance_affine: bool = False  # learnable gamma/beta for 'instance' norms

    def __post_init__(self) -> None:
        n = len(self.encoder_widths)
        if n < 2 or len(self.decoder_widths) != n - 1:
            raise ValueError(
                f"ColorGANConfig: decoder_widths needs len(encoder_widths) - 1 = {n - 1} entries; "
                f"got {len(self.decoder_widths)}"
            )
        if len(self.encoder_norms) != n or len(self.decoder_norms) != n - 1:
            raise ValueError(
                f"ColorGANConfig: need {n} encoder_norms and {n - 1} decoder_norms; "
                f"got {len(self.encoder_norms)} and {len(self.decoder_norms)}"
            )
        check_norm_kinds(self.encoder_norms, "ColorGANConfig.encoder_norms")
        check_norm_kinds(self.decoder_norms, "ColorGANConfig.decoder_norms")

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** len(self.encoder_widths)


# The generator of the released code's IBN model: BN everywhere except the keras-contrib
# InstanceNormalization(axis=None) ('layer') in the last decoder block; all convs SN, with bias.
COLORGAN_RELEASED_CODE = ColorGANConfig(
    decoder_norms=("batch", "batch", "batch", "batch", "batch", "layer"),
    spectral_norm=True,
)

# Same architecture and norm placement with a quarter of the widths: trains on a CPU.
COLORGAN_TINY = ColorGANConfig(
    encoder_widths=(16, 32, 64, 128, 128, 128, 128),
    decoder_widths=(128, 128, 128, 64, 32, 16),
    decoder_norms=("batch", "batch", "batch", "batch", "batch", "layer"),
    spectral_norm=True,
)


@dataclass(frozen=True)
class Pix2PixUNetConfig:
    """junyanz pix2pix U-Net (unet_256 by default)."""

    in_channels: int = 1
    out_channels: int = 2
    num_downs: int = 8  # 8 -> 1x1 bottleneck at 256
    ngf: int = 64  # width of the first block; doubles per level up to 8 * ngf
    norm: str = "batch"
    dropout: float = 0.5  # in the up blocks of the (num_downs - 5) innermost 8*ngf levels
    spectral_norm: bool = False  # SN on every conv and transposed conv
    bias: bool | None = None  # None: pix2pix's rule, no bias before batch norm

    def __post_init__(self) -> None:
        if self.num_downs < 5:
            raise ValueError(f"Pix2PixUNetConfig.num_downs must be at least 5; got {self.num_downs}")
        check_norm_kinds((self.norm,), "Pix2PixUNetConfig.norm")

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.num_downs


# ----------------------------------------------------------------------------- raw2rgb generator (uresnet.py)


@dataclass(frozen=True)
class SGANGeneratorConfig:
    """The raw2rgb generator; defaults give the paper's 24,352,448-parameter net."""

    in_channels: int = 4  # packed Bayer planes R, G, B, G at half resolution
    out_channels: int = 3  # RGB at the packed resolution
    width: int = 64  # E1 width; E2..E4 = 2w, 4w, 8w; the saliency decoder's latent width
    num_resblocks: int = 4  # bottleneck ResBlocks at 8w
    norm: str = "instance"  # InstanceNorm without affine, as in the code
    spectral_norm: bool = True  # SN on every conv
    saliency_decoder: bool = True  # build the saliency branch (needed for the stage-1 attention loss)
    bias: bool = False  # conv bias (the code has none)
    # Our extension for a developer at sensor resolution (the paper: 1 and False):
    output_scale: int = 1  # 1: RGB at the packed resolution; 2: a pixel-shuffle head, RGB at sensor resolution
    residual: bool = False  # output_scale 2 only: add a bilinear demosaic of the (RGGB) input, learn the rest

    def __post_init__(self) -> None:
        check_norm_kinds((self.norm,), "SGANGeneratorConfig.norm")
        if self.output_scale not in (1, 2):
            raise ValueError(f"SGANGeneratorConfig.output_scale must be 1 or 2, got {self.output_scale}")
        if self.residual and (self.output_scale != 2 or self.in_channels != 4 or self.out_channels != 3):
            raise ValueError("SGANGeneratorConfig.residual needs output_scale 2 and 4 -> 3 channels")

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 8


# Small widths for CPU training, CI smoke tests and shipped weights.
SGAN_TINY = SGANGeneratorConfig(width=16)


# ----------------------------------------------------------------------------- discriminators (patchgan.py)


@dataclass(frozen=True)
class PatchGANConfig:
    """pix2pix NLayerDiscriminator (70x70 for n_layers=3), optionally multi-scale."""

    in_channels: int = 3  # condition + output, concatenated
    ndf: int = 64  # width of the first block; doubles per block up to 8 * ndf
    n_layers: int = 3  # pix2pix meaning: n_layers + 1 conv blocks, then the 1-channel conv
    norm: str = "batch"  # norm of every block but the first
    # Per-block norms (n_layers + 1 entries, first is the input block); overrides norm when given.
    norms: tuple[str, ...] | None = None
    spectral_norm: bool = False  # SN on every conv
    num_scales: int = 1  # multi-scale: one D per scale, input avg-pooled by 2 for each further one
    bias: bool | None = None  # None: pix2pix's rule, no bias before batch norm (but in the input and output convs)
    last_stride: int = 1  # stride of the widest block: 1 in pix2pix, 2 in the ColorGAN code
    same_padding: bool = False  # TF 'same' padding (ColorGAN code) instead of pix2pix's padding 1
    instance_affine: bool = False  # learnable gamma/beta for 'instance' norms

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.num_scales < 1:
            raise ValueError(
                f"PatchGANConfig: n_layers and num_scales must be >= 1; got {self.n_layers}, {self.num_scales}"
            )
        if self.norms is not None and len(self.norms) != self.n_layers + 1:
            raise ValueError(
                f"PatchGANConfig.norms needs n_layers + 1 = {self.n_layers + 1} entries; got {len(self.norms)}"
            )
        if self.last_stride not in (1, 2):
            raise ValueError(f"PatchGANConfig.last_stride must be 1 or 2; got {self.last_stride}")
        check_norm_kinds(self.block_norms, "PatchGANConfig.norms")

    @property
    def block_norms(self) -> tuple[str, ...]:
        """The norm of each of the n_layers + 1 blocks."""
        return self.norms if self.norms is not None else ("none",) + (self.norm,) * self.n_layers


# The released ColorGAN code's IBN discriminator: inputs concat(L, ab), BN except the 'layer'
# norm in block 2, all stride 2 with TF 'same' padding, keras biases, SN on every conv.
COLORGAN_RELEASED_CODE_DISC = PatchGANConfig(
    in_channels=3,
    norms=("none", "layer", "batch", "batch"),
    spectral_norm=True,
    bias=True,
    last_stride=2,
    same_padding=True,
)

# Discriminator for COLORGAN_TINY: the released-code layout at a quarter of the width.
COLORGAN_TINY_DISC = dataclasses.replace(COLORGAN_RELEASED_CODE_DISC, ndf=16)


@dataclass(frozen=True)
class SGANDiscriminatorConfig:
    """The raw2rgb discriminator: SN + IN + reflection padding, receptive field 104 px."""

    in_channels: int = 7  # concat(packed raw 4, rgb 3)
    width: int = 64  # first width; blocks at w, 2w, 4w, 8w
    norm: str = "instance"
    spectral_norm: bool = True
    bias: bool = False  # conv bias (the code has none)

    def __post_init__(self) -> None:
        check_norm_kinds((self.norm,), "SGANDiscriminatorConfig.norm")


SGAN_TINY_DISC = SGANDiscriminatorConfig(width=16)


# Architecture name -> its config dataclass (rawcolour.nets.ARCHITECTURES pairs each with its module).
CONFIGS: dict[str, type] = {
    "colorgan_unet": ColorGANConfig,
    "pix2pix_unet": Pix2PixUNetConfig,
    "sgan_generator": SGANGeneratorConfig,
    "patchgan": PatchGANConfig,
    "sgan_discriminator": SGANDiscriminatorConfig,
}


def config_class(arch: str) -> type:
    """The config dataclass of an architecture name; UnknownModelError naming the known ones."""
    from rawcolour.errors import UnknownModelError

    try:
        return CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"unknown architecture {arch!r}", hint=f"choose one of {', '.join(CONFIGS)}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-safe dict of a net config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(arch: str, d: dict[str, Any]) -> Any:
    """The frozen config of arch from a dict (lists become tuples); unknown keys, a value of the
    wrong type or outside the architecture's limits (rawcolour.nets.limits) raise ValueError."""
    from rawcolour.nets.limits import check_config

    cls = config_class(arch)
    if not isinstance(d, dict):
        raise ValueError(f"a {arch} config must be a JSON object; got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {arch} config key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    check_config(arch, cls, d)
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
