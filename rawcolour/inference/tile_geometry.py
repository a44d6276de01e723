"""Where the tiles of a picture go and how they are blended: pure arithmetic on sides, free of torch.

- Grid: tiles of ``tile`` x ``tile`` network-input pixels; neighbours overlap by at least
  ``2 * overlap`` and tile corners sit on multiples of the net's size multiple, so every tile sees
  the same stride-2 sampling grid as a whole-picture pass. The picture is mirrored (reflect) up to
  the size multiple (and the net's minimum side) and cropped back.
- Blending: separable raised-cosine (Hann) ramps across the central ``feather`` share of each
  overlap, normalised per axis so the weights of all tiles sum to exactly 1 everywhere (a
  partition of unity): no weight array of the picture's size is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rawcolour.errors import UsageError

# Share of each overlap over which neighbouring tiles are cross-faded; the outer rest of the
# overlap is context only (its outputs see the tile border). Measured best of 0.5 / 0.75 / 1.0.
FEATHER_DEFAULT = 0.5


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


def check_tile_room(tile: int, overlap: int, multiple: int) -> None:
    """A UsageError when tiles of side ``tile`` cannot advance past an overlap of ``overlap`` on each
    side (the step between tiles must be at least one size multiple)."""
    if tile - 2 * overlap < multiple:
        raise UsageError(f"--tile {tile} leaves no room to advance with an overlap of {overlap} pixels on each side",
                         hint=f"use --tile {2 * overlap + multiple} or more, or a smaller --overlap")


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` (padded; both multiples of ``multiple``).

    Starts are multiples of ``multiple``, the last tile ends at ``length``, neighbours overlap by at
    least 2 * overlap, and steps are as even as the multiple allows.
    """
    if tile >= length:
        return [0]
    check_tile_room(tile, overlap, multiple)
    step_units = (tile - 2 * overlap) // multiple
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
            a, b = fade_zone(starts[k - 1], s, tile, feather)
            w[: a - s] = 0.0
            w[a - s:b - s] = _rise(b - a)
        if k < n - 1:
            a, b = fade_zone(s, starts[k + 1], tile, feather)
            w[a - s:b - s] *= 1.0 - _rise(b - a)
            w[b - s:] = 0.0
        raw.append(w)
    total = np.zeros(length, dtype=np.float64)
    for s, w in zip(starts, raw):
        total[s:s + tile] += w
    return [w / total[s:s + tile] for s, w in zip(starts, raw)]


def fade_zone(s_prev: int, s_next: int, tile: int, feather: float) -> tuple[int, int]:
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


def tile_cores(starts: list[int], tile: int, length: int, m: int) -> list[tuple[int, int]]:
    """Per tile, the [lo, hi) it owns in tile coordinates: split at overlap midpoints (multiples of m),
    so the cores partition the padded picture and map to whole pixels at every stride-2 level."""
    bounds = [0]
    for a, b in zip(starts, starts[1:]):
        bounds.append(max(b, min(a + tile, ((b + a + tile) // 2) // m * m)))
    bounds.append(length)
    return [(lo - s, hi - s) for s, lo, hi in zip(starts, bounds, bounds[1:])]


@dataclass(frozen=True)
class TileGrid:
    """The tiles of one padded picture: their sides, starts and blending weights along each axis."""

    height: int  # the picture's own sides
    width: int
    padded_h: int  # after mirroring up to the size multiple and the minimum side
    padded_w: int
    tile_h: int  # min(tile, padded side)
    tile_w: int
    ys: list[int]
    xs: list[int]
    multiple: int
    min_size: int

    @classmethod
    def plan(cls, height: int, width: int, tile: int, overlap: int, multiple: int, min_size: int) -> TileGrid:
        hp, wp = padded_size(height, multiple, min_size), padded_size(width, multiple, min_size)
        th, tw = min(tile, hp), min(tile, wp)
        return cls(height, width, hp, wp, th, tw, tile_starts(hp, th, overlap, multiple),
                   tile_starts(wp, tw, overlap, multiple), multiple, min_size)

    @property
    def smallest_side(self) -> int:
        """The side of a one-pixel picture once padded (the least a reduced picture can have)."""
        return padded_size(1, self.multiple, self.min_size)

    @property
    def positions(self) -> list[tuple[int, int]]:
        """(row, column) index of every tile, row by row."""
        return [(i, j) for i in range(len(self.ys)) for j in range(len(self.xs))]

    def weights(self, feather: float, scale: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Blending weights along y and x per tile, at ``scale`` output pixels per input pixel."""
        wy = axis_weights(self.ys, self.tile_h, self.padded_h, feather)
        wx = axis_weights(self.xs, self.tile_w, self.padded_w, feather)
        if scale != 1:  # each input pixel's weight covers its scale x scale output pixels
            wy, wx = [np.repeat(v, scale) for v in wy], [np.repeat(v, scale) for v in wx]
        return wy, wx

    def cores(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """What each tile owns along y and x (tile_cores)."""
        return (tile_cores(self.ys, self.tile_h, self.padded_h, self.multiple),
                tile_cores(self.xs, self.tile_w, self.padded_w, self.multiple))


__all__ = [
    "FEATHER_DEFAULT",
    "TileGrid",
    "axis_weights",
    "check_tile_room",
    "fade_zone",
    "mirror_indices",
    "padded_size",
    "round_up",
    "tile_cores",
    "tile_starts",
]
