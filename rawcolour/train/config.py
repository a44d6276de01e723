"""What a training run is: one flat, commented config, and the stages it resolves to.

Every loss weight, learning rate and size defaults to the model's registry recipe; a field left
at ``None`` means "the recipe's value". An override applies to every selected stage (use
``stage`` to pick one stage when its values should differ).

Each option is declared once, as a :class:`TrainConfig` field whose metadata (:func:`option`)
carries its help text, help panel, limit and whether it overrides the recipe: the
``rawcolour train`` options, :meth:`TrainConfig.overrides`, the limit checks and :func:`resolve`
are derived from it. This module stays torch-free (the CLI builds its options from it).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import MISSING, Field, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawcolour.data.names import LAYOUTS, WB_GAIN_RANGES, ZURICH_WHITE
from rawcolour.errors import UsageError
from rawcolour.io.files import atomic_write_bytes
from rawcolour.model_spec import GAN_LOSSES
from rawcolour.tasks import TASKS, check_model_task, get_task

if TYPE_CHECKING:
    from rawcolour.registry import ModelSpec, Recipe, Stage

AUGMENTS = ("flip", "rot90", "crop", "resize286")

# Fields that may differ between a run and its --resume (they change how long it runs or where,
# not what it computes).
RESUME_MUTABLE = ("max_steps", "max_minutes", "save_every", "device", "num_workers", "resume", "val_every",
                  "sample_every", "log_every")
# Fields that name the run itself: a --resume must give the same ones (data: the same folder). Not
# --out: the run continues in the folder its state is found in, wherever the folder was moved.
RUN_IDENTITY = ("task", "model", "data")

# Help panels of `rawcolour train --help` (None: the plain "Options" panel).
DATA = "Data"
RUN = "Run length and output"
RECIPE = "Recipe overrides (default: the model's registry recipe)"

# Limits a value must keep (None always passes); checked by resolve, in this order of kinds.
POSITIVE, NON_NEGATIVE, UNIT = "positive", "non-negative", "[0, 1)"


def option(default: Any = MISSING, *, help: str = "", panel: str | None = None, limit: str | None = None,
           override: bool = False, flag: str | None = None, path: bool = False,
           choices: tuple[str, ...] | None = None, argument: bool = False) -> Any:
    """A TrainConfig field with what the CLI, the checks and the recipe merge need to know about it.

    ``flag``: the option's declaration (default ``--field-name``; ``--amp/--no-amp`` for a switch
    pair); ``path``: given as a path on the command line, stored as text; ``choices``: the values
    it takes (a choice on the command line); ``override``: it replaces the registry recipe's value
    (of every selected stage when a stage has a field of this name).
    """
    meta = {"help": help, "panel": panel, "limit": limit, "override": override, "flag": flag, "path": path,
            "choices": choices, "argument": argument}
    if default is MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """One training run. ``None`` = the registry recipe's value."""

    task: str = option(argument=True, choices=TASKS, help="colourise or raw2rgb.")
    model: str = option(help="Registry name (see `rawcolour models list`).")
    # folder of photos (colourise, --synthetic-raw) or paired RAW data (raw2rgb)
    data: str = option(path=True, panel=DATA, help="Training folder: colour photos (colourise, --synthetic-raw) "
                       "or paired RAW data (Zurich or RAW2RGB-GAN layout).")
    # run folder: config.json, log.jsonl, checkpoints/, last.safetensors, samples/ (None: runs/MODEL)
    out: str | None = option(None, path=True, panel=RUN, help="Run folder (default runs/MODEL).")
    resume: bool = option(False, panel=RUN, help="Continue the run in --out exactly where it stopped "
                          "(its saved options are used).")
    val: str | None = option(None, path=True, panel=DATA, help="Validation folder (same kind as --data); "
                             "default: a held-out split of --data.")
    synthetic_raw: bool = option(False, panel=DATA, help="raw2rgb from ordinary colour photos: unprocess each "
                                 "crop with a random camera.")
    synthetic_gains: str = option(  # white-balance gain ranges of the synthetic cameras (data.names.WB_GAIN_RANGES)
        "brooks", panel=DATA, choices=tuple(WB_GAIN_RANGES),
        help="White-balance gains of the synthetic cameras: brooks (Brooks et al., modern sensors) or wide "
             "(also nearly balanced and blue-starved sensors).")
    layout: str = option("auto", panel=DATA, choices=LAYOUTS, help="Paired RAW folder layout.")
    saliency: str | None = option(None, path=True, panel=DATA, help="Folder of precomputed saliency maps named "
                                  "like the targets (default: computed and cached).")
    saliency_cache: str | None = option(None, path=True, panel=DATA, help="Cache folder of computed saliency "
                                        "maps (default RUN/saliency_cache).")  # None: OUT/saliency_cache
    max_samples: int | None = option(None, panel=DATA, limit=POSITIVE,  # sorted, e.g. 200 photos
                                     help="Use only the first N training items.")
    val_split: float = option(0.05, panel=DATA, limit=UNIT,  # when there is no val folder
                              help="Fraction held out for validation without --val.")
    val_max: int = option(64, panel=DATA, help="At most this many validation samples.")
    cfa: str = option("RGGB", panel=DATA, help="Bayer pattern of Zurich mosaics.")
    black: float = option(0.0, panel=DATA, help="Black level of Zurich mosaics.")
    white: float = option(ZURICH_WHITE, panel=DATA, help="White level of Zurich mosaics.")
    # torchvision VGG16 state dict (.pth / .safetensors) for the perceptual loss
    vgg_weights: str | None = option(None, path=True, help="torchvision VGG16 ImageNet weights (.pth/.safetensors) "
                                     "for the perceptual loss.")
    init: str | None = option(None, path=True, help="Start from this checkpoint's weights (e.g. stage 1 for "
                              "--stage 2).")
    stage: str = option("all", help="Recipe stage to run: 1, 2 (raw2rgb), main, or all.")

    # recipe overrides
    epochs: int | None = option(None, panel=RECIPE, limit=POSITIVE, override=True,
                                help="Epochs of each selected stage.")
    batch_size: int | None = option(None, panel=RECIPE, limit=POSITIVE, override=True, help="Per process.")
    crop_size: int | None = option(None, panel=RECIPE, limit=POSITIVE, override=True,
                                   help="Network-input pixels (raw2rgb: packed; the photo crop is twice this).")
    gan_loss: str | None = option(None, panel=RECIPE, override=True, choices=GAN_LOSSES,
                                  help="GAN loss of the stages with a discriminator.")
    lr_g: float | None = option(None, panel=RECIPE, limit=POSITIVE, override=True,
                                help="Generator learning rate.")
    lr_d: float | None = option(None, panel=RECIPE, limit=POSITIVE, override=True,
                                help="Discriminator learning rate.")
    beta1: float | None = option(None, panel=RECIPE, limit=UNIT, override=True, help="Adam's beta1.")
    beta2: float | None = option(None, panel=RECIPE, limit=UNIT, override=True, help="Adam's beta2.")
    lambda_l1: float | None = option(None, panel=RECIPE, limit=NON_NEGATIVE, override=True,
                                     help="Weight of the L1 loss.")
    lambda_gan: float | None = option(None, panel=RECIPE, limit=NON_NEGATIVE, override=True,
                                      help="Weight of the generator's GAN loss.")
    lambda_attention: float | None = option(None, panel=RECIPE, limit=NON_NEGATIVE, override=True,
                                            help="Weight of the saliency attention loss (raw2rgb).")
    lambda_perc: float | None = option(None, panel=RECIPE, limit=NON_NEGATIVE, override=True,
                                       help="VGG16 conv4_3 perceptual weight; 0 trains without --vgg-weights.")
    # L1 of the saliency decoder to the saliency target (0: as the reference code); no recipe has it
    lambda_saliency: float = option(0.0, panel=RECIPE, limit=NON_NEGATIVE, override=True,
                                    help="Direct L1 of the saliency decoder to its target (0: as the reference "
                                         "code).")
    # Zhang et al.'s class rebalancing of the colour L1 (rawcolour.train.rebalance); no recipe has it
    ab_rebalance: float = option(0.0, panel=RECIPE, limit=UNIT, override=True,
                                 help="Weigh each pixel's colour L1 by the rarity of its true a/b in the training "
                                      "photos (colourise): 0 off, 0.5 as Zhang et al., towards 1 inverse frequency.")
    lr_halve_every: int | None = option(None, panel=RECIPE, limit=NON_NEGATIVE, override=True,
                                        help="Epochs; 0 = constant.")
    lr_decay_epochs: int | None = option(None, panel=RECIPE, limit=NON_NEGATIVE, override=True,  # pix2pix
                                         help="Linear decay to 0 over the last N epochs of a stage.")
    augment: tuple[str, ...] | None = option(None, panel=RECIPE, override=True,  # subset of AUGMENTS
                                             help="Comma list of flip, rot90, crop, resize286, or none.")

    # run length, I/O, engineering
    max_steps: int | None = option(None, panel=RUN, limit=POSITIVE,  # counted across resumes
                                   help="Stop after N optimiser steps in total.")
    max_minutes: float | None = option(None, panel=RUN, limit=POSITIVE,  # wall time of this invocation
                                       help="Stop (and save) after M minutes.")
    # plus one checkpoint at the end of each stage and of the run
    save_every: int = option(1000, panel=RUN, limit=POSITIVE, help="Steps between checkpoints.")
    val_every: int | None = option(None, panel=RUN, limit=POSITIVE,
                                   help="Steps between validations (default: every epoch).")
    sample_every: int | None = option(None, panel=RUN, limit=POSITIVE,
                                      help="Steps between sample grids (default: every epoch).")
    log_every: int = option(1, panel=RUN, limit=POSITIVE, help="Steps between loss records.")
    seed: int = option(0, help="Seed of the initialisation, the crops and the synthetic cameras.")
    device: str = option("auto", help="auto, cpu, cuda, cuda:N or mps.")
    # mixed precision on CUDA (bf16 where supported, else fp16 + GradScaler); no-op elsewhere
    amp: bool = option(True, flag="--amp/--no-amp", help="Mixed precision on CUDA.")
    num_workers: int | None = option(None, help="DataLoader workers (default 0 on CPU, 4 on CUDA; spawned, "
                                     "not forked).")
    cache_photos: bool = option(True, flag="--cache-photos/--no-cache-photos",
                                help="Keep decoded photos in memory (up to 1 GiB).")  # when the set is small

    def __post_init__(self) -> None:
        if self.out is None:
            self.out = str(Path("runs") / self.model)

    def overrides(self) -> dict[str, Any]:
        """The recipe values this run changes (for checkpoint metadata)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata["override"] and getattr(self, f.name) != f.default}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["augment"] is not None:
            d["augment"] = list(d["augment"])
        return d

    def resume_record(self) -> dict[str, Any]:
        """What a resume state keeps of the options: :meth:`to_dict` plus ``absolute_paths``, each path
        option as an absolute path too, so that a resume matches the run's folders whether it is
        started from another working folder or after the project folder moved."""
        d = self.to_dict()
        d["absolute_paths"] = {f.name: str(Path(d[f.name]).absolute()) for f in dataclasses.fields(self)
                               if f.metadata.get("path") and d[f.name] is not None}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if d.get("augment") is not None:
            d["augment"] = tuple(d["augment"])
        return cls(**d)


def merge_resume_config(given: TrainConfig, saved: TrainConfig,
                        absolute_paths: dict[str, str] | None = None) -> TrainConfig:
    """The saved options of a run, plus the run-length ones from the command line (RESUME_MUTABLE);
    an option given on the command line that differs from the saved one raises. A path option is
    the same when its spelling, its folder, or the folder it named when saved
    (``absolute_paths``, :meth:`TrainConfig.resume_record`) matches; the command line's spelling
    is kept."""
    absolute_paths = absolute_paths or {}
    defaults = TrainConfig(task=given.task, model=given.model, data=given.data)
    merged = dataclasses.replace(saved)
    for f in dataclasses.fields(TrainConfig):
        new, old = getattr(given, f.name), getattr(saved, f.name)
        if f.name in RESUME_MUTABLE or f.name == "out":  # about this invocation: always the command line's
            setattr(merged, f.name, new)
            continue
        path = f.metadata.get("path")
        if path and new is not None and old is not None:
            same = str(Path(new)) == str(Path(old)) or Path(new).resolve() in (
                Path(old).resolve(), Path(absolute_paths.get(f.name, old)).resolve())
            if same:
                setattr(merged, f.name, new)  # as spelt here, where the run goes on
        else:
            same = new == old
        if path and new is None and old is not None and not Path(old).exists() and f.name in absolute_paths:
            setattr(merged, f.name, absolute_paths[f.name])  # relative to the folder the run was started in
        if f.name in RUN_IDENTITY:
            if not same:
                raise UsageError(f"--resume: the run was trained with {f.name} {old!r}, not {new!r}")
            continue
        if new is not None and new != getattr(defaults, f.name) and not same:
            raise UsageError(f"--resume continues with the run's own options: {f.name.replace('_', '-')} "
                             f"was {old!r}, not {new!r}", hint="start a new run (another --out) to change it")
    return merged


def config_fields() -> tuple[Field, ...]:
    """TrainConfig's fields, each with its :func:`option` metadata."""
    return dataclasses.fields(TrainConfig)


