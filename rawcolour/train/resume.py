"""What ``--resume`` restores: one dataclass, saved beside the weights as ``last.resume.pt``.

The file is a ``torch.save`` dict read back with ``weights_only=True``. Its keys are the field
names of :class:`ResumeState` (with those of its :class:`RunPosition` at the top level) plus
``format``, and the run's config is stored as JSON text, so resume files written before this
module existed load unchanged.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import types
import typing
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rawcolour.errors import CheckpointError, UsageError
from rawcolour.io.files import atomic_write_bytes

RESUME_FORMAT = "rawcolour.resume/1"


@dataclass
class RunPosition:
    """Where a run stands: the trainer's own state that a resume continues from."""

    step: int = 0  # optimiser steps so far, over all stages and invocations
    stage_index: int = 0
    epoch: int = 0  # within the stage
    batch_in_epoch: int = 0
    wall_seconds: float = 0.0  # wall time of all invocations so far (the trainer: of the earlier ones)
    last_val: dict[str, float] = field(default_factory=dict)  # the latest validation figures

    def advance(self, batches_per_epoch: int, epochs_in_stage: int) -> tuple[bool, bool]:
        """Move past one batch (``step`` is counted by the caller); returns (epoch ended, stage ended)."""
        self.batch_in_epoch += 1
        if self.batch_in_epoch < batches_per_epoch:
            return False, False
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        if self.epoch < epochs_in_stage:
            return True, False
        self.stage_index, self.epoch = self.stage_index + 1, 0
        return True, True


_POSITION = tuple(f.name for f in fields(RunPosition))


@dataclass
class ResumeState:
    """A run's position, networks, optimisers, scalers and RNG states: everything --resume needs."""

    config: dict[str, Any]  # TrainConfig.to_dict() of the run
    position: RunPosition
    world_size: int
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None = None
    opt_stage_index: int = -1  # the stage the optimiser and scaler states below belong to
    opt_g: dict[str, Any] | None = None
    opt_d: dict[str, Any] | None = None
    scaler_g: dict[str, Any] | None = None
    scaler_d: dict[str, Any] | None = None
    rng: list[dict[str, Any]] = field(default_factory=list)  # torch / CUDA / numpy / Python, one per rank
    source: Path | None = None  # the file it was read from (not saved): errors name it

    def save(self, path: Path) -> None:
        """Write the file atomically (a crash never leaves half a resume state)."""
        state: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                                 if f.name not in ("position", "source")}
        state.update({name: getattr(self.position, name) for name in _POSITION})
        state["format"] = RESUME_FORMAT
        state["config"] = json.dumps(self.config)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path, buffer.getvalue(), what="resume state")

    @classmethod
    def load(cls, path: Path, world_size: int) -> "ResumeState":
        """Read a resume file; a missing, foreign or differently sharded one raises with what to do."""
        if not path.is_file():
            raise UsageError("nothing to resume: the run folder has no resume state", path=path,
                             hint="start a new run without --resume, or point --out at an existing run")
        try:
            with warnings.catch_warnings():  # torch's notes on pickle protocols are not for the terminal
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any reader failure means the same to the user
            raise _refusal(err, path) from None
        if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
            raise CheckpointError("not a rawcolour resume file", path=path)
        _check_contents(state, path)
        if state.get("world_size", 1) != world_size:
            raise UsageError(f"the run was trained with {state.get('world_size')} processes, now {world_size}",
                             hint="resume with the same --nproc_per_node (data order depends on it)")
        known = {f.name for f in fields(cls)} - {"source"}
        values = {k: v for k, v in state.items() if k in known and v is not None}
        values["config"] = json.loads(state["config"])
        values["position"] = RunPosition(**{k: state[k] for k in _POSITION if state.get(k) is not None})
        return cls(**values, source=path)

    def restore_rng(self, rank: int) -> None:
        """This rank's RNG states (rank 0's when the run had fewer ranks saved)."""
        if self.rng:
            set_rng_state(self.rng[rank] if rank < len(self.rng) else self.rng[0])


def rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python RNG states, in types ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


__all__ = ["RESUME_FORMAT", "ResumeState", "RunPosition", "rng_state", "set_rng_state"]


def damaged(path: Path | None, what: str) -> CheckpointError:
    """The one line for a resume file that reads but holds what rawcolour never writes."""
    return CheckpointError(f"not a rawcolour resume file, or damaged: {what}", path=path,
                           hint="start the run again without --resume")


