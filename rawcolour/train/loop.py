"""The training loop for both tasks: stages, TTUR, AMP, DDP under torchrun, exact resume.

Reads top to bottom like nanoGPT's train.py: distributed set-up, resume state, seeds, data,
networks (initialised N(0, 0.02) before any optimiser exists), then per stage: optimisers,
learning-rate schedule, and the step (a labelled discriminator block, then the generator block).

What a run writes into its folder (``TrainConfig.out``): rawcolour.train.run_folder.

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
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

import rawcolour
from rawcolour.checkpoint import checkpoint_metadata
from rawcolour.distributed import init_training
from rawcolour.errors import OutputError, TrainingDiverged, UsageError
from rawcolour.io.files import output_error
from rawcolour.train.adapters import TaskAdapter, adapter_for
from rawcolour.train.config import RunPlan, StagePlan, TrainConfig, merge_resume_config, resolve, write_json_atomic
from rawcolour.train.datasets import DataBundle, ResumableSampler, build_datasets, train_loader
from rawcolour.train.losses import GANLoss, attention_loss, l1, weighted_l1
from rawcolour.train.networks import build_networks, has_saliency_decoder
from rawcolour.train.rebalance import PRIOR_SHORT_SIDE, ABRebalance, ab_prior
from rawcolour.train.resume import ResumeState, RunPosition, damaged, rng_state
from rawcolour.train.run_folder import (CONFIG_NAME, LAST, LOG_NAME, SIDECAR, append_record, read_log, rewrite_log,
                                        write_checkpoints, write_samples)
from rawcolour.train.validation import Validation

_EPOCH_KEY_STRIDE = 100_000  # epoch key = stage index * stride + epoch

Progress = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------------------------- small helpers


def _set_requires_grad(net: nn.Module | None, flag: bool) -> None:
    if net is not None:
        for p in net.parameters():
            p.requires_grad_(flag)


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _precision(device: torch.device, amp: bool) -> tuple[torch.dtype | None, bool, bool]:
    """(autocast dtype, autocast on, GradScaler on): bf16 where CUDA has it, else fp16 with a scaler."""
    cuda = device.type == "cuda"
    amp_dtype = (torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    use_amp = bool(amp and cuda)
    return amp_dtype, use_amp, use_amp and amp_dtype == torch.float16


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
        self.resume_state: ResumeState | None = self._read_resume_state(cfg)
        if self.resume_state is not None:
            cfg = merge_resume_config(cfg, TrainConfig.from_dict(self.resume_state.config),
                                      self.resume_state.config.get("absolute_paths"))
        self.cfg = cfg
        self.plan: RunPlan = resolve(cfg)
        self.spec = self.plan.spec
        self.adapter: TaskAdapter = adapter_for(self.spec)
        if self.plan.uses_discriminator and not self.adapter.supports_discriminator:
            raise UsageError(f"{self.spec.name} writes a larger picture than it reads, so the paired discriminator "
                             "cannot judge it: train its stage 1 only", hint="--stage 1")

        # -- precision: one autocast context + GradScaler; both no-ops off CUDA
        self.amp_dtype, self.use_amp, self.scaler_enabled = _precision(self.device, cfg.amp)

        # -- seeds (identical on every rank for initialisation; DDP also broadcasts rank 0's weights)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)

        self.data: DataBundle = self._build_data()
        self.sampler = ResumableSampler(self.data.train, self.dist, cfg.seed)
        self.batches_per_epoch = len(self.sampler) // self.plan.batch_size
        if self.batches_per_epoch == 0:
            raise UsageError(
                f"{len(self.data.train)} training samples ({len(self.sampler)} per process) are fewer than "
                f"--batch-size {self.plan.batch_size}", hint="lower --batch-size or add data")
        self.rebalance: ABRebalance | None = self._build_rebalance()
        self.G, self.D, self.perceptual = build_networks(self.plan, self.device, vgg_weights=cfg.vgg_weights,
                                                         init=cfg.init, resume=self.resume_state)
        self.gan = GANLoss(self.plan.gan_loss)

        # -- what a resume continues from (wall_seconds: of the earlier invocations); the rest of the
        #    trainer's state is rebuilt from the run
        self.pos: RunPosition = self.resume_state.position if self.resume_state is not None else RunPosition()
        if self.pos.stage_index > len(self.plan.stages):  # len: every stage done
            raise damaged(self.out / SIDECAR, f"stage_index {self.pos.stage_index}, the run has "
                                              f"{len(self.plan.stages)} stages")

        # -- the current stage (see _begin_stage): its losses, optimisers, scalers, and G or D as the
        #    step runs them (DDP-wrapped under torchrun)
        self.stage: StagePlan | None = None
        self.need_sal = False  # the current stage's losses use the saliency decoder
        self.opt_g: torch.optim.Optimizer | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.scaler_enabled)  # fresh per stage
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.scaler_enabled)
        self.g_run: nn.Module | None = None
        self.d_run: nn.Module | None = None
        self._active_stage = -1  # the stage the optimisers belong to

        self.validation = Validation(self.data.val, self.plan.batch_size, self.adapter, self.device)
        self._loader_obj: DataLoader | None = None
        self._val_step = -1  # step of the last validation

    # ------------------------------------------------------------------ resume, data

    def _read_resume_state(self, cfg: TrainConfig) -> ResumeState | None:
        """The run's resume state with --resume; without, a run folder already in use raises."""
        if self.out.exists() and not self.out.is_dir():
            raise OutputError("--out names a file, not a run folder", path=self.out,
                              hint="choose a new folder name with --out")
        if cfg.resume:
            return ResumeState.load(self.out / SIDECAR, self.dist.world)
        if self.dist.main and (self.out / CONFIG_NAME).exists():
            raise OutputError("this folder already holds a training run", path=self.out,
                              hint="pass --resume to continue it, or choose another --out")
        return None

    def _build_data(self) -> DataBundle:
        cfg = self.cfg
        cache_dir = Path(cfg.saliency_cache) if cfg.saliency_cache else self.out / "saliency_cache"
        return build_datasets(cfg, self.plan.crop_size, self.plan.augment, need_saliency=self.plan.needs_saliency,
                              saliency_cache=cache_dir, input_space=self.spec.io.input_space if self.spec.io else "")

    def _build_rebalance(self) -> ABRebalance | None:
        """The colour L1's per-pixel weights from the training photos' a/b prior (--ab-rebalance)."""
        if not self.cfg.ab_rebalance:
            return None
        prior = ab_prior(self.data.train.small_photos(PRIOR_SHORT_SIDE))
        return ABRebalance(prior, self.cfg.ab_rebalance)

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
            try:
                self.opt_g.load_state_dict(rs.opt_g)
                if self.opt_d is not None and rs.opt_d is not None:
                    self.opt_d.load_state_dict(rs.opt_d)
                self.scaler_g.load_state_dict(rs.scaler_g)
                self.scaler_d.load_state_dict(rs.scaler_d)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as err:
                raise damaged(rs.source, f"the optimiser or gradient scaler state does not fit the run "
                                         f"({type(err).__name__}: {str(err)[:120]})") from None
        # DDP: the saliency decoder is unused in stages without a saliency loss
        unused = has_saliency_decoder(self.G) and not self.need_sal
        if self.dist.enabled:
            self.g_run = DDP(self.G, find_unused_parameters=unused)
            self.d_run = DDP(self.D) if st.uses_discriminator else None
        else:
            self.g_run, self.d_run = self.G, (self.D if st.uses_discriminator else None)

    def _set_lr(self) -> None:
        assert self.stage is not None and self.opt_g is not None
        f = self.stage.lr_factor(self.pos.epoch)
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
        logs = self._discriminator_step(x, y, fake) if st.uses_discriminator else {}

        # ---- generator
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            total, g_logs = self._generator_loss(st, x, y, fake, sal, sal_pred)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return {**logs, **g_logs, "g": _f(total)}

    def _discriminator_step(self, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """One step of D: 0.5 * (real term + fake term), summed over scales."""
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
        return {"d": _f(loss_real + loss_fake), "d_real": _f(loss_real), "d_fake": _f(loss_fake)}

    def _generator_loss(self, st: StagePlan, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor,
                        sal: torch.Tensor | None, sal_pred: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        """G's weighted loss of the stage (under autocast) and each term's value."""
        fake_seen, y_seen = self.adapter.loss_view(fake), self.adapter.loss_view(y)
        if self.rebalance is not None:  # colourise: y is the true model-range a/b
            loss_l1 = weighted_l1(fake_seen, y_seen, self.rebalance(y))
        else:
            loss_l1 = l1(fake_seen, y_seen)
        total = st.lambda_l1 * loss_l1
        logs = {"l1": _f(loss_l1)}
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
        return total, logs

    @torch.no_grad()
    def d_loss_on(self, batch: dict[str, torch.Tensor]) -> float:
        """The discriminator loss on one batch (with the current G), without training anything."""
        assert self.D is not None
        x, y, _ = self.prepare(batch)
        fake = self.G(x)
        return float(self.gan.d_loss(self.D(torch.cat((x, y), 1)), self.D(torch.cat((x, fake), 1))))

    # ------------------------------------------------------------------ validation, samples

    def validate(self) -> dict[str, float]:
        """Validation metrics of the generator in eval mode (see Validation.figures)."""
        return self.validation.figures(self.G, self.autocast)

    # ------------------------------------------------------------------ saving, logging

    def log(self, record: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        append_record(self.out, record)

    def _wall(self) -> float:
        return self.pos.wall_seconds + (time.monotonic() - self.t0)

    def training_summary(self) -> dict[str, Any]:
        return {
            "data": self.data.summary,
            "steps": self.pos.step,
            "stage": self.plan.stages[min(self.pos.stage_index, len(self.plan.stages) - 1)].name,
            "stages": [s.name for s in self.plan.stages],
            "epoch": self.pos.epoch,
            "wall_seconds": round(self._wall(), 1),
            "recipe_overrides": self.cfg.overrides(),
            "batch_size": self.plan.batch_size,
            "crop_size": self.plan.crop_size,
            "gan_loss": self.plan.gan_loss,
            "seed": self.cfg.seed,
            "world_size": self.dist.world,
            "device": str(self.device),
            "validation": self.pos.last_val,
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
            config=self.cfg.resume_record(), position=dataclasses.replace(self.pos, wall_seconds=self._wall()),
            world_size=self.dist.world, generator=self.G.state_dict(),
            discriminator=self.D.state_dict() if self.D is not None else None,
            opt_stage_index=self._active_stage, opt_g=self.opt_g.state_dict() if have_opt else None,
            opt_d=self.opt_d.state_dict() if self.opt_d is not None else None,
            scaler_g=self.scaler_g.state_dict() if have_opt else None,
            scaler_d=self.scaler_d.state_dict() if have_opt else None, rng=states)
        meta = checkpoint_metadata(self.spec, training=self.training_summary())
        write_checkpoints(self.out, state, self.spec, self.G, self.D, meta, tag)

    def _restore_rng(self) -> None:
        if self.resume_state is not None:
            self.resume_state.restore_rng(self.dist.rank)

    def _write_samples(self) -> None:
        write_samples(self.out, self.pos.step, self.validation.sample_grid(self.G))

    # ------------------------------------------------------------------ the loop

    def _should_stop(self) -> str | None:
        cfg = self.cfg
        reason = None
        if cfg.max_steps is not None and self.pos.step >= cfg.max_steps:
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
            self._loader_obj = train_loader(self.data.train, self.sampler, self.plan.batch_size,
                                            self.cfg.num_workers, self.device)
        return self._loader_obj

    def total_steps(self) -> int:
        n = sum(s.epochs for s in self.plan.stages) * self.batches_per_epoch
        return min(n, self.cfg.max_steps) if self.cfg.max_steps else n

    def _start_records(self) -> None:
        if not self.dist.main:
            return
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a file on the way, permissions, a read-only disk
            raise output_error(self.out, err, "run folder") from None
        if self.resume_state is None:
            write_json_atomic(self.out / CONFIG_NAME, {
                "config": self.cfg.to_dict(), "plan": self.plan.to_dict(), "data": self.data.summary,
                "world_size": self.dist.world, "device": str(self.device), "rawcolour_version": rawcolour.__version__,
                "batches_per_epoch": self.batches_per_epoch})
            rewrite_log(self.out, [])
        else:  # drop records written after the state we resume from
            records = read_log(self.out) if (self.out / LOG_NAME).exists() else []
            rewrite_log(self.out, [r for r in records if r.get("step", 0) <= self.pos.step])
        self.log({"kind": "start", "step": self.pos.step, "resumed": self.resume_state is not None,
                  "world_size": self.dist.world, "device": str(self.device), "data": self.data.summary,
                  "batches_per_epoch": self.batches_per_epoch,
                  "ab_rebalance": self.rebalance.summary() if self.rebalance is not None else None})

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
        self.progress({"kind": "start", "total": self.total_steps(), "step": self.pos.step,
                       "data": self.data.summary})
        if self.resume_state is None:  # the untrained model, as inference would run it
            self._validate_and_log(self.plan.stages[0], 0)
        self._restore_rng()
        stages = self.plan.stages
        stop: str | None = "max_steps" if cfg.max_steps is not None and self.pos.step >= cfg.max_steps else None
        try:
            while stop is None and self.pos.stage_index < len(stages):
                if self._active_stage != self.pos.stage_index:
                    self._begin_stage(self.pos.stage_index)
                    self._active_stage = self.pos.stage_index
                    self.progress({"kind": "stage", "stage": stages[self.pos.stage_index].name, "step": self.pos.step})
                stop = self._run_epoch(stages[self.pos.stage_index])
        except KeyboardInterrupt:
            if self.dist.main:
                self.save(collective=False)
                self.log({"kind": "end", "step": self.pos.step, "reason": "interrupted", "wall_seconds": self._wall()})
            raise
        reason = stop or "finished"
        if self._val_step != self.pos.step:  # the end record always describes the final weights
            self._validate_and_log(stages[min(self.pos.stage_index, len(stages) - 1)], self.pos.epoch)
        self.save(tag=f"step_{self.pos.step:07d}" if reason == "finished" else None)
        end = {"kind": "end", "step": self.pos.step, "reason": reason, "wall_seconds": round(self._wall(), 1),
               "validation": self.pos.last_val}
        self.log(end)
        self.progress(end)
        return end

    def _run_epoch(self, st: StagePlan) -> str | None:
        """Train the rest of the current epoch (or until a limit); the position is always normalised."""
        cfg = self.cfg
        epoch = self.pos.epoch
        key = self.pos.stage_index * _EPOCH_KEY_STRIDE + epoch
        self._set_lr()
        self.sampler.set_epoch(key)
        self.sampler.set_start(self.pos.batch_in_epoch * self.plan.batch_size)
        t_data = time.monotonic()
        for batch in self._loader():
            t = time.monotonic()
            losses = self.train_step(batch)
            self.pos.step += 1
            self._check_finite(losses)
            if self.pos.step % cfg.log_every == 0:
                rec = {"kind": "step", "step": self.pos.step, "stage": st.name, "epoch": epoch,
                       "lr_g": self.opt_g.param_groups[0]["lr"], "seconds": round(time.monotonic() - t, 4),
                       "data_seconds": round(t - t_data, 4), **losses}
                if self.opt_d is not None:
                    rec["lr_d"] = self.opt_d.param_groups[0]["lr"]
                self.log(rec)
            self.progress({"kind": "step", "step": self.pos.step, "stage": st.name, "epoch": epoch, "losses": losses})
            epoch_end, stage_end = self.pos.advance(self.batches_per_epoch, st.epochs)
            if epoch_end and cfg.val_every is None:
                self._validate_and_log(st, epoch)
            if epoch_end and cfg.sample_every is None and self.dist.main:
                self._write_samples()
            if cfg.val_every is not None and self.pos.step % cfg.val_every == 0:
                self._validate_and_log(st, epoch)
            if cfg.sample_every is not None and self.pos.step % cfg.sample_every == 0 and self.dist.main:
                self._write_samples()
            if stage_end:
                self.save(tag=f"stage_{st.name}")
            if self.pos.step % cfg.save_every == 0:
                self.save(tag=f"step_{self.pos.step:07d}")
            stop = self._should_stop()
            if stop is not None or epoch_end:
                return stop
            t_data = time.monotonic()
        return None

    def _check_finite(self, losses: dict[str, float]) -> None:
        """Stop a run whose losses are no longer numbers before it logs or saves them: the networks
        have NaN weights from here on (a GradScaler skips such steps itself, so only without one)."""
        if self.scaler_enabled:
            return
        bad = sorted(name for name, value in losses.items() if not math.isfinite(value))
        anywhere = bool(bad)
        if self.dist.enabled:  # every rank stops at the same step (one that went on would wait forever)
            flag = torch.tensor([1.0 if bad else 0.0])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            anywhere = bool(flag.item())
        if anywhere:
            if self.dist.main:
                self.log({"kind": "end", "step": self.pos.step, "reason": "diverged", "wall_seconds": self._wall()})
            what = (f"the {', '.join(bad)} loss is {losses[bad[0]]}" if bad
                    else "the loss of another process is not finite")
            raise TrainingDiverged(f"training diverged at step {self.pos.step}: {what}; the checkpoints saved "
                                   "before this step are kept",
                                   hint="lower the learning rates (--lr-g, --lr-d) or start from another checkpoint")

    def _validate_and_log(self, st: StagePlan, epoch: int) -> None:
        self._val_step = self.pos.step
        if not self.dist.main:
            return
        self.pos.last_val = self.validate()
        self.log({"kind": "val", "step": self.pos.step, "stage": st.name, "epoch": epoch, **self.pos.last_val})
        self.progress({"kind": "val", "step": self.pos.step, "metrics": self.pos.last_val})


def train(cfg: TrainConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run one training: ``Trainer(cfg, progress=progress).run()``."""
    return Trainer(cfg, progress=progress).run()


__all__ = ["LAST", "SIDECAR", "Trainer", "train"]  # LAST, SIDECAR: from rawcolour.train.run_folder
