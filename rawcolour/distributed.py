"""Every torchrun / process-group concern, in one place: one reading of RANK / WORLD_SIZE /
LOCAL_RANK, the device of each rank, joining and leaving the process group (training's DDP group,
batch inference's count group) and summing counts over ranks.

torch is imported inside the functions that need it, so reading the ranks stays torch-free.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rawcolour.errors import UsageError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place under torchrun (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process takes part."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, prints summaries and saves."""
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Ranks":
        """Read torchrun's variables; malformed ones are a UsageError."""
        env = os.environ if environ is None else environ
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise UsageError("RANK / WORLD_SIZE / LOCAL_RANK are not integers",
                             hint="run under torchrun, or unset them") from None
        if world < 1 or not 0 <= rank < world:
            raise UsageError(f"RANK {rank} does not fit WORLD_SIZE {world}", hint="run under torchrun, or unset them")
        return cls(rank, world, local)


def rank_device(device: str, ranks: Ranks) -> str:
    """Under torchrun, 'auto' and 'cuda' mean this rank's own GPU (LOCAL_RANK), not GPU 0 for all."""
    if not ranks.enabled or device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{ranks.local_rank % torch.cuda.device_count()}"


def pick_device(pref: str, ranks: Ranks = Ranks()) -> "torch.device":
    """auto | cpu | cuda | cuda:N | mps -> a torch.device that exists here (rawcolour.inference.device rules);
    under torchrun, auto/cuda mean the GPU of this process's LOCAL_RANK."""
    from rawcolour.inference.device import resolve_device

    return resolve_device(rank_device((pref or "auto").strip().lower(), ranks))


# ------------------------------------------------------------------------------------- training


def init_training(device_pref: str) -> tuple[Ranks, "torch.device", bool]:
    """DDP from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK): gloo on CPU, nccl on CUDA.

    Returns (ranks, device, whether this call initialised the process group).
    """
    import torch
    import torch.distributed as dist

    info = Ranks.from_env()
    if not info.enabled:
        return info, pick_device(device_pref), False
    device = pick_device(device_pref, info)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        created = True
    return info, device, created


# ------------------------------------------------------------------------------------- batch inference


def share(jobs: Sequence[T], ranks: Ranks) -> list[T]:
    """This rank's jobs: every ``world``-th of the sorted plan, starting at ``rank``."""
    return list(jobs[ranks.rank :: ranks.world])


_COUNT_GROUP: Any = None  # the gloo group the final counts are summed over


def init_distributed(ranks: Ranks) -> bool:
    """Join torchrun's process group (gloo, for summing counts); False when alone or it cannot be made.

    Joining must happen within minutes (every rank starts together), but the final sum waits for
    the slowest rank's share of the batch, so it runs in a second group with a long timeout.
    """
    global _COUNT_GROUP
    if ranks.world <= 1 or not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        return False
    import datetime

    import torch.distributed as dist

    try:
        if not dist.is_initialized():
            dist.init_process_group("gloo", rank=ranks.rank, world_size=ranks.world,
                                    timeout=datetime.timedelta(minutes=10))
        _COUNT_GROUP = dist.new_group(backend="gloo", timeout=datetime.timedelta(days=7))
    except (RuntimeError, ValueError, OSError):
        return False
    return True


def reduce_counts(counts: Sequence[int]) -> list[int]:
    """Sum integer counts over the ranks (identity when not distributed)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(counts)
    t = torch.tensor(list(counts), dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=_COUNT_GROUP)
    return [int(v) for v in t.tolist()]


@contextlib.contextmanager
def summed_over_ranks(ranks: Ranks) -> Iterator[Callable[[Sequence[int]], list[int]]]:
    """A batch's process group (init_distributed) while the block runs: yields the sum of integer
    counts over the ranks (the counts themselves when alone, or when no group could be made), and
    leaves the group once the block is done (an error leaves it to the process's exit)."""
    joined = init_distributed(ranks)
    yield reduce_counts if joined else list
    if joined:
        close_distributed()


def close_distributed() -> None:
    """Leave the process group if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
