"""Out-of-memory, recognised in one place for every backend (the tiler retries smaller, a batch
names it in a file's failure line). Torch-free: torch's errors are looked at only once torch is
loaded, so the baselines' batches never import it."""

from __future__ import annotations

import sys


def out_of_memory(err: BaseException) -> str | None:
    """'host' for host memory (MemoryError, torch's CPU allocator), 'device' for a device's allocator
    (CUDA OutOfMemoryError, MPS), None for anything else."""
    if isinstance(err, MemoryError):
        return "host"
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(err, torch.OutOfMemoryError):
        return "device"
    if isinstance(err, RuntimeError):
        text = str(err).lower()
        if "can't allocate memory" in text or "defaultcpuallocator" in text:  # torch's CPU allocator
            return "host"
        if "out of memory" in text or "failed to allocate" in text:
            return "device"
    return None


def is_oom(err: BaseException) -> bool:
    """True for out-of-memory from any backend (CUDA OutOfMemoryError, CPU allocator, MPS, MemoryError)."""
    return out_of_memory(err) is not None


__all__ = ["is_oom", "out_of_memory"]
