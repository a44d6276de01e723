"""Where this process stands under torchrun: one reading of RANK / WORLD_SIZE / LOCAL_RANK for
batch inference and training alike."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from rawcolour.errors import UsageError


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