@dataclass(frozen=True)
class StagePlan:
    """A recipe stage with every override applied: what the loop runs (registry.Stage's field names,
    plus ``lambda_saliency``, which no recipe sets)."""

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

    @property
    def needs_saliency(self) -> bool:
        return any(s.needs_saliency for s in self.stages)

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


def _check_limits(cfg: TrainConfig) -> None:
    """Every field's declared limit, kind by kind (positive, then non-negative, then [0, 1))."""
    for kind in (POSITIVE, NON_NEGATIVE, UNIT):
        for f in config_fields():
            value = getattr(cfg, f.name)
            if f.metadata["limit"] != kind or value is None:
                continue
            flag = f"--{f.name.replace('_', '-')}"
            if not math.isfinite(value):
                raise UsageError(f"{flag} must be a finite number, got {value}")
            if kind == UNIT and not 0 <= value < 1:
                raise UsageError(f"{flag} must be in [0, 1), got {value}")
            if kind != UNIT and (value < 0 or (value == 0 and kind == POSITIVE)):
                raise UsageError(f"{flag} must be {'>= 0' if kind == NON_NEGATIVE else 'positive'}, got {value}")


def _check_options(cfg: TrainConfig, spec: ModelSpec) -> None:
    """Contradictory or unknown options raise UsageError before anything is built."""
    from rawcolour.inference.options import check_device
    from rawcolour.io.mosaic import check_cfa
    from rawcolour.io.packed_png import check_levels

    check_device(cfg.device)
    check_cfa(cfg.cfa)
    check_levels(cfg.black, cfg.white)
    task = get_task(cfg.task)
    check_model_task(spec.name, spec.task, cfg.task,
                     hint=f"use `rawcolour train {spec.task}` or pick a {cfg.task} model")
    if not spec.learned or spec.recipe is None:
        raise UsageError(f"model {spec.name!r} is a baseline without a network: there is nothing to train")
    if cfg.synthetic_raw and not task.reads_raw:
        raise UsageError("--synthetic-raw is for raw2rgb training")
    if cfg.synthetic_gains not in WB_GAIN_RANGES:
        raise UsageError(f"unknown --synthetic-gains {cfg.synthetic_gains!r}", hint=f"use {' or '.join(WB_GAIN_RANGES)}")
    if cfg.ab_rebalance and task.reads_raw:
        raise UsageError("--ab-rebalance is for colourise training (it weighs the a/b loss)")
    if cfg.saliency and not task.attention_loss:
        raise UsageError("--saliency is for raw2rgb training (the attention loss)")
    if cfg.gan_loss is not None and cfg.gan_loss not in GAN_LOSSES:
        raise UsageError(f"unknown --gan-loss {cfg.gan_loss!r}", hint=f"use one of {', '.join(GAN_LOSSES)}")
    if cfg.augment is not None:
        bad = [a for a in cfg.augment if a not in AUGMENTS]
        if bad:
            raise UsageError(f"unknown augmentation {bad[0]!r}", hint=f"use a comma list of {', '.join(AUGMENTS)}")
    _check_limits(cfg)


