"""Training both papers' models: datasets, losses, stages, the loop.

>>> from rawcolour.train import TrainConfig, train
>>> # train(TrainConfig("raw2rgb", "sgan-tiny", "photos/", synthetic_raw=True, lambda_perc=0, out="runs/x"))

The names load on first use, so the CLI can build its options from ``rawcolour.train.config``
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "RunPlan": "rawcolour.train.config",
    "StagePlan": "rawcolour.train.config",
    "TrainConfig": "rawcolour.train.config",
    "resolve": "rawcolour.train.config",
    "Trainer": "rawcolour.train.loop",
    "read_log": "rawcolour.train.loop",
    "train": "rawcolour.train.loop",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    """Import an API name's module on first use (PEP 562)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'rawcolour.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
