"""Training both papers' models: datasets, losses, stages, the loop.

>>> from rawcolour.train import TrainConfig, train
>>> # train(TrainConfig("raw2rgb", "sgan-tiny", "photos/", synthetic_raw=True, lambda_perc=0, out="runs/x"))
"""

from rawcolour.train.config import RunPlan, StagePlan, TrainConfig, resolve
from rawcolour.train.loop import Trainer, read_log, train

__all__ = ["RunPlan", "StagePlan", "TrainConfig", "Trainer", "read_log", "resolve", "train"]