def _plan_stage(cfg: TrainConfig, stage: Stage) -> StagePlan:
    """A recipe stage with the config's overrides of the same names applied."""
    values = dataclasses.asdict(stage)
    for name in values:
        given = getattr(cfg, name, None)
        if given is not None and name != "name":
            values[name] = given
    if values["lambda_gan"] > 0 and values["lr_d"] is None:
        values["lr_d"] = values["lr_g"]  # a stage given a GAN term by override: D at G's rate
    values["lr_decay_epochs"] = min(values["lr_decay_epochs"], values["epochs"])
    values["lr_halve_every"] = values["lr_halve_every"] or None
    return StagePlan(**values, lambda_saliency=cfg.lambda_saliency)


def resolve(cfg: TrainConfig) -> RunPlan:
    """Registry recipe + overrides -> RunPlan; contradictory or impossible options raise UsageError."""
    from rawcolour.registry import get_spec

    spec = get_spec(cfg.model)
    _check_options(cfg, spec)
    recipe: Recipe = spec.recipe
    if cfg.stage == "all":
        chosen = recipe.stages
    else:
        names = [s.name for s in recipe.stages]
        if cfg.stage not in names:
            raise UsageError(f"model {spec.name!r} has no training stage {cfg.stage!r}",
                             hint=f"stages: {', '.join(names)} or all")
        chosen = (recipe.stage(cfg.stage),)

    plan = RunPlan(
        spec=spec,
        stages=tuple(_plan_stage(cfg, s) for s in chosen),
        gan_loss=_pick(cfg.gan_loss, recipe.gan_loss),
        betas=(_pick(cfg.beta1, recipe.betas[0]), _pick(cfg.beta2, recipe.betas[1])),
        batch_size=_pick(cfg.batch_size, recipe.batch_size),
        crop_size=_pick(cfg.crop_size, recipe.crop_size),
        augment=tuple(_pick(cfg.augment, recipe.augment)),
        init_std=recipe.init_std,
    )
    _check_plan(cfg, plan)
    return plan


