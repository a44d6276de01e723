"""Training both papers' models: datasets, losses, stages, the loop.

>>> from rawcolour.train import TrainConfig, train
>>> # train(TrainConfig("raw2rgb", "sgan-tiny", "photos/", synthetic_raw=True, lambda_perc=0, out="runs/x"))

The names load on first use, so the CLI can build its options from ``rawcolour.train.config``
without importing torch.
"""

from __future__ import annotations

from rawcolour import lazy_api

_API = {
    "RunPlan": "rawcolour.train.config",
    "StagePlan": "rawcolour.train.config",
    "TrainConfig": "rawcolour.train.config",
    "resolve": "rawcolour.train.config",
    "Trainer": "rawcolour.train.loop",
    "read_log": "rawcolour.train.run_folder",
    "train": "rawcolour.train.loop",
}

__all__ = list(_API)


__getattr__, __dir__ = lazy_api(globals(), _API)
