"""Sliding-window inference for pictures of any size, without seams: the tiled run.

The picture stays in host memory as a (C, H, W) float32 tensor; only tiles go to the device, a few
per batch. The output is accumulated in one float32 host array of the output's size, nothing else
of the picture's size is allocated (tiles are gathered with mirrored indices, so no padded copy).

Where the tiles go and how they blend: rawcolour.inference.tile_geometry. How big they may be
(``tile="auto"``, out-of-memory retries): rawcolour.inference.tile_memory. Where frozen
instance-norm statistics come from: rawcolour.inference.norm_stats (``stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn as nn

from rawcolour.inference.device import memory_budget, release_memory
from rawcolour.inference.norm_stats import StatsSource, stats_source
from rawcolour.inference.oom import is_oom
from rawcolour.inference.options import tile_option
from rawcolour.inference.tile_geometry import FEATHER_DEFAULT, TileGrid, mirror_indices, padded_size, round_up
from rawcolour.inference.tile_memory import (
    bytes_per_pixel,
    choose_tile,
    halved_call,
    net_key,
    remember_call,
    remembered_limit,
    shrink_to,
)
from rawcolour.nets.norms import has_sample_statistics, reset_norm_stats, set_norm_stats_mode

# Tiles per call on a CPU: batching measured slower per pixel there (benchmarks/sgan_speed.json:
# batch 8 vs batch 1 at 224), because a batch's activations leave the caches; GPUs batch.
CPU_TILE_BATCH = 1

Preprocess = Callable[[torch.Tensor], torch.Tensor]
Progress = Callable[[int, int], None]


class NonFiniteOutput(RuntimeError):
    """The network produced NaN or infinity (typically fp16 overflow); the caller retries in fp32."""


@dataclass
class TiledResult:
    """Output (H, W, C) float32 in host memory (for one whole-picture pass a channel-last view of the
    network's own output, not C-contiguous), and how it was made."""

    output: np.ndarray
    tile: int | None  # tile side used; None: the whole picture in one pass
    batch: int
    stats: str | None  # where frozen norm statistics came from (None: no tiles or no sample-statistics norms)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NetCall:
    """How the network is called on a host batch: device, dtype, layout and value scaling."""

    net: nn.Module
    device: torch.device
    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    preprocess: Preprocess | None = None  # on the device, per batch (network value scaling)
    postprocess: Preprocess | None = None  # affine per pixel, may work in place: blending happens after it
    check_finite: bool = False  # NonFiniteOutput as soon as a batch has NaN/inf
    # What computes ``net``'s function, when not ``net`` itself: an onnxruntime session
    # (rawcolour.inference.onnx_backend). ``net`` stays what the memory probe measures.
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) host tiles -> (B, out, s*h, s*w) float32 on the device."""
        batch = batch.to(device=self.device, dtype=self.dtype, non_blocking=True)
        if self.preprocess is not None:
            batch = self.preprocess(batch)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        y = (self.forward or self.net)(batch)
        if self.check_finite and not bool(torch.isfinite(y).all()):
            raise NonFiniteOutput(f"the network produced non-finite values in {str(self.dtype).replace('torch.', '')}")
        y = y.float()
        if y.untyped_storage().data_ptr() == batch.untyped_storage().data_ptr():
            y = y.clone()  # the net handed back (a view of) its input, which may be the caller's picture
        return self.postprocess(y) if self.postprocess is not None else y

    @property
    def memory_key(self) -> tuple:
        """What out-of-memory experience is remembered under (rawcolour.inference.tile_memory)."""
        return net_key(self.net, self.device, self.dtype)


@dataclass(frozen=True)
class TilePlan:
    """How one picture is cut for the network: what run_tiled decided."""

    tile: int | None  # tile side in network-input pixels; None: the whole picture in one pass
    batch: int  # tiles per device call
    overlap: int  # context on each side of a tile
    multiple: int  # the net's size multiple
    min_size: int  # the net's minimum side
    scale: int = 1  # output pixels per input pixel along each side
    feather: float = FEATHER_DEFAULT  # share of each overlap that is cross-faded

    @property
    def min_tile(self) -> int:
        """The smallest tile: the net's minimum side, and room to advance past the overlaps."""
        return max(padded_size(self.min_size, self.multiple), round_up(2 * self.overlap + self.multiple, self.multiple))

    def padded(self, height: int, width: int) -> tuple[int, int]:
        return padded_size(height, self.multiple, self.min_size), padded_size(width, self.multiple, self.min_size)

    def call_pixels(self, hp: int, wp: int) -> int:
        """Network-input pixels of one device call."""
        return hp * wp if self.tile is None else min(self.tile, hp) * min(self.tile, wp) * self.batch


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
    stats: str | StatsSource = "auto",
    feather: float = FEATHER_DEFAULT,
    budget: Callable[[], float] | None = None,
    check_finite: bool = False,
    whole_if_fits: bool = True,
    scale: int = 1,
    progress: Progress | None = None,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> TiledResult:
    """Run ``net`` over a (C, H, W) host picture; returns the (s*H, s*W, out_channels) float32 output.

    ``scale`` (s): output pixels per input pixel along each side (2 for a developer whose head
    writes the sensor resolution from packed planes); tiles and blending weights scale with it.

    ``tile``: "auto", a side in network-input pixels, or None / 0 for one whole-picture pass.
    ``preprocess`` / ``postprocess`` run on the device per batch (network value scaling);
    ``postprocess`` must be affine per pixel (blending happens after it); it may change the network's
    output in place.
    ``stats``: where frozen instance-norm statistics come from when tiling: "auto" or "exact"
    (rawcolour.inference.norm_stats), or a source of one's own (benchmarks/tile_stats.py).
    ``budget``: bytes of activations a device call may use (default: a share of free memory).
    ``whole_if_fits``: when the whole picture fits one device call (tile^2 * batch pixels), run it
    whole: exact and cheaper than tiles.
    ``check_finite``: raise NonFiniteOutput as soon as a batch has NaN/inf.
    ``progress(done, total)``: called after each device call of the output pass with the tiles
    done so far (1 of 1 for a whole-picture pass), so a caller can show progress within a picture.
    ``stats="exact"``'s statistics passes come before it and are not counted.
    ``forward``: what computes ``net``'s function on a batch instead of ``net`` (an onnxruntime
    session); ``net`` is still what tile="auto" measures and what norm statistics are kept in.
    """
    if x.dim() != 3:
        raise ValueError(f"run_tiled wants a (C, H, W) picture, got shape {tuple(x.shape)}")
    source, tile = stats_source(stats), tile_option(tile)
    device = torch.device(device)
    call = NetCall(net, device, dtype, channels_last, preprocess, postprocess, check_finite, forward)
    x = x.float() if x.dtype != torch.float32 else x
    if device.type == "cpu":
        batch = min(int(batch), CPU_TILE_BATCH)
    plan = TilePlan(None, max(1, int(batch)), max(0, int(overlap)), max(1, int(size_multiple)), min_size,
                    int(scale), feather)
    notes: list[str] = []
    plan = _sized(plan, call, x, tile, budget or (lambda: memory_budget(device)), whole_if_fits, notes)
    return _run_shrinking(call, x, out_channels, plan, source, notes, progress or (lambda done, total: None))


