"""What a training run writes into its folder (``TrainConfig.out``), by name, and its log's format::

    config.json                 the resolved options, recipe stages and data summary
    log.jsonl                   one JSON record per line: start, step (losses), val, stage, end
    last.safetensors            generator (+ discriminator under "discriminator."), with metadata
    last.resume.pt              everything else --resume needs (optimisers, scalers, RNG, position)
    checkpoints/step_N.safetensors, checkpoints/stage_NAME.safetensors
    samples/step_N.png          input | output | target rows of fixed validation samples

The trainer (rawcolour.train.loop) writes it and reads its log back on --resume; eval's report
reads the log for its training curves. Only :func:`write_checkpoints` and :func:`write_samples`
import torch (lazily), so eval can read a log without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawcolour.errors import InputError
from rawcolour.io.files import atomic_write_bytes, read_jsonl

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from rawcolour.registry import ModelSpec
    from rawcolour.train.resume import ResumeState

CONFIG_NAME = "config.json"
LOG_NAME = "log.jsonl"
LAST = "last.safetensors"
SIDECAR = "last.resume.pt"

__all__ = ["CONFIG_NAME", "LAST", "LOG_NAME", "SIDECAR", "append_record", "read_log", "rewrite_log",
           "write_checkpoints", "write_samples"]


def read_log(run: str | Path) -> list[dict[str, Any]]:
    """The records of a run's log; ``run`` is the run folder or the log file itself. Blank lines,
    non-records and a line cut off by an interrupted run are skipped; no log is an InputError."""
    path = Path(run)
    if path.is_dir():
        path = path / LOG_NAME
    if not path.is_file():
        raise InputError(f"no training log ({LOG_NAME})", path=path,
                         hint="--run takes the folder `rawcolour train --out` wrote")
    return read_jsonl(path)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str) + "\n"


def append_record(out: Path, record: dict[str, Any]) -> None:
    """Add one record at the end of the run's log."""
    with open(out / LOG_NAME, "a") as f:
        f.write(_line(record))


def rewrite_log(out: Path, records: list[dict[str, Any]]) -> None:
    """Replace the run's log with these records, atomically (an empty list starts a new log)."""
    atomic_write_bytes(out / LOG_NAME, "".join(_line(r) for r in records).encode(), what="log")


def write_checkpoints(out: Path, state: ResumeState, spec: ModelSpec, G: nn.Module, D: nn.Module | None,
                      meta: dict[str, str], tag: str | None = None) -> None:
    """The resume state, last.safetensors and, with a tag, checkpoints/TAG.safetensors."""
    from rawcolour.checkpoint import save_checkpoint

    d_kw = {"discriminator": D, "discriminator_spec": spec.discriminator} if D is not None else {}
    state.save(out / SIDECAR)
    save_checkpoint(out / LAST, G, meta, **d_kw)
    if tag:
        save_checkpoint(out / "checkpoints" / f"{tag}.safetensors", G, meta, **d_kw)


def write_samples(out: Path, step: int, grid: np.ndarray | None) -> None:
    """The sample grid of a step as samples/step_N.png (nothing without validation samples)."""
    from rawcolour.io.images import write_image

    if grid is not None:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        write_image(out / "samples" / f"step_{step:07d}.png", grid, bit_depth=8)
