"""What a registry entry is: :class:`ModelSpec` and its parts (networks, I/O, inference policy,
training recipe and stages). Torch-free; the table of entries is :mod:`rawcolour.registry`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rawcolour.errors import UnknownModelError
from rawcolour.nets.configs import config_from_dict, config_to_dict

if TYPE_CHECKING:
    from torch import nn

__all__ = ["GAN_LOSSES", "TILING_MODES", "GanLoss", "IOSpec", "InferencePolicy", "ModelSpec", "NetSpec", "Recipe",
           "Stage", "Task", "Tiling"]

Task = Literal["colourise", "raw2rgb"]

# The adversarial losses a recipe may name (rawcolour.train.losses.GANLoss defines them).
GAN_LOSSES = ("vanilla", "nonsaturating", "lsgan")
GanLoss = Literal["vanilla", "nonsaturating", "lsgan"]  # GAN_LOSSES for type checkers (a test keeps them equal)
# How a model takes tiles: raw2rgb tiles; colourisers predict at render size.
TILING_MODES = ("supported", "discouraged", "none")
Tiling = Literal["supported", "discouraged", "none"]  # TILING_MODES for type checkers (a test keeps them equal)


@dataclass(frozen=True)
class NetSpec:
    """An architecture name from `rawcolour.nets.ARCHITECTURES` and its config dataclass."""

    arch: str
    config: Any

    def build(self) -> nn.Module:
        from rawcolour.nets.build import build_net

        return build_net(self.arch, self.config)

    def to_dict(self) -> dict:
        return {"arch": self.arch, "config": config_to_dict(self.config)}

    @classmethod
    def from_dict(cls, d: dict) -> "NetSpec":
        return cls(d["arch"], config_from_dict(d["arch"], d["config"]))


@dataclass(frozen=True)
class IOSpec:
    """What the network eats and returns; stored in every checkpoint (weights cannot tell it)."""

    input_space: str  # "lab-L" | "raw-packed"
    input_channels: tuple[str, ...]  # channel order of the network input
    input_scaling: str  # how file values become network values, as a formula
    output_space: str  # "lab-ab" | "srgb"
    output_channels: tuple[str, ...]
    output_scaling: str
    cfa_order: tuple[str, ...] | None = None  # raw: packed plane order
    level_normalisation: str | None = None  # raw: black/white handling before scaling
    output_scale: int = 1  # output pixels per input pixel along each side (2: packed in, sensor resolution out)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "IOSpec":
        tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**tuples)


@dataclass(frozen=True)
class InferencePolicy:
    """How a whole picture goes through the network."""

    size_multiple: int  # input sides are reflect-padded up to a multiple of this
    tiling: Tiling  # raw2rgb tiles; colourisers predict at render size
    render_size: int | None = None  # colourise: short side the chroma is predicted at
    default_overlap: int = 32  # pixels of context on each tile side (network-input pixels)
    min_size: int = 1  # smallest side the network accepts (reflection padding needs room)
    supports_half: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InferencePolicy":
        return cls(**d)


@dataclass(frozen=True)
class Stage:
    """One training stage: which losses are on, their weights, learning rates, length."""

    name: str
    epochs: int
    lr_g: float
    lr_d: float | None = None  # None: no discriminator in this stage
    lambda_l1: float = 1.0
    lambda_gan: float = 0.0
    lambda_attention: float = 0.0
    lambda_perc: float = 0.0  # VGG16 perceptual loss weight
    lr_halve_every: int | None = None  # epochs; None: constant
    lr_decay_epochs: int = 0  # pix2pix: linear decay to 0 over the last N epochs


@dataclass(frozen=True)
class Recipe:
    """Training defaults of a model; every value is overridable from `rawcolour train`."""

    stages: tuple[Stage, ...]
    gan_loss: GanLoss = "lsgan"
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 16
    crop_size: int = 256  # network-input pixels
    init_std: float = 0.02
    augment: tuple[str, ...] = ("flip",)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise UnknownModelError(f"no training stage {name!r}", hint=f"stages: {[s.name for s in self.stages]}")


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    name: str
    task: Task
    description: str
    generator: NetSpec | None  # None for non-learned baselines (grey, classic)
    discriminator: NetSpec | None = None
    recipe: Recipe | None = None
    policy: InferencePolicy = InferencePolicy(size_multiple=1, tiling="none")
    io: IOSpec | None = None
    weights: str | None = None  # file name of shipped weights (in the models folder)
    paper: str = ""
    constant_ab: tuple[float, float] | None = None  # colourise baselines without a network: the a, b they paint

    @property
    def learned(self) -> bool:
        return self.generator is not None

    def build_generator(self) -> nn.Module:
        if self.generator is None:
            raise UnknownModelError(f"{self.name!r} is a baseline without a network")
        return self.generator.build()

    def build_discriminator(self) -> nn.Module:
        if self.discriminator is None:
            raise UnknownModelError(f"{self.name!r} has no discriminator")
        return self.discriminator.build()
