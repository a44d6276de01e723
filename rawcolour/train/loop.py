"""The training loop for both tasks: stages, TTUR, AMP, DDP under torchrun, exact resume.

Reads top to bottom like nanoGPT's train.py: distributed set-up, resume state, seeds, data,
networks (initialised N(0, 0.02) before any optimiser exists), then per stage: optimisers,
learning-rate schedule, and the step (a labelled discriminator block, then the generator block).

Run folder (``TrainConfig.out``)::

    config.json                 the resolved options, recipe stages and data summary
    log.jsonl                   one JSON record per line: start, step (losses), val, stage, end
    last.safetensors            generator (+ discriminator under "discriminator."), with metadata
    last.resume.pt              everything else --resume needs (optimisers, scalers, RNG, position)
    checkpoints/step_N.safetensors, checkpoints/stage_NAME.safetensors
    samples/step_N.png          input | output | target rows of fixed validation samples

Exact resume: every sample is drawn from its own (seed, epoch, index) generator, the sampler
order from (seed, epoch), and the sidecar restores the networks, optimisers, GradScalers, the
torch / numpy / Python RNG states of every rank and the position inside the epoch. On a CPU a
resumed run computes the same losses as an uninterrupted one.

Library code never prints: the caller passes ``progress`` (a callable taking one event dict) to
show progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

import rawcolour
from rawcolour.checkpoint import DISCRIMINATOR_PREFIX, checkpoint_metadata, load_state, read_checkpoint, save_checkpoint
from rawcolour.distributed import Ranks, init_training
from rawcolour.io.files import atomic_write_bytes, read_jsonl
from rawcolour.errors import OutputError, UsageError
from rawcolour.io.images import write_image
from rawcolour.nets import init_weights
from rawcolour.nets.uresnet import SGANGenerator
from rawcolour.train.adapters import TaskAdapter, adapter_for
from rawcolour.train.config import RESUME_MUTABLE, RunPlan, StagePlan, TrainConfig, resolve, write_json_atomic
from rawcolour.train.datasets import DataBundle, build_datasets
from rawcolour.train.losses import GANLoss, PerceptualLoss, attention_loss, l1
from rawcolour.train.resume import ResumeState, rng_state

SIDECAR = "last.resume.pt"
LAST = "last.safetensors"
_EPOCH_KEY_STRIDE = 100_000  # epoch key = stage index * stride + epoch
_SAMPLE_ROWS = 4

Progress = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------------------------- device, DDP


class ResumableSampler(DistributedSampler):
    """torch's DistributedSampler (order from seed + epoch, one shard per rank) that can start mid-epoch.

    Yields ``(epoch, index)`` pairs: the datasets seed each sample from them (see datasets.py).
    """

    def __init__(self, dataset: Any, info: Ranks, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=info.world, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.start = 0

    def set_start(self, n: int) -> None:
        self.start = int(n)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        return iter([(self.epoch, i) for i in list(super().__iter__())[self.start:]])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.start)


# ---------------------------------------------------------------------------------- small helpers


def _set_requires_grad(net: nn.Module | None, flag: bool) -> None:
    if net is not None:
        for p in net.parameters():
            p.requires_grad_(flag)


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run's log.jsonl (a line cut off by an interrupted run is skipped)."""
    return read_jsonl(path)


# ---------------------------------------------------------------------------------- the trainer


