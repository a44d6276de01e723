"""Research sources of frozen instance-norm statistics for tiles, beside the benchmark that compares
them (tile_quality.py); the production tiler offers "auto" and "exact" (rawcolour.inference.norm_stats).

Each is a source ``run_tiled(..., stats=SOURCE)`` takes: it sees the picture being tiled and says in
a few words where the statistics came from.

- ``full``: recorded on the whole picture (what "auto" does when it fits one device call);
- ``downscale``: recorded on the picture point-sampled down to one device call, even when it fits;
- ``crops``: recorded on a 2x2 mosaic of full-resolution crops spread over the picture;
- ``live``: none frozen, each tile normalised with its own statistics (the reference code's seams).
"""

from __future__ import annotations

import math

import torch

from rawcolour.inference.norm_stats import TiledPicture, downscaled_picture, record, whole_picture
from rawcolour.inference.tile_geometry import padded_size


def full(tiles: TiledPicture) -> str:
    record(tiles, whole_picture(tiles))
    return "full"


def downscale(tiles: TiledPicture) -> str:
    picture, what = downscaled_picture(tiles)
    record(tiles, picture)
    return what


def crops(tiles: TiledPicture) -> str:
    mosaic = crop_mosaic(tiles)
    record(tiles, mosaic[None])
    return f"crops {mosaic.shape[-2]}x{mosaic.shape[-1]}"


def live(tiles: TiledPicture) -> str:
    return "live"


def crop_mosaic(tiles: TiledPicture, grid: int = 2) -> torch.Tensor:
    """A grid x grid mosaic of full-resolution crops spread over the picture, at most one device call."""
    g, m = tiles.grid, tiles.grid.multiple
    _c, h, w = tiles.x.shape
    f = math.sqrt(tiles.max_pixels / (g.padded_h * g.padded_w))
    ch = max(m, (int(g.padded_h * f) // grid) // m * m)
    cw = max(m, (int(g.padded_w * f) // grid) // m * m)
    rows = []
    for i in range(grid):
        cy = int((i + 0.5) * h / grid - ch / 2)
        row = [tiles.region(tiles.x, max(0, cy), max(0, int((j + 0.5) * w / grid - cw / 2)), ch, cw)
               for j in range(grid)]
        rows.append(torch.cat(row, dim=2))
    mosaic = torch.cat(rows, dim=1)
    mh, mw = padded_size(mosaic.shape[1], m, g.min_size), padded_size(mosaic.shape[2], m, g.min_size)
    return tiles.region(mosaic, 0, 0, mh, mw)


# by the names tile_quality.py reports; "auto" and "exact" are the production tiler's own
RESEARCH = {"full": full, "downscale": downscale, "crops": crops, "live": live}