_MAX_COUNT = 2**53  # steps, epochs, batches: far beyond any run, and exact as a float


def _fits(value: Any, hint: Any) -> bool:
    """``value`` (read from JSON) is of the type hint of a TrainConfig field."""
    args = typing.get_args(hint)
    if hint is type(None):
        return value is None
    if isinstance(hint, types.UnionType):
        return any(_fits(value, a) for a in args)
    if typing.get_origin(hint) is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if hint is float:
        return type(value) in (int, float)
    return type(value) is hint  # bool is not an int here, nor an int a bool


def _config_problem(config: dict[str, Any]) -> str | None:
    """What is wrong with the run's config as read (a field of the wrong type), or None."""
    from rawcolour.train.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for key, value in config.items():
        if key in hints and not _fits(value, hints[key]):
            return f"config {key} is {value!r:.40}"
    return None


def _check_contents(state: dict[str, Any], path: Path) -> None:
    """Every field a resume reads, of the type and range rawcolour writes, before anything uses it."""
    def count(key: str, lowest: int) -> None:
        value = state.get(key)
        if value is not None and (type(value) is not int or not lowest <= value <= _MAX_COUNT):
            raise damaged(path, f"{key} is {value!r:.40}")

    text = state.get("config")
    if text is None:
        raise damaged(path, "no config")
    if not isinstance(text, str):
        raise damaged(path, f"config is {type(text).__name__}, not JSON text")
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        raise damaged(path, "config is not JSON") from None
    if not isinstance(config, dict):
        raise damaged(path, f"config is a JSON {type(config).__name__}, not an object")
    wrong = _config_problem(config)
    if wrong:
        raise damaged(path, wrong)
    for key in ("step", "stage_index", "epoch", "batch_in_epoch"):
        count(key, 0)
    count("world_size", 1)
    count("opt_stage_index", -1)
    seconds = state.get("wall_seconds")
    if seconds is not None and (type(seconds) not in (int, float) or not math.isfinite(seconds) or seconds < 0):
        raise damaged(path, f"wall_seconds is {seconds!r:.40}")
    last_val = state.get("last_val")
    if last_val is not None and not (isinstance(last_val, dict) and all(
            isinstance(k, str) and (v is None or type(v) in (int, float)) for k, v in last_val.items())):
        raise damaged(path, f"last_val is {last_val!r:.40}")
    for key in ("generator", "discriminator"):
        value = state.get(key)
        if (value is not None or key == "generator") and not (isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())):
            raise damaged(path, f"{key} is not a state dict of named tensors")
    for key in ("opt_g", "opt_d"):
        value = state.get(key)
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("state"), dict)
                                      and isinstance(value.get("param_groups"), list) and value["param_groups"]
                                      and all(isinstance(g, dict) for g in value["param_groups"])):
            raise damaged(path, f"{key} is not an optimiser state")
    for key in ("scaler_g", "scaler_d"):
        if state.get(key) is not None and not isinstance(state[key], dict):
            raise damaged(path, f"{key} is not a gradient scaler state")
    rng = state.get("rng")
    if rng is not None and not isinstance(rng, list):
        raise damaged(path, "rng is not a list of RNG states")
    now = rng_state() if rng else None
    try:
        for index, one in enumerate(rng or []):
            try:  # the one sure check of an RNG state is to set it (the states of now are put back)
                set_rng_state(one)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError, OverflowError) as err:
                raise damaged(path, f"rng state {index} cannot be restored ({type(err).__name__})") from None
    finally:
        if now is not None:
            set_rng_state(now)


def _refusal(err: BaseException, path: Path) -> CheckpointError:
    """One line for a resume file torch.load(weights_only=True) would not read (its own message is
    a page of advice on unsafe loading, which is exactly what we never do)."""
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    operand = re.search(r"Unsupported operand (\d+)", text)
    if found or operand:
        what = f"asks for {found.group(1)}" if found else f"uses pickle instruction {operand.group(1)}"
        return CheckpointError(f"refusing to resume: the resume state {what}, which plain saved state never "
                               "needs (unpickling it could run code)", path=path,
                               hint="use a resume file written by rawcolour train, or start a new run")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return CheckpointError(f"cannot read the resume state ({type(err).__name__}: {first[:200]})", path=path,
                           hint="the file is corrupt or not rawcolour's; start a new run without --resume")
