"""Turn a training run's checkpoint into a shipped model file: generator only, fp16, metadata kept.

    python scripts/ship_model.py runs/sgan-tiny/last.safetensors models/sgan-tiny.safetensors

The training summary in the run's metadata (data, steps, wall time, recipe, last validation) is kept;
the discriminator is dropped (inference never needs it). The result loads with
`rawcolour.checkpoint.load_checkpoint` like any checkpoint, and registry names whose `weights`
field names it resolve to it without a path.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rawcolour.checkpoint import DISCRIMINATOR_PREFIX, read_checkpoint
from rawcolour.io.files import atomic_write_bytes
from rawcolour.train.datasets import dataset_name
from safetensors.torch import save


def ship(src: Path, dst: Path) -> Path:
    tensors, metadata = read_checkpoint(src)
    generator = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
                 for k, v in tensors.items() if not k.startswith(DISCRIMINATOR_PREFIX)}
    metadata = {k: v for k, v in metadata.items() if not k.startswith("discriminator_")}
    metadata["stored_dtype"] = "float16"
    if "training" in metadata:  # runs of older versions recorded data folders as paths
        training = json.loads(metadata["training"])
        data = training.get("data") or {}
        for key in ("data", "val"):
            if data.get(key):
                data[key] = dataset_name(data[key])
        metadata["training"] = json.dumps(training, sort_keys=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(dst, save(generator, metadata=metadata), what="checkpoint")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args()
    out = ship(args.src, args.dst)
    print(out, out.stat().st_size, "bytes")
