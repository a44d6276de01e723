"""What a training run measures on its fixed validation samples: figures of the generator as
inference runs it (eval mode), and the input | output | target sample grid.

The samples are drawn once (with the datasets' fixed validation key) and batched on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from rawcolour.train.adapters import TaskAdapter

SAMPLE_ROWS = 4  # validation samples shown in a sample grid

__all__ = ["SAMPLE_ROWS", "Validation"]


class Validation:
    """A run's validation set, batched, and what it measures with a generator."""

    def __init__(self, dataset: Dataset, batch_size: int, adapter: TaskAdapter, device: torch.device):
        self.dataset = dataset
        self.batch_size = max(1, batch_size)
        self.adapter = adapter
        self.device = device
        self._batches: list[dict[str, torch.Tensor]] | None = None

    def batches(self) -> list[dict[str, torch.Tensor]]:
        if self._batches is None:
            ds, bs = self.dataset, self.batch_size
            items = [ds[i] for i in range(len(ds))]  # type: ignore[arg-type]
            self._batches = [
                {k: torch.stack([it[k] for it in items[i:i + bs]]) for k in items[0]}
                for i in range(0, len(items), bs)
            ] if items else []
        return self._batches

    @torch.no_grad()
    def figures(self, G: nn.Module, autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, float]:
        """Validation metrics of the generator in eval mode (how inference runs it).

        raw2rgb: ``l1`` = mean |RGB - target| in [0, 1] units, ``psnr`` (dB, per image, averaged).
        colourise: ``ab_l1`` = mean |ab - target ab| in CIE Lab units, ``grey_ab_l1`` = the same for
        zero chroma (the no-learning baseline).
        """
        batches = self.batches()
        if not batches:
            return {}
        was = G.training
        G.eval()
        sums: dict[str, float] = {}
        n_values = n_img = 0
        try:
            for batch in batches:
                x, y, _ = self.adapter.prepare(batch, self.device)
                with autocast():
                    out = G(x).float()
                figures, values, pictures = self.adapter.validation_sums(out, y)
                for k, v in figures.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_values += values
                n_img += pictures
        finally:
            G.train(was)
        return {k: (v / n_img if k == "psnr" else v / n_values) for k, v in sums.items()}

    @torch.no_grad()
    def sample_grid(self, G: nn.Module) -> np.ndarray | None:
        """Rows of input | output | target for the first validation samples, (H, W, 3) float [0, 1]."""
        batches = self.batches()
        if not batches:
            return None
        batch = {k: v[:SAMPLE_ROWS] for k, v in batches[0].items()}
        was = G.training
        G.eval()
        try:
            x, y, _ = self.adapter.prepare(batch, self.device)
            out = G(x).float()
        finally:
            G.train(was)
        cols = [self.adapter.preview(x, out), self.adapter.to_rgb01(x, out), self.adapter.to_rgb01(x, y)]
        rows = [torch.cat([c[i] for c in cols], dim=2) for i in range(x.shape[0])]  # (3, S, 3S) each
        grid = torch.cat(rows, dim=1)  # (3, rows*S, 3S)
        return grid.permute(1, 2, 0).cpu().numpy()
