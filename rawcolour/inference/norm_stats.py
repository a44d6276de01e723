"""Instance-norm statistics for a tiled picture: a tile normalised with its own statistics changes
colour, so the statistics come from the whole picture and are frozen for its tiles.

- ``"auto"`` (:func:`reduced_picture`): recorded on one pass no larger than one device call, the
  whole picture when it fits, else the picture point-sampled down to that size. Measured on Kodak
  photos unprocessed to RAW (benchmarks/tile_quality.py), this beat a mosaic of full-resolution
  crops for a trained sgan-tiny.
- ``"exact"`` (:func:`pooled_over_tiles`): pooled over all tiles, one layer per pass, which
  reproduces the untiled statistics (about 5x the work).

A source is any callable taking the :class:`TiledPicture` and returning a few words on where the
statistics came from; research variants (benchmarks/tile_stats.py) are built from the pieces here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from rawcolour.inference.options import check_tile_stats
from rawcolour.inference.tile_geometry import TileGrid, padded_size
from rawcolour.nets.norms import sample_stats_norms, set_norm_stats_mode


class TiledPicture(Protocol):
    """What a statistics source sees of the picture being tiled (rawcolour.inference.tiling)."""

    net: nn.Module
    x: torch.Tensor  # (C, H, W) in host memory
    grid: TileGrid
    max_pixels: int  # pixels of one device call

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The network on a (B, C, h, w) host batch (its value scaling included)."""

    def batches(self) -> Iterator[tuple[list[tuple[int, int]], torch.Tensor]]:
        """(tile positions, (B, C, th, tw) tiles) for every device call of the output pass."""

    def region(self, picture: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """(C, height, width) of ``picture`` from (top, left), mirrored beyond its edges."""


StatsSource = Callable[[TiledPicture], str]


def record(tiles: TiledPicture, picture: torch.Tensor) -> None:
    """Record every sample-statistics norm's statistics on ``picture`` (1, C, h, w) and freeze them."""
    set_norm_stats_mode(tiles.net, "record")
    tiles.forward(picture)
    set_norm_stats_mode(tiles.net, "frozen")


def whole_picture(tiles: TiledPicture) -> torch.Tensor:
    """The whole picture, mirrored up to its padded size: (1, C, hp, wp)."""
    g = tiles.grid
    return tiles.region(tiles.x, 0, 0, g.padded_h, g.padded_w)[None]


def downscaled_picture(tiles: TiledPicture) -> tuple[torch.Tensor, str]:
    """The picture point-sampled down to at most one device call, padded: ((1, C, sh, sw), what)."""
    g, m, budget = tiles.grid, tiles.grid.multiple, tiles.max_pixels
    h, w, hp, wp = g.height, g.width, g.padded_h, g.padded_w
    f = math.sqrt(budget / (hp * wp))
    least = g.smallest_side
    sh, sw = padded_size(max(1, int(h * f)), m, g.min_size), padded_size(max(1, int(w * f)), m, g.min_size)
    # the reduced picture must not exceed one device call; shrink by one multiple if rounding grew it
    while sh * sw > budget and (sh > least or sw > least):
        if sh >= sw and sh > least:
            sh -= m
        elif sw > least:
            sw -= m
        else:
            sh -= m
    small = point_sample(tiles.x, max(1, int(round(h * sh / hp))), max(1, int(round(w * sw / wp))))
    return tiles.region(small, 0, 0, sh, sw)[None], f"downscale {sh}x{sw}"


def point_sample(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
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


def reduced_picture(tiles: TiledPicture) -> str:
    """``"auto"``: record on the whole picture when it fits one device call, else on it point-sampled down."""
    g = tiles.grid
    if g.padded_h * g.padded_w <= tiles.max_pixels:
        record(tiles, whole_picture(tiles))
        return "full"
    picture, what = downscaled_picture(tiles)
    record(tiles, picture)
    return what


class _StatsAccumulator:
    """Forward pre-hooks that pool each sample-statistics norm's input over the tiles' cores.

    Pooled sums over the cores equal the whole-picture statistics when each tile's activations
    match the whole-picture pass there; freeze() installs mean and variance as frozen statistics.
    """

    def __init__(self, grid: TileGrid, norm: nn.Module) -> None:
        self.tile_h, self.tile_w = grid.tile_h, grid.tile_w
        self.norm = norm
        self.cores_y, self.cores_x = grid.cores()
        self.chunk: list[tuple[int, int]] = []
        self.sums: list = [0.0, 0.0, 0]
        self.handle = None

    def __enter__(self) -> _StatsAccumulator:
        self.handle = self.norm.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> bool:
        self.handle.remove()
        return False

    def _hook(self, mod: nn.Module, args: tuple) -> None:
        x = args[0]  # (B, C, lh, lw) at this layer's resolution
        dims = tuple(d - 1 for d in mod.reduce_dims)  # per-sample dims
        lh, lw = x.shape[-2:]
        fy, fx = lh / self.tile_h, lw / self.tile_w
        for b, (i, j) in enumerate(self.chunk):
            (y0, y1), (x0, x1) = self.cores_y[i], self.cores_x[j]
            region = x[b, :, int(y0 * fy):int(y1 * fy), int(x0 * fx):int(x1 * fx)].double()  # (C, h, w)
            self.sums[0] = self.sums[0] + region.sum(dim=dims, keepdim=True)
            self.sums[1] = self.sums[1] + (region * region).sum(dim=dims, keepdim=True)
            self.sums[2] += math.prod(region.shape[d] for d in dims)
        raise _StopForward

    def freeze(self) -> None:
        s1, s2, n = self.sums
        mean = s1 / n
        var = (s2 / n - mean * mean).clamp_min(0.0)
        self.norm.freeze(mean[None].float(), var[None].float())


class _StopForward(Exception):
    """Raised by a hook once the layer of interest has seen its input: the rest of the net is skipped."""


def pooled_over_tiles(tiles: TiledPicture) -> str:
    """``"exact"``: layer by layer, pool each norm's input over all tiles with the earlier norms frozen
    at their pooled values: the whole-picture statistics up to tile-border context. Costs a prefix
    pass per norm."""
    order: list[nn.Module] = []
    handles = [mod.register_forward_pre_hook(lambda mod, args: order.append(mod) if mod not in order else None)
               for mod in sample_stats_norms(tiles.net)]
    try:
        set_norm_stats_mode(tiles.net, "live")
        _chunk, first = next(iter(tiles.batches()))
        tiles.forward(first[:1])
    finally:
        for handle in handles:
            handle.remove()
    for mod in order:
        with _StatsAccumulator(tiles.grid, mod) as acc:
            for chunk, batch in tiles.batches():
                acc.chunk = chunk
                try:
                    tiles.forward(batch)
                except _StopForward:
                    pass
        acc.freeze()
    return f"exact over tiles ({len(order)} layer passes)"


SOURCES: dict[str, StatsSource] = {"auto": reduced_picture, "exact": pooled_over_tiles}


def stats_source(stats: str | StatsSource) -> StatsSource:
    """A source of tile statistics by its name (rawcolour.inference.options.TILE_STATS), or as given."""
    return stats if callable(stats) else SOURCES[check_tile_stats(stats)]


__all__ = [
    "SOURCES",
    "StatsSource",
    "TiledPicture",
    "downscaled_picture",
    "point_sample",
    "pooled_over_tiles",
    "record",
    "reduced_picture",
    "stats_source",
    "whole_picture",
]