def _check_plan(cfg: TrainConfig, plan: RunPlan) -> None:
    spec, pol = plan.spec, plan.spec.policy
    if plan.crop_size % pol.size_multiple or plan.crop_size < pol.min_size:
        raise UsageError(
            f"--crop-size {plan.crop_size} does not suit {spec.name}",
            hint=f"use a multiple of {pol.size_multiple} of at least {max(pol.min_size, pol.size_multiple)}",
        )
    if plan.needs_saliency and not get_task(cfg.task).attention_loss:
        raise UsageError("the attention / saliency losses are raw2rgb losses", hint="set --lambda-attention 0")
    if plan.uses_perceptual and not cfg.vgg_weights:
        stage = next(s for s in plan.stages if s.lambda_perc > 0)
        raise UsageError(
            f"stage {stage.name} of {spec.name} needs the VGG16 perceptual loss, and no --vgg-weights file was given",
            hint="pass --vgg-weights vgg16-397923af.pth (torchvision's ImageNet VGG16, .pth or .safetensors; "
                 "nothing is downloaded), or switch that loss off with --lambda-perc 0",
        )




def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write_bytes(path, text.encode(), what="JSON file")


__all__ = ["AUGMENTS", "RESUME_MUTABLE", "RUN_IDENTITY", "RunPlan", "StagePlan", "TrainConfig",
           "merge_resume_config", "resolve", "write_json_atomic"]
