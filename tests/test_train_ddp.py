"""Training under torchrun: 2 CPU processes (gloo), DistributedDataParallel, a distributed sampler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rawcolour.checkpoint import load_checkpoint
from rawcolour.train.loop import LAST
from rawcolour.train.run_folder import read_log

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


def test_two_process_run(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:80]
    for i in range(5):
        base = np.stack([xx * 3 + 10 * i, yy * 4, 255 - xx * 3], axis=2)
        Image.fromarray(np.clip(base + rng.integers(0, 30, base.shape), 0, 255).astype(np.uint8)).save(photos / f"{i}.png")
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "rawcolour", "train", "raw2rgb", "--data", str(photos), "--model", "sgan-tiny", "--synthetic-raw",
           "--crop-size", "32", "--batch-size", "1", "--epochs", "1", "--lambda-perc", "0", "--max-steps", "4",
           "--val-split", "0.2", "--out", str(out), "--quiet", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ends = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(ends) == 1 and ends[0]["step"] == 4  # only rank 0 prints
    records = read_log(out / "log.jsonl")
    start = records[0]
    assert start["world_size"] == 2 and start["batches_per_epoch"] == 2  # 4 photos, 2 per rank, batch 1
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]  # rank 0 logs each step once
    assert {r["stage"] for r in steps} == {"1", "2"} and "d" in steps[-1]  # the D step ran under DDP too
    loaded = load_checkpoint(out / LAST)
    assert json.loads(loaded.metadata["training"])["world_size"] == 2


def test_a_rank_that_diverges_stops_every_rank(tmp_path: Path) -> None:
    # rank 1's loss turns NaN at its second step: both ranks must stop there (one that went on would
    # wait for the other in the next gradient all-reduce forever), and rank 0 must say why
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    script = tmp_path / "diverge.py"
    script.write_text(
        "import os, sys\n"
        "from rawcolour.train import loop\n"
        "real = loop.Trainer.train_step\n"
        "def step(self, batch):\n"
        "    losses = real(self, batch)\n"
        "    if os.environ.get('RANK') == '1' and self.pos.step == 1:\n"
        "        losses = {**losses, 'g': float('nan')}\n"
        "    return losses\n"
        "loop.Trainer.train_step = step\n"
        "from rawcolour.cli.main import run\n"
        "sys.argv = ['rawcolour', *sys.argv[1:]]\n"
        "run()\n")
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           "train", "colourise", "--data", str(photos), "--model", "colorgan-tiny", "--batch-size", "1",
           "--max-steps", "4", "--val-split", "0.2", "--val-max", "1", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode != 0
    assert "training diverged at step 2" in proc.stderr and "another process" in proc.stderr, proc.stderr[-3000:]
    records = read_log(out / "log.jsonl")
    assert [r["step"] for r in records if r["kind"] == "step"] == [1]
    assert records[-1]["kind"] == "end" and records[-1]["reason"] == "diverged" and records[-1]["step"] == 2