def _sized(plan: TilePlan, call: NetCall, x: torch.Tensor, tile: int | str, budget: Callable[[], float],
           whole_if_fits: bool, notes: list[str]) -> TilePlan:
    """``plan`` with the tile side and batch for this picture: as asked (raised to a multiple and the
    least tile), or for "auto" the largest that fits the budget; whole when it fits one call."""
    hp, wp = plan.padded(*x.shape[1:])
    m, n_batch = plan.multiple, plan.batch
    if tile == "auto":
        bpp = bytes_per_pixel(call.net, x.shape[0], call.device, call.dtype, m, plan.min_size, call.channels_last)
        side, n_batch = choose_tile(hp, wp, bpp, budget(), m, plan.min_tile, n_batch, remembered_limit(call.memory_key))
    elif tile:
        side = max(round_up(tile, m), plan.min_tile)
        if side != tile:
            notes.append(f"tile {tile} raised to {side} (multiple of {m}, at least 2 x overlap {plan.overlap} + {m})")
    else:
        side, n_batch = None, 1
    if side is not None and side >= hp and side >= wp:
        side = None
    if side is not None and whole_if_fits and hp * wp <= side * side * n_batch:
        if tile != "auto":
            notes.append(f"the picture fits one device call of {n_batch} tile(s) of {side}; ran it whole")
        side, n_batch = None, 1
    limit = remembered_limit(call.memory_key)
    if side is not None and limit is not None and side * side * n_batch > limit:
        side, n_batch = shrink_to(side, n_batch, limit, m, plan.min_tile)
        notes.append(f"tile {side}, batch {n_batch}: what fitted after an earlier out-of-memory")
    return replace(plan, tile=side, batch=n_batch)


