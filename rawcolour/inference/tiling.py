"""Sliding-window inference for pictures of any size, without seams.

The picture stays in host memory as a (C, H, W) float32 tensor; only tiles go to the device, a few
per batch. The output is accumulated in one float32 host array of the output's size, nothing else
of the picture's size is allocated (tiles are gathered with mirrored indices, so no padded copy).

- Grid: tiles of ``tile`` x ``tile`` network-input pixels; neighbours overlap by at least
  ``2 * overlap`` and tile corners sit on multiples of the net's size multiple, so every tile sees
  the same stride-2 sampling grid as a whole-picture pass. The picture is mirrored (reflect) up to
  the size multiple (and the net's minimum side) and cropped back.
- Blending: separable raised-cosine (Hann) ramps across the central ``feather`` share of each
  overlap, normalised per axis so the weights of all tiles sum to exactly 1 everywhere (a
  partition of unity): no weight array of the picture's size is needed.
- Norm statistics: a tile normalised with its own instance-norm statistics changes colour. The
  statistics are recorded once on a reduced whole-picture pass no larger than one device call
  (``stats="downscale"``: the picture point-sampled down to that size) and frozen for the tiles;
  ``stats="exact"`` pools them over all tiles, one layer per pass, which reproduces the untiled
  statistics. ``benchmarks/tile_quality.py`` compares the choices; see STATS_DEFAULT.
- ``tile="auto"``: the largest tile whose activations fit the device's memory budget, estimated by
  measuring the live activation bytes of two small probe passes; out-of-memory halves the memory
  of a device call (first the batch, then the tile) and the process remembers what worked.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from rawcolour.inference.device import is_oom, memory_budget, release_memory
from rawcolour.errors import DeviceError, UsageError
from rawcolour.nets.norms import _SampleStatsNorm, has_sample_statistics, set_norm_stats_mode

STATS_MODES = ("auto", "downscale", "crops", "full", "exact", "live")
# Measured on Kodak photos unprocessed to RAW (benchmarks/tile_quality.py): recording instance-norm
# statistics on the whole picture point-sampled down to one device call beat a mosaic of
# full-resolution crops for a trained sgan-tiny, and is what "auto" uses whenever the picture does
# not fit one device call. "exact" pools them over the tiles layer by layer (about 5x the work).
STATS_DEFAULT = "downscale"
# Share of each overlap over which neighbouring tiles are cross-faded; the outer rest of the
# overlap is context only (its outputs see the tile border). Measured best of 0.5 / 0.75 / 1.0.
FEATHER_DEFAULT = 0.5
# Tiles per call on a CPU: batching measured slower per pixel there (benchmarks/sgan_speed.json:
# batch 8 vs batch 1 at 224), because a batch's activations leave the caches; GPUs batch.
CPU_TILE_BATCH = 1
AUTO_TILE_CANDIDATES = (4096, 3072, 2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16)


class NonFiniteOutput(RuntimeError):
    """The network produced NaN or infinity (typically fp16 overflow); the caller retries in fp32."""


@dataclass
class TiledResult:
    """Output (H, W, C) float32 in host memory, and how it was made."""

    output: np.ndarray
    tile: int | None  # tile side used; None: the whole picture in one pass
    batch: int
    stats: str | None  # where frozen norm statistics came from (None: no tiles or no sample-statistics norms)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- geometry


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def padded_size(n: int, multiple: int, min_size: int = 1) -> int:
    """Side after mirroring up to the size multiple and the minimum side."""
    return round_up(max(n, min_size), multiple)


def mirror_indices(n: int, start: int, count: int) -> np.ndarray:
    """Indices start..start+count-1 folded into 0..n-1 by whole-sample mirroring (reflect: ... 2 1 0 1 2 ...).

    Works for any distance outside the range (repeated mirroring), and n == 1 (replicate).
    """
    idx = np.arange(start, start + count, dtype=np.int64)
    if n == 1:
        return np.zeros(count, dtype=np.int64)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` (padded; both multiples of ``multiple``).

    Starts are multiples of ``multiple``, the last tile ends at ``length``, neighbours overlap by at
    least 2 * overlap, and steps are as even as the multiple allows.
    """
    if tile >= length:
        return [0]
    step_units = (tile - 2 * overlap) // multiple
    if step_units < 1:
        raise UsageError(f"tile {tile} leaves no room to advance with overlap {overlap}",
                         hint=f"use a tile of at least 2 * overlap + {multiple}, or a smaller --overlap")
    span_units = (length - tile) // multiple
    n = -(-span_units // step_units) + 1
    return [multiple * ((k * span_units) // (n - 1)) for k in range(n)]


def axis_weights(starts: list[int], tile: int, length: int, feather: float = FEATHER_DEFAULT) -> list[np.ndarray]:
    """Per tile, a (tile,) float64 weight along one axis; summed over tiles they are 1 at every position.

    Between neighbours k, k+1 (overlap [s_{k+1}, s_k + tile)) the weights cross-fade with a raised
    cosine over the central ``feather`` share of the overlap; the picture's own edges get weight 1.
    """
    raw = []
    n = len(starts)
    for k, s in enumerate(starts):
        w = np.ones(tile, dtype=np.float64)
        if k > 0:  # rising edge, shared with the previous tile's falling edge
            a, b = _fade_zone(starts[k - 1], s, tile, feather)
            w[: a - s] = 0.0
            w[a - s:b - s] = _rise(b - a)
        if k < n - 1:
            a, b = _fade_zone(s, starts[k + 1], tile, feather)
            w[a - s:b - s] *= 1.0 - _rise(b - a)
            w[b - s:] = 0.0
        raw.append(w)
    total = np.zeros(length, dtype=np.float64)
    for s, w in zip(starts, raw):
        total[s:s + tile] += w
    return [w / total[s:s + tile] for s, w in zip(starts, raw)]


def _fade_zone(s_prev: int, s_next: int, tile: int, feather: float) -> tuple[int, int]:
    """[a, b): the central ``feather`` share of the overlap [s_next, s_prev + tile), at least 1 pixel."""
    lo, hi = s_next, s_prev + tile
    if hi <= lo:  # abutting tiles (overlap 0): a hard cut
        return lo, lo
    width = max(1, int(round((hi - lo) * feather)))
    a = lo + (hi - lo - width) // 2
    return a, a + width


def _rise(n: int) -> np.ndarray:
    """sin^2 ramp from ~0 to ~1 over n samples; rise(n)[i] + rise(n)[n-1-i] == 1."""
    if n <= 0:
        return np.zeros(0)
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.sin(0.5 * np.pi * t) ** 2


# ---------------------------------------------------------------------------------------- memory


class _LiveBytes(TorchDispatchMode):
    """Peak bytes of tensor storages alive at once during a forward (freed storages are subtracted)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, int] = {}
        self._size: dict[int, int] = {}

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


def _net_key(net: nn.Module, device: torch.device, dtype: torch.dtype) -> tuple:
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


# ---------------------------------------------------------------------------------------- running


Preprocess = Callable[[torch.Tensor], torch.Tensor]


def run_tiled(
    net: nn.Module,
    x: torch.Tensor,
    *,
    out_channels: int,
    tile: int | str | None = "auto",
    overlap: int = 32,
    size_multiple: int = 1,
    min_size: int = 1,
    batch: int = 4,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    preprocess: Preprocess | None = None,
    postprocess: Preprocess | None = None,
    stats: str = "auto",
    feather: float = FEATHER_DEFAULT,
    budget: Callable[[], float] | None = None,
    check_finite: bool = False,
    whole_if_fits: bool = True,
    scale: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> TiledResult:
    """Run ``net`` over a (C, H, W) host picture; returns the (s*H, s*W, out_channels) float32 output.

    ``scale`` (s): output pixels per input pixel along each side (2 for a developer whose head
    writes the sensor resolution from packed planes); tiles and blending weights scale with it.

    ``tile``: "auto", a side in network-input pixels, or None / 0 for one whole-picture pass.
    ``preprocess`` / ``postprocess`` run on the device per batch (network value scaling);
    ``postprocess`` must be affine per pixel (blending happens after it).
    ``stats``: where frozen instance-norm statistics come from when tiling (see STATS_MODES);
    "live" reproduces per-tile statistics (the reference code's seams; for comparisons only).
    ``budget``: bytes of activations a device call may use (default: a share of free memory).
    ``whole_if_fits``: when the whole picture fits one device call (tile^2 * batch pixels), run it
    whole: exact and cheaper than tiles.
    ``check_finite``: raise NonFiniteOutput as soon as a batch has NaN/inf.
    ``progress(done, total)``: called after each device call of the output pass with the tiles
    done so far (1 of 1 for a whole-picture pass), so a caller can show progress within a picture.
    ``stats="exact"``'s statistics passes come before it and are not counted.
    """
    if x.dim() != 3:
        raise ValueError(f"run_tiled wants a (C, H, W) picture, got shape {tuple(x.shape)}")
    if stats not in STATS_MODES:
        raise UsageError(f"unknown norm statistics source {stats!r}", hint=f"use one of {', '.join(STATS_MODES)}")
    device = torch.device(device)
    if device.type == "cpu":
        batch = min(int(batch), CPU_TILE_BATCH)
    x = x.float() if x.dtype != torch.float32 else x
    _c, h, w = x.shape
    m = max(1, int(size_multiple))
    hp, wp = padded_size(h, m, min_size), padded_size(w, m, min_size)
    overlap = max(0, int(overlap))
    min_tile = max(padded_size(min_size, m), round_up(2 * overlap + m, m))
    budget_fn = budget or (lambda: memory_budget(device))
    key = _net_key(net, device, dtype)
    notes: list[str] = []

    auto = isinstance(tile, str)
    if auto and tile != "auto":
        raise UsageError(f"tile must be 'auto', 0 or a number of pixels, got {tile!r}")
    if not auto and tile:
        t = int(tile)
        if t < 0:
            raise UsageError(f"tile must be positive, got {t}")
        t_req = t
        t = max(round_up(t, m) if t % m else t, min_tile)
        if t != t_req:
            notes.append(f"tile {t_req} raised to {t} (multiple of {m}, at least 2 x overlap {overlap} + {m})")
        tile_side: int | None = t
        n_batch = max(1, int(batch))
    elif not auto:
        tile_side, n_batch = None, 1
    else:
        bpp = bytes_per_pixel(net, x.shape[0], device, dtype, m, min_size, channels_last)
        tile_side, n_batch = choose_tile(hp, wp, bpp, budget_fn(), m, min_tile, max(1, int(batch)),
                                         remembered_limit(key))
    if tile_side is not None and tile_side >= hp and tile_side >= wp:
        tile_side = None
    if tile_side is not None and whole_if_fits and hp * wp <= tile_side * tile_side * n_batch:
        if not auto:
            notes.append(f"the picture fits one device call of {n_batch} tile(s) of {tile_side}; ran it whole")
        tile_side, n_batch = None, 1

    limit = remembered_limit(key)
    if tile_side is not None and limit is not None and tile_side * tile_side * n_batch > limit:
        tile_side, n_batch = _shrink_to(tile_side, n_batch, limit, m, min_tile)
        notes.append(f"tile {tile_side}, batch {n_batch}: what fitted after an earlier out-of-memory")
    oom_seen = False
    while True:
        try:
            result = _run(net, x, out_channels, tile_side, overlap, m, min_size, n_batch, device, dtype,
                          channels_last, preprocess, postprocess, stats, feather, check_finite, notes, int(scale),
                          progress or (lambda done, total: None))
        except (RuntimeError, MemoryError) as err:
            if isinstance(err, NonFiniteOutput) or not is_oom(err):
                raise
            release_memory(device)
            pixels = hp * wp if tile_side is None else min(tile_side, hp) * min(tile_side, wp) * n_batch
            # halve the memory of one device call: the batch first, then the tile side
            if n_batch > 1:
                n_batch //= 2
            else:
                start = max(hp, wp) if tile_side is None else tile_side
                smaller = round_up(start // 2, m)
                if smaller >= start:
                    smaller = start - m
                if smaller < min_tile:
                    raise DeviceError(
                        f"out of memory on {device} even with the smallest tile ({min_tile} pixels)",
                        hint="free device memory, use --device cpu, or a smaller --overlap") from err
                tile_side = smaller
            oom_seen = True
            notes.append(f"out of memory at {pixels} pixels per device call; retried with tile {tile_side}, "
                         f"batch {n_batch}")
            continue
        if oom_seen:
            used = hp * wp if tile_side is None else min(tile_side, hp) * min(tile_side, wp) * n_batch
            _WORKED[key] = used
        return result


def _shrink_to(tile: int, batch: int, limit: int, m: int, min_tile: int) -> tuple[int, int]:
    """The largest (tile, batch) with tile^2 * batch <= limit, batch first."""
    while tile * tile * batch > limit and batch > 1:
        batch //= 2
    while tile * tile * batch > limit and tile > min_tile:
        tile = max(min_tile, round_up(tile // 2, m) if round_up(tile // 2, m) < tile else tile - m)
    return tile, batch


def _run(net, x, out_channels, tile_side, overlap, m, min_size, n_batch, device, dtype, channels_last,
         preprocess, postprocess, stats, feather, check_finite, notes, s, progress) -> TiledResult:
    _c, h, w = x.shape
    hp, wp = padded_size(h, m, min_size), padded_size(w, m, min_size)
    out = np.zeros((s * h, s * w, out_channels), dtype=np.float32)
    sample_stats = has_sample_statistics(net)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(device=device, dtype=dtype, non_blocking=True)
        if preprocess is not None:
            batch = preprocess(batch)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        y = net(batch)
        if check_finite and not bool(torch.isfinite(y).all()):
            raise NonFiniteOutput(f"the network produced non-finite values in {str(dtype).replace('torch.', '')}")
        y = y.float()
        if postprocess is not None:
            y = postprocess(y)
        return y  # (B, out, th, tw) float32 on device

    source = None
    try:
        with torch.inference_mode():
            if sample_stats:
                set_norm_stats_mode(net, "live")
            if tile_side is None:
                rows, cols = mirror_indices(h, 0, hp), mirror_indices(w, 0, wp)
                y = forward(_gather(x, rows, cols)[None])[0]
                out[...] = y[:, :s * h, :s * w].permute(1, 2, 0).cpu().numpy()
                progress(1, 1)
                return TiledResult(out, None, 1, None, notes)
            th, tw = min(tile_side, hp), min(tile_side, wp)
            ys, xs = tile_starts(hp, th, overlap, m), tile_starts(wp, tw, overlap, m)
            wy, wx = axis_weights(ys, th, hp, feather), axis_weights(xs, tw, wp, feather)
            if s != 1:  # each input pixel's weight covers its s x s output pixels
                wy, wx = [np.repeat(v, s) for v in wy], [np.repeat(v, s) for v in wx]
            positions = [(i, j) for i in range(len(ys)) for j in range(len(xs))]

            def batches():
                for k in range(0, len(positions), n_batch):
                    chunk = positions[k:k + n_batch]
                    tiles = torch.stack([_gather(x, mirror_indices(h, ys[i], th), mirror_indices(w, xs[j], tw))
                                         for i, j in chunk])
                    yield chunk, tiles

            if sample_stats:
                if stats == "live":
                    source = "live"
                elif stats == "exact":
                    source = _exact_stats(net, batches, forward, (th, tw), _cores(ys, th, hp, m), _cores(xs, tw, wp, m))
                else:
                    source = _record_stats(net, x, forward, stats, hp, wp, th * tw * n_batch, m, min_size)
                    set_norm_stats_mode(net, "frozen")
            done = 0
            for chunk, tiles in batches():
                y = forward(tiles)
                for (i, j), yt in zip(chunk, y):
                    _accumulate(out, yt, s * ys[i], s * xs[j], wy[i], wx[j], s * h, s * w)
                done += len(chunk)
                progress(done, len(positions))
    finally:
        if sample_stats:
            _reset_stats(net)
    return TiledResult(out, tile_side, n_batch, source, notes)


def _cores(starts: list[int], tile: int, length: int, m: int) -> list[tuple[int, int]]:
    """Per tile, the [lo, hi) it owns in tile coordinates: split at overlap midpoints (multiples of m),
    so the cores partition the padded picture and map to whole pixels at every stride-2 level."""
    bounds = [0]
    for a, b in zip(starts, starts[1:]):
        bounds.append(max(b, min(a + tile, ((b + a + tile) // 2) // m * m)))
    bounds.append(length)
    return [(lo - s, hi - s) for s, lo, hi in zip(starts, bounds, bounds[1:])]


class _StatsAccumulator:
    """Forward pre-hooks that pool each sample-statistics norm's input over the tiles' cores.

    Pooled sums over the cores equal the whole-picture statistics when each tile's activations
    match the whole-picture pass there; freeze() installs mean and variance as frozen statistics.
    """

    def __init__(self, net: nn.Module, tile_shape: tuple[int, int], cores_y: list, cores_x: list,
                 only: "_SampleStatsNorm | None" = None, stop: bool = False) -> None:
        self.tile_h, self.tile_w = tile_shape
        self.norms = [mod for mod in net.modules() if isinstance(mod, _SampleStatsNorm)]
        if only is not None:
            self.norms = [only]
        self.cores_y, self.cores_x, self.stop = cores_y, cores_x, stop
        self.chunk: list[tuple[int, int]] = []
        self.sums: dict[int, list] = {}
        self.handles: list = []

    def __enter__(self):
        for mod in self.norms:
            self.handles.append(mod.register_forward_pre_hook(self._hook))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles = []
        return False

    def _hook(self, mod, args):
        x = args[0]  # (B, C, lh, lw) at this layer's resolution
        total = self.sums.setdefault(id(mod), [mod, 0.0, 0.0, 0])
        dims = tuple(d - 1 for d in mod.reduce_dims)  # per-sample dims
        lh, lw = x.shape[-2:]
        fy, fx = lh / self.tile_h, lw / self.tile_w
        for b, (i, j) in enumerate(self.chunk):
            (y0, y1), (x0, x1) = self.cores_y[i], self.cores_x[j]
            region = x[b, :, int(y0 * fy):int(y1 * fy), int(x0 * fx):int(x1 * fx)].double()  # (C, h, w)
            total[1] = total[1] + region.sum(dim=dims, keepdim=True)
            total[2] = total[2] + (region * region).sum(dim=dims, keepdim=True)
            total[3] += math.prod(region.shape[d] for d in dims)
        if self.stop:
            raise _StopForward

    def freeze(self) -> None:
        for mod, s1, s2, n in self.sums.values():
            mean = s1 / n
            var = (s2 / n - mean * mean).clamp_min(0.0)
            mod.frozen_mean, mod.frozen_var = mean[None].float(), var[None].float()
            mod.stats_mode = "frozen"


class _StopForward(Exception):
    """Raised by a hook once the layer of interest has seen its input: the rest of the net is skipped."""


def _exact_stats(net, batches, forward, tile_shape, cores_y, cores_x) -> str:
    """Layer by layer, pool each norm's input over all tiles with the earlier norms frozen at their
    pooled values: the whole-picture statistics up to tile-border context. Costs a prefix pass per norm."""
    order: list[_SampleStatsNorm] = []
    handles = [mod.register_forward_pre_hook(lambda mod, args: order.append(mod) if mod not in order else None)
               for mod in net.modules() if isinstance(mod, _SampleStatsNorm)]
    try:
        set_norm_stats_mode(net, "live")
        chunk, tiles = next(iter(batches()))
        forward(tiles[:1])
    finally:
        for handle in handles:
            handle.remove()
    for mod in order:
        acc = _StatsAccumulator(net, tile_shape, cores_y, cores_x, only=mod, stop=True)
        with acc:
            for chunk, tiles in batches():
                acc.chunk = chunk
                try:
                    forward(tiles)
                except _StopForward:
                    pass
        acc.freeze()
    return f"exact over tiles ({len(order)} layer passes)"


def _reset_stats(net: nn.Module) -> None:
    """Back to live statistics, recorded ones dropped (the prepared net is shared between calls)."""
    set_norm_stats_mode(net, "live")
    for mod in net.modules():
        if hasattr(mod, "frozen_mean"):
            mod.frozen_mean = mod.frozen_var = None


def _gather(x: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    """x[:, rows][:, :, cols] for mirrored index arrays, without touching the rest of the picture."""
    r0, c0 = int(rows[0]), int(cols[0])
    if np.array_equal(rows, np.arange(r0, r0 + len(rows))) and np.array_equal(cols, np.arange(c0, c0 + len(cols))):
        return x[:, r0:r0 + len(rows), c0:c0 + len(cols)]  # a view: callers stack or scale it (copies)
    r, c = torch.from_numpy(rows), torch.from_numpy(cols)
    return x[:, r[:, None], c[None, :]]  # one gather: (C, len(rows), len(cols)), no full-width strip


def _accumulate(out: np.ndarray, y: torch.Tensor, y0: int, x0: int, wy: np.ndarray, wx: np.ndarray,
                h: int, w: int) -> None:
    """out[y0:, x0:] += y * (wy outer wx), clipped to the picture (padding is dropped)."""
    th, tw = y.shape[-2:]
    vh, vw = min(th, h - y0), min(tw, w - x0)
    if vh <= 0 or vw <= 0:
        return
    ry, rx = wy[:vh], wx[:vw]
    nz_y, nz_x = np.nonzero(ry)[0], np.nonzero(rx)[0]
    if len(nz_y) == 0 or len(nz_x) == 0:
        return
    a, b = int(nz_y[0]), int(nz_y[-1]) + 1
    c, d = int(nz_x[0]), int(nz_x[-1]) + 1
    weight = torch.from_numpy(np.outer(ry[a:b], rx[c:d]).astype(np.float32)).to(y.device)
    part = (y[:, a:b, c:d] * weight).permute(1, 2, 0).cpu().numpy()  # (b-a, d-c, C)
    out[y0 + a:y0 + b, x0 + c:x0 + d] += part


def _record_stats(net, x, forward, stats, hp, wp, max_pixels, m, min_size) -> str:
    """Run one reduced whole-picture pass in 'record' mode; returns a description of the source."""
    _c, h, w = x.shape
    mode = STATS_DEFAULT if stats == "auto" else stats
    if mode == "full" or (stats == "auto" and hp * wp <= max_pixels):
        inp = _gather(x, mirror_indices(h, 0, hp), mirror_indices(w, 0, wp))[None]
        source = "full"
    elif mode == "downscale":
        f = math.sqrt(max_pixels / (hp * wp))
        sh = padded_size(max(1, int(h * f)), m, min_size)
        sw = padded_size(max(1, int(w * f)), m, min_size)
        # the reduced picture must not exceed one device call; shrink by one multiple if rounding grew it
        while sh * sw > max_pixels and (sh > padded_size(1, m, min_size) or sw > padded_size(1, m, min_size)):
            if sh >= sw and sh > padded_size(1, m, min_size):
                sh -= m
            elif sw > padded_size(1, m, min_size):
                sw -= m
            else:
                sh -= m
        small = _point_sample(x, max(1, int(round(h * sh / hp))), max(1, int(round(w * sw / wp))))
        inp = _gather(small, mirror_indices(small.shape[1], 0, sh), mirror_indices(small.shape[2], 0, sw))[None]
        source = f"downscale {sh}x{sw}"
    elif mode == "crops":
        inp = _crop_mosaic(x, hp, wp, max_pixels, m, min_size)[None]
        source = f"crops {inp.shape[-2]}x{inp.shape[-1]}"
    else:
        raise UsageError(f"unknown norm statistics source {stats!r}")
    set_norm_stats_mode(net, "record")
    forward(inp)
    return source


def _point_sample(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(C, H, W) -> (C, h, w) by picking pixels (nearest, centred); only the small output is allocated.

    Point sampling keeps the pixels' own distribution (noise and texture energy) that the first
    layers' statistics depend on; averaging (area) or blending (bilinear) lowers it. Measured on
    the 2x2 Kodak grid (benchmarks/tile_quality.py), tiles 512 / 256, PSNR tiled vs untiled:
    sgan-tiny random 30.6 / 28.3 dB (area 23.1 / 26.1), a briefly trained sgan-tiny 52.4 / 42.9 dB
    (area 47.0 / 42.3; bilinear 51.1 / 43.0).
    """
    if (h, w) == tuple(x.shape[1:]):
        return x
    return F.interpolate(x[None], size=(h, w), mode="nearest-exact")[0]


def _crop_mosaic(x: torch.Tensor, hp: int, wp: int, max_pixels: int, m: int, min_size: int,
                 grid: int = 2) -> torch.Tensor:
    """A grid x grid mosaic of full-resolution crops spread over the picture, at most max_pixels."""
    _c, h, w = x.shape
    f = math.sqrt(max_pixels / (hp * wp))
    ch = max(m, (int(hp * f) // grid) // m * m)
    cw = max(m, (int(wp * f) // grid) // m * m)
    rows = []
    for i in range(grid):
        cy = int((i + 0.5) * h / grid - ch / 2)
        row = []
        for j in range(grid):
            cx = int((j + 0.5) * w / grid - cw / 2)
            row.append(_gather(x, mirror_indices(h, max(0, cy), ch), mirror_indices(w, max(0, cx), cw)))
        rows.append(torch.cat(row, dim=2))
    mosaic = torch.cat(rows, dim=1)
    mh, mw = padded_size(mosaic.shape[1], m, min_size), padded_size(mosaic.shape[2], m, min_size)
    return _gather(mosaic, mirror_indices(mosaic.shape[1], 0, mh), mirror_indices(mosaic.shape[2], 0, mw))


__all__ = [
    "AUTO_TILE_CANDIDATES",
    "FEATHER_DEFAULT",
    "NonFiniteOutput",
    "STATS_DEFAULT",
    "STATS_MODES",
    "TiledResult",
    "axis_weights",
    "bytes_per_pixel",
    "choose_tile",
    "forget_tile_memory",
    "mirror_indices",
    "padded_size",
    "peak_activation_bytes",
    "remembered_limit",
    "run_tiled",
    "tile_starts",
]