class Trainer:
    """One training run. ``Trainer(cfg).run()`` trains; tests may call ``train_step`` directly."""

    def __init__(self, cfg: TrainConfig, *, progress: Progress | None = None):
        self.t0 = time.monotonic()
        self.progress = progress or (lambda event: None)
        self.out = Path(cfg.out)

        # -- distributed set-up and device
        self.dist, self.device, self._owns_pg = init_training(cfg.device)

        # -- resume state (the run's own options win over defaults on the command line)
        self.resume_state: ResumeState | None = None
        if cfg.resume:
            self.resume_state = ResumeState.load(self.out / SIDECAR, self.dist.world)
            cfg = self._merge_resume_config(cfg, TrainConfig.from_dict(self.resume_state.config))
        elif self.dist.main and (self.out / "config.json").exists():
            raise OutputError("this folder already holds a training run", path=self.out,
                              hint="pass --resume to continue it, or choose another --out")
        self.cfg = cfg
        self.plan: RunPlan = resolve(cfg)
        self.spec = self.plan.spec
        self.task = cfg.task
        self.adapter: TaskAdapter = adapter_for(self.spec)
        if self.plan.uses_discriminator and not self.adapter.supports_discriminator:
            raise UsageError(f"{self.spec.name} writes a larger picture than it reads, so the paired discriminator "
                             "cannot judge it: train its stage 1 only", hint="--stage 1")

        # -- precision: one autocast context + GradScaler; both no-ops off CUDA
        cuda = self.device.type == "cuda"
        self.amp_dtype = (torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
        self.use_amp = bool(cfg.amp and cuda)
        self.scaler_enabled = self.use_amp and self.amp_dtype == torch.float16

        # -- seeds (identical on every rank for initialisation; DDP also broadcasts rank 0's weights)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)

        # -- data
        need_sal = any(s.needs_saliency for s in self.plan.stages)
        cache_dir = Path(cfg.saliency_cache) if cfg.saliency_cache else self.out / "saliency_cache"
        self.data: DataBundle = build_datasets(cfg, self.plan.crop_size, self.plan.augment,
                                               need_saliency=need_sal, saliency_cache=cache_dir,
                                               input_space=self.spec.io.input_space if self.spec.io else "")
        self.sampler = ResumableSampler(self.data.train, self.dist, cfg.seed)
        self.batches_per_epoch = len(self.sampler) // self.plan.batch_size
        if self.batches_per_epoch == 0:
            raise UsageError(
                f"{len(self.data.train)} training samples ({len(self.sampler)} per process) are fewer than "
                f"--batch-size {self.plan.batch_size}", hint="lower --batch-size or add data")

        # -- networks: initialised N(0, init_std) before any optimiser exists
        self.G = self.spec.build_generator()
        init_weights(self.G, self.plan.init_std)
        self.D: nn.Module | None = None
        if self.plan.uses_discriminator:
            self.D = self.spec.build_discriminator()
            init_weights(self.D, self.plan.init_std)
        if need_sal and not (isinstance(self.G, SGANGenerator) and self.G.saliency is not None):
            raise UsageError(f"{self.spec.name} has no saliency decoder: the attention loss needs one",
                             hint="set --lambda-attention 0 (and --lambda-saliency 0)")
        self.perceptual = PerceptualLoss(cfg.vgg_weights) if self.plan.uses_perceptual else None
        if cfg.init and not self.resume_state:
            self._load_init(cfg.init)
        self.G.to(self.device)
        if self.D is not None:
            self.D.to(self.device)
        if self.perceptual is not None:
            self.perceptual.to(self.device)
        self.gan = GANLoss(self.plan.gan_loss)

        # -- position: (stage index, epoch in stage, batch in epoch), optimiser steps so far
        self.stage_index, self.epoch, self.batch_in_epoch, self.step = 0, 0, 0, 0
        self.wall_before = 0.0  # wall seconds of earlier invocations (resume)
        self.last_val: dict[str, float] = {}
        self.opt_g: torch.optim.Optimizer | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        self.stage: StagePlan | None = None
        self.need_sal = False  # the current stage's losses use the saliency decoder
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.scaler_enabled)  # fresh per stage
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.scaler_enabled)
        self.g_run: nn.Module | None = None  # G or D as the step runs them (DDP-wrapped under torchrun)
        self.d_run: nn.Module | None = None
        self._active_stage = -1  # the stage the optimisers belong to
        if self.resume_state is not None:
            rs = self.resume_state
            load_state(self.G, rs.generator)
            if self.D is not None and rs.discriminator is not None:
                load_state(self.D, rs.discriminator)
            self.stage_index, self.epoch, self.batch_in_epoch = rs.stage_index, rs.epoch, rs.batch_in_epoch
            self.step, self.wall_before, self.last_val = rs.step, rs.wall_seconds, rs.last_val
        self._val_batches: list[dict[str, torch.Tensor]] | None = None
        self._loader_obj: DataLoader | None = None
        self._val_step = -1  # step of the last validation

    # ------------------------------------------------------------------ resume / init

    @staticmethod
    def _merge_resume_config(given: TrainConfig, saved: TrainConfig) -> TrainConfig:
        """The saved options, plus the run-length ones from the command line; a conflicting option raises."""
        defaults = TrainConfig(task=given.task, model=given.model, data=given.data)
        merged = dataclasses.replace(saved)
        for f in dataclasses.fields(TrainConfig):
            new, old = getattr(given, f.name), getattr(saved, f.name)
            if f.name in RESUME_MUTABLE:  # about this invocation: always the command line's
                setattr(merged, f.name, new)
                continue
            if f.name in ("task", "model", "data", "out"):
                same = str(Path(new)) == str(Path(old)) if f.name in ("data", "out") else new == old
                if not same and not (f.name in ("data", "out") and Path(new).resolve() == Path(old).resolve()):
                    raise UsageError(f"--resume: the run was trained with {f.name} {old!r}, not {new!r}")
                continue
            if new is not None and new != getattr(defaults, f.name) and new != old:
                raise UsageError(f"--resume continues with the run's own options: {f.name.replace('_', '-')} "
                                 f"was {old!r}, not {new!r}", hint="start a new run (another --out) to change it")
        return merged

    def _load_init(self, path: str) -> None:
        tensors, meta = read_checkpoint(path)
        gen = {k: v for k, v in tensors.items() if not k.startswith(DISCRIMINATOR_PREFIX)}
        load_state(self.G, gen, Path(path))
        disc = {k[len(DISCRIMINATOR_PREFIX):]: v for k, v in tensors.items() if k.startswith(DISCRIMINATOR_PREFIX)}
        if self.D is not None and disc:
            load_state(self.D, disc, Path(path))

    # ------------------------------------------------------------------ stage set-up

    def _begin_stage(self, index: int) -> None:
        """Optimisers (fresh per stage, Adam with the recipe's betas), scalers and DDP wrappers."""
        st = self.plan.stages[index]
        self.stage = st
        self.need_sal = st.needs_saliency
        betas = self.plan.betas
        self.G.train()
        _set_requires_grad(self.G, True)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=st.lr_g, betas=betas)
        self.opt_d = None
        if st.uses_discriminator:
            assert self.D is not None
            self.D.train()
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=st.lr_d, betas=betas)
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.scaler_enabled)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.scaler_enabled)
        rs = self.resume_state
        if rs is not None and rs.opt_stage_index == index:
            self.opt_g.load_state_dict(rs.opt_g)
            if self.opt_d is not None and rs.opt_d is not None:
                self.opt_d.load_state_dict(rs.opt_d)
            self.scaler_g.load_state_dict(rs.scaler_g)
            self.scaler_d.load_state_dict(rs.scaler_d)
        # DDP: the saliency decoder is unused in stages without a saliency loss
        unused = isinstance(self.G, SGANGenerator) and self.G.saliency is not None and not self.need_sal
        if self.dist.enabled:
            self.g_run = DDP(self.G, find_unused_parameters=unused)
            self.d_run = DDP(self.D) if st.uses_discriminator else None
        else:
            self.g_run, self.d_run = self.G, (self.D if st.uses_discriminator else None)

    def _set_lr(self) -> None:
        assert self.stage is not None and self.opt_g is not None
        f = self.stage.lr_factor(self.epoch)
        # each optimiser keeps its own base rate (the reference code overwrote D's with G's)
        for g in self.opt_g.param_groups:
            g["lr"] = self.stage.lr_g * f
        if self.opt_d is not None:
            for g in self.opt_d.param_groups:
                g["lr"] = self.stage.lr_d * f  # type: ignore[operator]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(self.device.type, dtype=self.amp_dtype)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ one step

    def prepare(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A collated batch -> (network input, target, saliency) in model range on the device."""
        return self.adapter.prepare(batch, self.device)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimiser step of D (when the stage has one) then G; returns the loss values."""
        st = self.stage
        assert st is not None and self.opt_g is not None
        x, y, sal = self.prepare(batch)
        with self.autocast():
            if self.need_sal:
                fake, sal_pred = self.g_run(x, return_saliency=True)  # (B, C, S, S), (B, 1, S, S)
            else:
                fake, sal_pred = self.g_run(x), None
        logs: dict[str, float] = {}

        # ---- discriminator: 0.5 * (real term + fake term), summed over scales
        if st.uses_discriminator:
            assert self.d_run is not None and self.opt_d is not None
            _set_requires_grad(self.D, True)
            self.opt_d.zero_grad(set_to_none=True)
            sync_later = self.d_run.no_sync() if isinstance(self.d_run, DDP) else contextlib.nullcontext()
            with sync_later:  # gradients of the real half are all-reduced with the fake half's backward
                with self.autocast():
                    try:
                        real_logits = self.d_run(torch.cat((x, y), 1))
                    except ValueError as err:  # e.g. instance norm on a 1x1 map: the crop is too small
                        raise UsageError(f"--crop-size {self.plan.crop_size} is too small for the {self.spec.name} "
                                         f"discriminator ({err})", hint="use a larger --crop-size") from None
                    loss_real = 0.5 * self.gan.d_term(real_logits, True)
                self.scaler_d.scale(loss_real).backward()
            with self.autocast():
                loss_fake = 0.5 * self.gan.d_term(self.d_run(torch.cat((x, fake.detach()), 1)), False)
            self.scaler_d.scale(loss_fake).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            _set_requires_grad(self.D, False)
            logs.update(d=_f(loss_real + loss_fake), d_real=_f(loss_real), d_fake=_f(loss_fake))

        # ---- generator
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_seen, y_seen = self.adapter.loss_view(fake), self.adapter.loss_view(y)
            loss_l1 = l1(fake_seen, y_seen)
            total = st.lambda_l1 * loss_l1
            logs["l1"] = _f(loss_l1)
            if st.lambda_attention > 0:
                assert sal is not None and sal_pred is not None
                att = attention_loss(fake_seen, self.adapter.saliency_view(sal_pred, fake), y_seen, sal)
                total = total + st.lambda_attention * att
                logs["attention"] = _f(att)
            if st.lambda_saliency > 0:
                assert sal is not None and sal_pred is not None
                sl = l1(self.adapter.saliency_view(sal_pred, fake), sal)
                total = total + st.lambda_saliency * sl
                logs["saliency"] = _f(sl)
            if st.uses_discriminator:
                assert self.D is not None
                # the bare D: its gradients here are thrown away, so no DDP all-reduce is needed
                adv = self.gan.g_loss(self.D(torch.cat((x, fake), 1)))
                total = total + st.lambda_gan * adv
                logs["g_gan"] = _f(adv)
            if st.lambda_perc > 0:
                assert self.perceptual is not None
                perc = self.perceptual(self.adapter.to_rgb01(x, fake), self.adapter.to_rgb01(x, y))
                total = total + st.lambda_perc * perc
                logs["perceptual"] = _f(perc)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        logs["g"] = _f(total)
        return logs

    @torch.no_grad()
    def d_loss_on(self, batch: dict[str, torch.Tensor]) -> float:
        """The discriminator loss on one batch (with the current G), without training anything."""
        assert self.D is not None
        x, y, _ = self.prepare(batch)
        fake = self.G(x)
        return float(self.gan.d_loss(self.D(torch.cat((x, y), 1)), self.D(torch.cat((x, fake), 1))))

    # ------------------------------------------------------------------ validation, samples

    def _val(self) -> list[dict[str, torch.Tensor]]:
        if self._val_batches is None:
            ds = self.data.val
            items = [ds[i] for i in range(len(ds))]
            bs = max(1, self.plan.batch_size)
            self._val_batches = [
                {k: torch.stack([it[k] for it in items[i:i + bs]]) for k in items[0]}
                for i in range(0, len(items), bs)
            ] if items else []
        return self._val_batches

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation metrics of the generator in eval mode (how inference runs it).

        raw2rgb: ``l1`` = mean |RGB - target| in [0, 1] units, ``psnr`` (dB, per image, averaged).
        colourise: ``ab_l1`` = mean |ab - target ab| in CIE Lab units, ``grey_ab_l1`` = the same for
        zero chroma (the no-learning baseline).
        """
        batches = self._val()
        if not batches:
            return {}
        was = self.G.training
        self.G.eval()
        sums: dict[str, float] = {}
        n_values = n_img = 0
        try:
            for batch in batches:
                x, y, _ = self.prepare(batch)
                with self.autocast():
                    out = self.G(x).float()
                figures, values, pictures = self.adapter.validation_sums(out, y)
                for k, v in figures.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_values += values
                n_img += pictures
        finally:
            self.G.train(was)
        return {k: (v / n_img if k == "psnr" else v / n_values) for k, v in sums.items()}

    @torch.no_grad()
    def sample_grid(self) -> np.ndarray | None:
        """Rows of input | output | target for the first validation samples, (H, W, 3) float [0, 1]."""
        batches = self._val()
        if not batches:
            return None
        batch = {k: v[:_SAMPLE_ROWS] for k, v in batches[0].items()}
        was = self.G.training
        self.G.eval()
        try:
            x, y, _ = self.prepare(batch)
            out = self.G(x).float()
        finally:
            self.G.train(was)
        cols = [self.adapter.preview(x, out), self.adapter.to_rgb01(x, out), self.adapter.to_rgb01(x, y)]
        rows = [torch.cat([c[i] for c in cols], dim=2) for i in range(x.shape[0])]  # (3, S, 3S) each
        grid = torch.cat(rows, dim=1)  # (3, rows*S, 3S)
        return grid.permute(1, 2, 0).cpu().numpy()

    # ------------------------------------------------------------------ saving, logging

    def log(self, record: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def _wall(self) -> float:
        return self.wall_before + (time.monotonic() - self.t0)

    def training_summary(self) -> dict[str, Any]:
        return {
            "data": self.data.summary,
            "steps": self.step,
            "stage": self.plan.stages[min(self.stage_index, len(self.plan.stages) - 1)].name,
            "stages": [s.name for s in self.plan.stages],
            "epoch": self.epoch,
            "wall_seconds": round(self._wall(), 1),
            "recipe_overrides": self.cfg.overrides(),
            "batch_size": self.plan.batch_size,
            "crop_size": self.plan.crop_size,
            "gan_loss": self.plan.gan_loss,
            "seed": self.cfg.seed,
            "world_size": self.dist.world,
            "device": str(self.device),
            "validation": self.last_val,
            "rawcolour_version": rawcolour.__version__,
        }

    def save(self, *, tag: str | None = None, collective: bool = True) -> None:
        """Write last.safetensors + last.resume.pt (and checkpoints/<tag>.safetensors); rank 0 writes."""
        states = [rng_state()]
        if self.dist.enabled and collective:
            gathered: list[Any] = [None] * self.dist.world
            dist.all_gather_object(gathered, rng_state())
            states = gathered
        if not self.dist.main:
            return
        have_opt = self.opt_g is not None
        state = ResumeState(
            config=self.cfg.to_dict(), step=self.step, stage_index=self.stage_index, epoch=self.epoch,
            batch_in_epoch=self.batch_in_epoch, wall_seconds=self._wall(), world_size=self.dist.world,
            last_val=self.last_val, generator=self.G.state_dict(),
            discriminator=self.D.state_dict() if self.D is not None else None,
            opt_stage_index=self._active_stage, opt_g=self.opt_g.state_dict() if have_opt else None,
            opt_d=self.opt_d.state_dict() if self.opt_d is not None else None,
            scaler_g=self.scaler_g.state_dict() if have_opt else None,
            scaler_d=self.scaler_d.state_dict() if have_opt else None, rng=states)
        meta = checkpoint_metadata(self.spec, training=self.training_summary())
        d_kw = {"discriminator": self.D, "discriminator_spec": self.spec.discriminator} if self.D is not None else {}
        state.save(self.out / SIDECAR)
        save_checkpoint(self.out / LAST, self.G, meta, **d_kw)
        if tag:
            save_checkpoint(self.out / "checkpoints" / f"{tag}.safetensors", self.G, meta, **d_kw)

    def _restore_rng(self) -> None:
        if self.resume_state is not None:
            self.resume_state.restore_rng(self.dist.rank)

    def _write_samples(self) -> None:
        grid = self.sample_grid()
        if grid is not None:
            (self.out / "samples").mkdir(parents=True, exist_ok=True)
            write_image(self.out / "samples" / f"step_{self.step:07d}.png", grid, bit_depth=8)

    # ------------------------------------------------------------------ the loop

    def _should_stop(self) -> str | None:
        cfg = self.cfg
        reason = None
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            reason = "max_steps"
        elif cfg.max_minutes is not None and time.monotonic() - self.t0 >= 60 * cfg.max_minutes:
            reason = "max_minutes"
        if self.dist.enabled and cfg.max_minutes is not None and reason != "max_steps":
            flag = torch.tensor([1.0 if reason else 0.0])
            dist.broadcast(flag, 0)  # rank 0's clock decides, so every rank stops at the same step
            reason = "max_minutes" if flag.item() else None
        return reason

    def _loader(self) -> DataLoader:
        """One DataLoader for the whole run (workers persist; the sampler carries epoch and start)."""
        if self._loader_obj is None:
            workers = self.cfg.num_workers
            if workers is None:
                workers = 4 if self.device.type == "cuda" else 0
            kw: dict[str, Any] = {}
            if workers > 0:
                # rawpy/LibRaw (OpenMP) may deadlock in forked workers: spawn them instead
                kw = {"multiprocessing_context": "spawn", "persistent_workers": True}
            self._loader_obj = DataLoader(self.data.train, batch_size=self.plan.batch_size, sampler=self.sampler,
                                          drop_last=True, num_workers=workers,
                                          pin_memory=self.device.type == "cuda", **kw)
        return self._loader_obj

    def total_steps(self) -> int:
        n = sum(s.epochs for s in self.plan.stages) * self.batches_per_epoch
        return min(n, self.cfg.max_steps) if self.cfg.max_steps else n

    def _start_records(self) -> None:
        if not self.dist.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        if self.resume_state is None:
            write_json_atomic(self.out / "config.json", {
                "config": self.cfg.to_dict(), "plan": self.plan.to_dict(), "data": self.data.summary,
                "world_size": self.dist.world, "device": str(self.device), "rawcolour_version": rawcolour.__version__,
                "batches_per_epoch": self.batches_per_epoch})
            (self.out / "log.jsonl").write_text("")
        else:  # drop records written after the state we resume from
            log = self.out / "log.jsonl"
            keep = [r for r in read_log(log) if r.get("step", 0) <= self.step] if log.exists() else []
            atomic_write_bytes(log, "".join(json.dumps(r, default=str) + "\n" for r in keep).encode(), what="log")
        self.log({"kind": "start", "step": self.step, "resumed": self.resume_state is not None,
                  "world_size": self.dist.world, "device": str(self.device), "data": self.data.summary,
                  "batches_per_epoch": self.batches_per_epoch})

    def run(self) -> dict[str, Any]:
        """Train until the schedule ends or a limit is reached; returns the end record."""
        try:
            end = self._run()
            if self.dist.enabled:
                # Rank 0 is still writing the final checkpoint when the others return: tear the
                # process group down together, or gloo can abort a rank that leaves first.
                dist.barrier()
            return end
        finally:
            if self._owns_pg and dist.is_initialized():
                # DDP wrappers hold communication work of the group: drop them before the group.
                self.g_run = self.d_run = None
                dist.destroy_process_group()

    def _run(self) -> dict[str, Any]:
        cfg = self.cfg
        self._start_records()
        self.progress({"kind": "start", "total": self.total_steps(), "step": self.step,
                       "data": self.data.summary})
        if self.resume_state is None:  # the untrained model, as inference would run it
            self._validate_and_log(self.plan.stages[0], 0)
        self._restore_rng()
        stages = self.plan.stages
        stop: str | None = "max_steps" if cfg.max_steps is not None and self.step >= cfg.max_steps else None
        try:
            while stop is None and self.stage_index < len(stages):
                if self._active_stage != self.stage_index:
                    self._begin_stage(self.stage_index)
                    self._active_stage = self.stage_index
                    self.progress({"kind": "stage", "stage": stages[self.stage_index].name, "step": self.step})
                stop = self._run_epoch(stages[self.stage_index])
        except KeyboardInterrupt:
            if self.dist.main:
                self.save(collective=False)
                self.log({"kind": "end", "step": self.step, "reason": "interrupted", "wall_seconds": self._wall()})
            raise
        reason = stop or "finished"
        if self._val_step != self.step:  # the end record always describes the final weights
            self._validate_and_log(stages[min(self.stage_index, len(stages) - 1)], self.epoch)
        self.save(tag=f"step_{self.step:07d}" if reason == "finished" else None)
        end = {"kind": "end", "step": self.step, "reason": reason, "wall_seconds": round(self._wall(), 1),
               "validation": self.last_val}
        self.log(end)
        self.progress(end)
        return end

    def _advance(self) -> tuple[bool, bool]:
        """Move the position past one batch; returns (epoch ended, stage ended)."""
        self.batch_in_epoch += 1
        if self.batch_in_epoch < self.batches_per_epoch:
            return False, False
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        if self.epoch < self.plan.stages[self.stage_index].epochs:
            return True, False
        self.stage_index, self.epoch = self.stage_index + 1, 0
        return True, True

    def _run_epoch(self, st: StagePlan) -> str | None:
        """Train the rest of the current epoch (or until a limit); the position is always normalised."""
        cfg = self.cfg
        epoch = self.epoch
        key = self.stage_index * _EPOCH_KEY_STRIDE + epoch
        self._set_lr()
        self.sampler.set_epoch(key)
        self.sampler.set_start(self.batch_in_epoch * self.plan.batch_size)
        t_data = time.monotonic()
        for batch in self._loader():
            t = time.monotonic()
            losses = self.train_step(batch)
            self.step += 1
            if self.step % cfg.log_every == 0:
                rec = {"kind": "step", "step": self.step, "stage": st.name, "epoch": epoch,
                       "lr_g": self.opt_g.param_groups[0]["lr"], "seconds": round(time.monotonic() - t, 4),
                       "data_seconds": round(t - t_data, 4), **losses}
                if self.opt_d is not None:
                    rec["lr_d"] = self.opt_d.param_groups[0]["lr"]
                self.log(rec)
            self.progress({"kind": "step", "step": self.step, "stage": st.name, "epoch": epoch, "losses": losses})
            epoch_end, stage_end = self._advance()
            if epoch_end and cfg.val_every is None:
                self._validate_and_log(st, epoch)
            if epoch_end and cfg.sample_every is None and self.dist.main:
                self._write_samples()
            if cfg.val_every is not None and self.step % cfg.val_every == 0:
                self._validate_and_log(st, epoch)
            if cfg.sample_every is not None and self.step % cfg.sample_every == 0 and self.dist.main:
                self._write_samples()
            if stage_end:
                self.save(tag=f"stage_{st.name}")
            if self.step % cfg.save_every == 0:
                self.save(tag=f"step_{self.step:07d}")
            stop = self._should_stop()
            if stop is not None or epoch_end:
                return stop
            t_data = time.monotonic()
        return None

    def _validate_and_log(self, st: StagePlan, epoch: int) -> None:
        self._val_step = self.step
        if not self.dist.main:
            return
        self.last_val = self.validate()
        self.log({"kind": "val", "step": self.step, "stage": st.name, "epoch": epoch, **self.last_val})
        self.progress({"kind": "val", "step": self.step, "metrics": self.last_val})


def train(cfg: TrainConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run one training: ``Trainer(cfg, progress=progress).run()``."""
    return Trainer(cfg, progress=progress).run()


__all__ = ["Ranks", "ResumableSampler", "Trainer",
           "read_log", "train", "LAST", "SIDECAR"]