def _run_shrinking(call: NetCall, x: torch.Tensor, out_channels: int, plan: TilePlan, stats: StatsSource,
                   notes: list[str], progress: Progress) -> TiledResult:
    """_run, and again with half the memory per device call after each out-of-memory; what worked
    is remembered for later pictures."""
    hp, wp = plan.padded(*x.shape[1:])
    oom_seen = False
    while True:
        try:
            result = _run(call, x, out_channels, plan, stats, notes, progress)
        except (RuntimeError, MemoryError) as err:
            if isinstance(err, NonFiniteOutput) or not is_oom(err):
                raise
            release_memory(call.device)
            pixels = plan.call_pixels(hp, wp)
            tile, batch = halved_call(plan.tile, plan.batch, hp, wp, plan.multiple, plan.min_tile, call.device, err)
            plan, oom_seen = replace(plan, tile=tile, batch=batch), True
            notes.append(f"out of memory at {pixels} pixels per device call; retried with tile {plan.tile}, "
                         f"batch {plan.batch}")
            continue
        if oom_seen:
            remember_call(call.memory_key, plan.call_pixels(hp, wp))
        return result


def _run(call: NetCall, x: torch.Tensor, out_channels: int, plan: TilePlan, stats: StatsSource, notes: list[str],
         progress: Progress) -> TiledResult:
    """One pass over the picture as ``plan`` says, the norms back to live statistics afterwards."""
    _c, h, w = x.shape
    s = plan.scale
    sample_stats = has_sample_statistics(call.net)
    try:
        with torch.inference_mode():
            if sample_stats:
                set_norm_stats_mode(call.net, "live")
            if plan.tile is None:
                hp, wp = plan.padded(h, w)
                batch = _gather(x, mirror_indices(h, 0, hp), mirror_indices(w, 0, wp))[None]
                y = call(batch)
                _check_output(y, batch, out_channels, s)
                # (H, W, C) as a view of the network's own output, not a copy: a 12 MP output is
                # 144 MB, and copying it into fresh memory took 0.3 s of each picture of a folder
                whole = y[0, :, :s * h, :s * w].permute(1, 2, 0).cpu().numpy()
                progress(1, 1)
                return TiledResult(whole, None, 1, None, notes)
            out = np.zeros((s * h, s * w, out_channels), dtype=np.float32)
            picture = _Tiles(call, x, TileGrid.plan(h, w, plan.tile, plan.overlap, plan.multiple, plan.min_size),
                             plan.batch)
            source = stats(picture) if sample_stats else None
            picture.blend_into(out, plan, progress)
    finally:
        if sample_stats:
            reset_norm_stats(call.net)
    return TiledResult(out, plan.tile, plan.batch, source, notes)


class _Tiles:
    """The picture being tiled, as a statistics source sees it (rawcolour.inference.norm_stats.TiledPicture)."""

    def __init__(self, call: NetCall, x: torch.Tensor, grid: TileGrid, batch: int) -> None:
        self.net, self.forward, self.x, self.grid, self.batch = call.net, call, x, grid, batch
        self.max_pixels = grid.tile_h * grid.tile_w * batch

    def region(self, picture: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
        _c, h, w = picture.shape
        return _gather(picture, mirror_indices(h, top, height), mirror_indices(w, left, width))

    def batches(self) -> Iterator[tuple[list[tuple[int, int]], torch.Tensor]]:
        g, positions = self.grid, self.grid.positions
        for k in range(0, len(positions), self.batch):
            chunk = positions[k:k + self.batch]
            yield chunk, torch.stack([self.region(self.x, g.ys[i], g.xs[j], g.tile_h, g.tile_w) for i, j in chunk])

    def blend_into(self, out: np.ndarray, plan: TilePlan, progress: Progress) -> None:
        """The output pass: every tile through the network, blended into ``out``."""
        g, s = self.grid, plan.scale
        wy, wx = g.weights(plan.feather, s)
        done, total = 0, len(g.positions)
        for chunk, tiles in self.batches():
            y = self.forward(tiles)
            _check_output(y, tiles, out.shape[2], s)
            for (i, j), yt in zip(chunk, y):
                _accumulate(out, yt, s * g.ys[i], s * g.xs[j], wy[i], wx[j], s * g.height, s * g.width)
            done += len(chunk)
            progress(done, total)


def _check_output(y: torch.Tensor, tiles: torch.Tensor, out_channels: int, scale: int) -> None:
    """The network's output for (B, C, h, w) input tiles must be (B, out_channels, s*h, s*w)."""
    b, _c, h, w = tiles.shape
    expected = (b, out_channels, scale * h, scale * w)
    if tuple(y.shape) != expected:
        raise ValueError(f"the network gave {tuple(y.shape)} for a {tuple(tiles.shape)} input, not {expected}")


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


__all__ = ["CPU_TILE_BATCH", "NetCall", "NonFiniteOutput", "TilePlan", "TiledResult", "run_tiled"]
