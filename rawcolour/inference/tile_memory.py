"""How big a tile may be: the activation memory of a network measured on small probes, the largest
tile that fits a device's budget (``tile="auto"``), and what the process learnt from out-of-memory.

The probe counts the live activation bytes of two small passes (a TorchDispatchMode that tracks
tensor storages), so the estimate holds for any net without a table of layer costs. After an
out-of-memory the tiler halves the memory of a device call (first the batch, then the tile) and
the size that worked is remembered per net, device and dtype, so later pictures start there.
"""

from __future__ import annotations

import math
import weakref

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from rawcolour.errors import DeviceError
from rawcolour.inference.tile_geometry import padded_size, round_up
from rawcolour.nets.norms import has_sample_statistics, set_norm_stats_mode

AUTO_TILE_CANDIDATES = (4096, 3072, 2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16)


class _LiveBytes(TorchDispatchMode):
    """Peak bytes of tensor storages alive at once during a forward (freed storages are subtracted)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, int] = {}
        self._size: dict[int, int] = {}

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ to keep Dynamo out of it, which imports torch._dynamo
        # on the first dispatch: 0.9 s of every learned model's first picture. The probe is never
        # compiled, so it opts out (the override torch's TorchDispatchMode documents).
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t, inputs)
        return out

    def _track(self, t: torch.Tensor, inputs: set[int]) -> None:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr == 0:
            return
        if ptr in self._refs:
            self._refs[ptr] += 1
        elif ptr in inputs:
            return  # a view of something allocated outside the forward (input, weights)
        else:
            self._refs[ptr] = 1
            self._size[ptr] = storage.nbytes()
            self.live += self._size[ptr]
            self.peak = max(self.peak, self.live)
        weakref.finalize(t, self._release, ptr)

    def _release(self, ptr: int) -> None:
        if ptr not in self._refs:
            return
        self._refs[ptr] -= 1
        if self._refs[ptr] == 0:
            del self._refs[ptr]
            self.live -= self._size.pop(ptr)


def peak_activation_bytes(net: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes of intermediate tensors alive at once while ``net(x)`` runs (inference mode)."""
    tracker = _LiveBytes()
    with torch.inference_mode(), tracker:
        y = net(x)
    nbytes = y.untyped_storage().nbytes() if isinstance(y, torch.Tensor) else 0
    del y
    return max(tracker.peak, nbytes)


# CPU convolutions keep oneDNN work buffers the probe cannot see; CUDA's allocator rounds blocks.
_PROBE_SAFETY = {"cpu": 1.5, "cuda": 1.25, "mps": 1.5}
_BPP_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def bytes_per_pixel(net: nn.Module, in_channels: int, device: torch.device, dtype: torch.dtype,
                    multiple: int, min_size: int = 1, channels_last: bool = False) -> float:
    """Estimated activation bytes per network-input pixel: the slope of the measured peak between
    two small square probes, times a per-device safety factor. Cached per net, device and dtype."""
    key = (str(device), dtype, in_channels, channels_last)
    cache = _BPP_CACHE.setdefault(net, {})
    if key not in cache:
        side = padded_size(max(64, 2 * multiple), multiple, min_size)
        peaks = []
        for s in (side, 2 * side):
            x = torch.zeros(1, in_channels, s, s, device=device, dtype=dtype)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if has_sample_statistics(net):
                set_norm_stats_mode(net, "live")
            peaks.append(peak_activation_bytes(net, x))
        slope = (peaks[1] - peaks[0]) / (3 * side * side)
        slope = max(slope, peaks[1] / (4 * side * side) * 0.5)
        cache[key] = slope * _PROBE_SAFETY.get(device.type, 1.5)
    return cache[key]


# What worked after an out-of-memory, per (device, dtype, net): the largest (tile, batch) memory
# that ran, so later pictures in this process start there instead of failing again.
_WORKED: dict[tuple, int] = {}


def forget_tile_memory() -> None:
    """Forget the tile sizes remembered after out-of-memory (tests)."""
    _WORKED.clear()


def remembered_limit(key: tuple) -> int | None:
    """Pixels per device call that worked after an out-of-memory, or None."""
    return _WORKED.get(key)


def net_key(net: nn.Module, device: torch.device, dtype: torch.dtype) -> tuple:
    config = getattr(net, "config", None)
    return (str(device), dtype, type(net).__name__, repr(config) if config is not None else id(net))


def choose_tile(hp: int, wp: int, bpp: float, budget: float, multiple: int, min_tile: int, max_batch: int,
                limit_pixels: int | None = None) -> tuple[int | None, int]:
    """(tile side or None for the whole picture, tiles per batch) for ``tile='auto'``.

    The largest candidate tile whose activations (bpp * pixels) fit the budget; the whole
    picture when it fits; never more pixels per call than ``limit_pixels`` (remembered after OOM).
    """
    cap = budget / max(bpp, 1e-9)
    if limit_pixels is not None:
        cap = min(cap, limit_pixels)
    if hp * wp <= cap:
        return None, 1
    best = None
    candidates = {round_up(c, multiple) for c in AUTO_TILE_CANDIDATES} | {min_tile}
    if limit_pixels is not None:  # exactly what worked after an out-of-memory
        candidates.add(max(multiple, int(math.isqrt(int(limit_pixels))) // multiple * multiple))
    for t in sorted(candidates, reverse=True):
        if t < min_tile:
            continue
        if min(t, hp) * min(t, wp) <= cap:
            best = t
            break
    if best is None:
        best = min_tile
    if best >= hp and best >= wp:
        return None, 1
    area = min(best, hp) * min(best, wp)
    batch = int(max(1, min(max_batch, cap // max(area, 1))))
    return best, batch


def remember_call(key: tuple, pixels: int) -> None:
    """``pixels`` per device call ran after an out-of-memory: later pictures start there."""
    _WORKED[key] = pixels


def shrink_to(tile: int, batch: int, limit: int, m: int, min_tile: int) -> tuple[int, int]:
    """The largest (tile, batch) with tile^2 * batch <= limit, batch first."""
    while tile * tile * batch > limit and batch > 1:
        batch //= 2
    while tile * tile * batch > limit and tile > min_tile:
        tile = max(min_tile, round_up(tile // 2, m) if round_up(tile // 2, m) < tile else tile - m)
    return tile, batch


def halved_call(tile: int | None, batch: int, hp: int, wp: int, m: int, min_tile: int, device: torch.device,
                err: BaseException) -> tuple[int | None, int]:
    """After an out-of-memory: (tile, batch) with half the memory of one device call, the batch
    first, then the tile side; a DeviceError when the smallest tile did not fit either."""
    if batch > 1:
        return tile, batch // 2
    start = max(hp, wp) if tile is None else tile
    smaller = round_up(start // 2, m)
    if smaller >= start:
        smaller = start - m
    if smaller < min_tile:
        raise DeviceError(f"out of memory on {device} even with the smallest tile ({min_tile} pixels)",
                          hint="free device memory, use --device cpu, or a smaller --overlap") from err
    return smaller, batch


__all__ = [
    "AUTO_TILE_CANDIDATES",
    "bytes_per_pixel",
    "choose_tile",
    "forget_tile_memory",
    "halved_call",
    "net_key",
    "peak_activation_bytes",
    "remember_call",
    "remembered_limit",
    "shrink_to",
]
