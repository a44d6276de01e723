"""What a training run is: one flat, commented config, and the stages it resolves to.

Every loss weight, learning rate and size defaults to the model's registry recipe; a field left
at ``None`` means "the recipe's value". An override applies to every selected stage (use
``stage`` to pick one stage when its values should differ).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawcolour.io.files import atomic_write_bytes
from rawcolour.errors import UsageError
from rawcolour.registry import ModelSpec, Recipe, Stage, get_spec
from rawcolour.tasks import get_task
from rawcolour.data.unprocess import WB_GAIN_RANGES

GAN_LOSSES = ("vanilla", "nonsaturating", "lsgan")
AUGMENTS = ("flip", "rot90", "crop", "resize286")

# Fields that may differ between a run and its --resume (they change how long it runs or where,
# not what it computes).
RESUME_MUTABLE = ("max_steps", "max_minutes", "save_every", "device", "num_workers", "resume", "val_every",
                  "sample_every", "log_every")


@dataclass
class TrainConfig:
    """One training run. ``None`` = the registry recipe's value."""

    task: str  # "colourise" | "raw2rgb"
    model: str  # registry name
    data: str  # folder of photos (colourise, --synthetic-raw) or paired RAW data (raw2rgb)
    out: str = "runs/train"  # run folder: config.json, log.jsonl, checkpoints/, last.safetensors, samples/
    val: str | None = None  # validation folder (same kind as data); None: a held-out split of data
    val_split: float = 0.05  # fraction of data held out when there is no val folder
    val_max: int = 64  # at most this many validation samples
    max_samples: int | None = None  # use only the first N training items (sorted), e.g. 200 photos
    synthetic_raw: bool = False  # raw2rgb from ordinary colour photos via unprocessing
    synthetic_gains: str = "brooks"  # white-balance gain ranges of the synthetic cameras (unprocess.WB_GAIN_RANGES)
    layout: str = "auto"  # paired raw layout: auto | zurich | rawgan
    cfa: str = "RGGB"  # Zurich mosaics
    black: float = 0.0
    white: float = 1020.0
    saliency: str | None = None  # folder of precomputed saliency maps named like the targets
    saliency_cache: str | None = None  # where computed maps are cached; None: OUT/saliency_cache
    vgg_weights: str | None = None  # torchvision VGG16 state dict (.pth / .safetensors) for the perceptual loss
    init: str | None = None  # start from this checkpoint's weights (e.g. a stage-1 run for --stage 2)
    stage: str = "all"  # a stage name of the recipe ("1", "2", "main") or "all"

    # recipe overrides
    epochs: int | None = None  # per selected stage
    batch_size: int | None = None  # per process
    crop_size: int | None = None  # network-input pixels (raw2rgb: packed pixels, the photo crop is 2x)
    gan_loss: str | None = None  # vanilla | nonsaturating | lsgan
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    lambda_l1: float | None = None
    lambda_gan: float | None = None
    lambda_attention: float | None = None
    lambda_perc: float | None = None
    lambda_saliency: float = 0.0  # L1 of the saliency decoder to the saliency target (0: as the reference code)
    lr_halve_every: int | None = None  # epochs; 0 = constant
    lr_decay_epochs: int | None = None  # pix2pix linear decay over the last N epochs of a stage
    augment: tuple[str, ...] | None = None  # subset of AUGMENTS

    # run length, I/O, engineering
    max_steps: int | None = None  # stop after this many optimiser steps in total (counted across resumes)
    max_minutes: float | None = None  # stop (and save) after this much wall time in this invocation
    save_every: int = 1000  # steps between checkpoints (plus one at the end of each stage and the run)
    val_every: int | None = None  # steps between validations; None: at the end of every epoch
    sample_every: int | None = None  # steps between sample grids; None: at the end of every epoch
    log_every: int = 1  # steps between loss records in log.jsonl
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16 + GradScaler); no-op elsewhere
    num_workers: int | None = None  # DataLoader workers; None: 0 on CPU, 4 on CUDA
    cache_photos: bool = True  # keep decoded photos in memory (up to 1 GiB) when the set is small
    resume: bool = False

    def overrides(self) -> dict[str, Any]:
        """The recipe values this run changes (for checkpoint metadata)."""
        keys = ("epochs", "batch_size", "crop_size", "gan_loss", "lr_g", "lr_d", "beta1", "beta2", "lambda_l1",
                "lambda_gan", "lambda_attention", "lambda_perc", "lr_halve_every", "lr_decay_epochs", "augment")
        out = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.lambda_saliency:
            out["lambda_saliency"] = self.lambda_saliency
        return out

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["augment"] is not None:
            d["augment"] = list(d["augment"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if d.get("augment") is not None:
            d["augment"] = tuple(d["augment"])
        return cls(**d)


@dataclass(frozen=True)
class StagePlan:
    """A recipe stage with every override applied: what the loop runs."""

    name: str
    epochs: int
    lr_g: float
    lr_d: float | None  # None: no discriminator in this stage
    lambda_l1: float
    lambda_gan: float
    lambda_attention: float
    lambda_perc: float
    lambda_saliency: float
    lr_halve_every: int | None
    lr_decay_epochs: int

    @property
    def uses_discriminator(self) -> bool:
        return self.lambda_gan > 0

    @property
    def needs_saliency(self) -> bool:
        return self.lambda_attention > 0 or self.lambda_saliency > 0

    def lr_factor(self, epoch: int) -> float:
        """Multiplier of both learning rates in this (0-based) epoch of the stage."""
        f = 1.0
        if self.lr_halve_every:
            f *= 0.5 ** (epoch // self.lr_halve_every)
        if self.lr_decay_epochs:
            # pix2pix: constant, then linearly towards 0 over the last lr_decay_epochs epochs
            f *= 1.0 - max(0, epoch + 1 - (self.epochs - self.lr_decay_epochs)) / float(self.lr_decay_epochs + 1)
        return f


@dataclass(frozen=True)
class RunPlan:
    """Everything resolved from the registry and the config."""

    spec: ModelSpec
    stages: tuple[StagePlan, ...]
    gan_loss: str
    betas: tuple[float, float]
    batch_size: int
    crop_size: int
    augment: tuple[str, ...]
    init_std: float

    @property
    def uses_discriminator(self) -> bool:
        return any(s.uses_discriminator for s in self.stages)

    @property
    def uses_perceptual(self) -> bool:
        return any(s.lambda_perc > 0 for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.spec.name,
            "stages": [dataclasses.asdict(s) for s in self.stages],
            "gan_loss": self.gan_loss,
            "betas": list(self.betas),
            "batch_size": self.batch_size,
            "crop_size": self.crop_size,
            "augment": list(self.augment),
            "init_std": self.init_std,
        }


def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override


def _check_positive(name: str, value: float | int | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"--{name.replace('_', '-')} must be {'>= 0' if allow_zero else 'positive'}, got {value}")


def resolve(cfg: TrainConfig) -> RunPlan:
    """Registry recipe + overrides -> RunPlan; contradictory or impossible options raise UsageError."""
    spec = get_spec(cfg.model)
    get_task(cfg.task)
    if spec.task != cfg.task:
        raise UsageError(f"model {spec.name!r} is a {spec.task} model, not {cfg.task}",
                         hint=f"use `rawcolour train {spec.task}` or pick a {cfg.task} model")
    if not spec.learned or spec.recipe is None:
        raise UsageError(f"model {spec.name!r} is a baseline without a network: there is nothing to train")
    recipe: Recipe = spec.recipe
    if cfg.synthetic_raw and cfg.task != "raw2rgb":
        raise UsageError("--synthetic-raw is for raw2rgb training")
    if cfg.synthetic_gains not in WB_GAIN_RANGES:
        raise UsageError(f"unknown --synthetic-gains {cfg.synthetic_gains!r}", hint=f"use {' or '.join(WB_GAIN_RANGES)}")
    if cfg.saliency and cfg.task != "raw2rgb":
        raise UsageError("--saliency is for raw2rgb training (the attention loss)")
    if cfg.gan_loss is not None and cfg.gan_loss not in GAN_LOSSES:
        raise UsageError(f"unknown --gan-loss {cfg.gan_loss!r}", hint=f"use one of {', '.join(GAN_LOSSES)}")
    if cfg.augment is not None:
        bad = [a for a in cfg.augment if a not in AUGMENTS]
        if bad:
            raise UsageError(f"unknown augmentation {bad[0]!r}", hint=f"use a comma list of {', '.join(AUGMENTS)}")
    for name in ("epochs", "batch_size", "crop_size", "lr_g", "lr_d", "max_steps", "max_minutes", "save_every",
                 "val_every", "sample_every", "log_every", "max_samples"):
        _check_positive(name, getattr(cfg, name))
    for name in ("lambda_l1", "lambda_gan", "lambda_attention", "lambda_perc", "lambda_saliency", "lr_halve_every",
                 "lr_decay_epochs"):
        _check_positive(name, getattr(cfg, name), allow_zero=True)
    if not 0 <= cfg.val_split < 1:
        raise UsageError(f"--val-split must be in [0, 1), got {cfg.val_split}")
    for name in ("beta1", "beta2"):
        v = getattr(cfg, name)
        if v is not None and not 0 <= v < 1:
            raise UsageError(f"--{name} must be in [0, 1), got {v}")

    if cfg.stage == "all":
        chosen = recipe.stages
    else:
        names = [s.name for s in recipe.stages]
        if cfg.stage not in names:
            raise UsageError(f"model {spec.name!r} has no training stage {cfg.stage!r}",
                             hint=f"stages: {', '.join(names)} or all")
        chosen = (recipe.stage(cfg.stage),)

    stages = []
    for s in chosen:
        s: Stage
        lambda_gan = _pick(cfg.lambda_gan, s.lambda_gan)
        lr_d = _pick(cfg.lr_d, s.lr_d)
        if lambda_gan > 0 and lr_d is None:
            lr_d = _pick(cfg.lr_g, s.lr_g)  # a stage given a GAN term by override: D at G's rate
        epochs = _pick(cfg.epochs, s.epochs)
        decay = _pick(cfg.lr_decay_epochs, s.lr_linear_decay_epochs)
        if decay > epochs:
            decay = epochs
        halve = _pick(cfg.lr_halve_every, s.lr_halve_every) or None
        stages.append(StagePlan(
            name=s.name, epochs=epochs, lr_g=_pick(cfg.lr_g, s.lr_g), lr_d=lr_d,
            lambda_l1=_pick(cfg.lambda_l1, s.lambda_l1), lambda_gan=lambda_gan,
            lambda_attention=_pick(cfg.lambda_attention, s.lambda_attention),
            lambda_perc=_pick(cfg.lambda_perc, s.lambda_perceptual), lambda_saliency=cfg.lambda_saliency,
            lr_halve_every=halve, lr_decay_epochs=decay,
        ))
    plan = RunPlan(
        spec=spec,
        stages=tuple(stages),
        gan_loss=_pick(cfg.gan_loss, recipe.gan_loss),
        betas=(_pick(cfg.beta1, recipe.betas[0]), _pick(cfg.beta2, recipe.betas[1])),
        batch_size=_pick(cfg.batch_size, recipe.batch_size),
        crop_size=_pick(cfg.crop_size, recipe.crop_size),
        augment=tuple(_pick(cfg.augment, recipe.augment)),
        init_std=recipe.init_std,
    )
    pol = spec.policy
    if plan.crop_size % pol.size_multiple or plan.crop_size < pol.min_size:
        raise UsageError(
            f"--crop-size {plan.crop_size} does not suit {spec.name}",
            hint=f"use a multiple of {pol.size_multiple} of at least {max(pol.min_size, pol.size_multiple)}",
        )
    if cfg.task == "colourise" and any(s.needs_saliency for s in plan.stages):
        raise UsageError("the attention / saliency losses are raw2rgb losses", hint="set --lambda-attention 0")
    if plan.uses_perceptual and not cfg.vgg_weights:
        stage = next(s for s in plan.stages if s.lambda_perc > 0)
        raise UsageError(
            f"stage {stage.name} of {spec.name} needs the VGG16 perceptual loss, and no --vgg-weights file was given",
            hint="pass --vgg-weights vgg16-397923af.pth (torchvision's ImageNet VGG16, .pth or .safetensors; "
                 "nothing is downloaded), or switch that loss off with --lambda-perc 0",
        )
    return plan


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write_bytes(path, text.encode(), what="JSON file")


__all__ = ["AUGMENTS", "GAN_LOSSES", "RunPlan", "StagePlan", "TrainConfig", "resolve", "write_json_atomic",
           "RESUME_MUTABLE"]
