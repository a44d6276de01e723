"""(c) A synthetic 12 MP camera RAW (a DNG written by rawcolour.io.dng from unprocessed Kodak photos)
through sgan-tiny and sgan with tiles of 512 and 768: seconds and peak RSS; then peak RSS at
6 MP vs 24 MP, each run in a fresh subprocess (ru_maxrss), to show that memory beyond the model
and the picture buffers does not grow with the picture.

    python benchmarks/raw_memory.py [--quick] [--models sgan-tiny,sgan]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _bench

SIZES = {"6MP": (2000, 3000), "12MP": (3000, 4000), "24MP": (4000, 6000)}  # mosaic height, width


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next peak covers inference alone (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child(dng: str, name: str, tile: str, batch: int) -> None:
    """One conversion in this (fresh) process; prints one JSON line."""
    import torch

    from rawcolour.inference.device import prepare_net
    from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb
    from rawcolour.io.raw import read_raw

    torch.manual_seed(0)
    model, source = _bench.load_raw_model(name)
    prepare_net(model.net, torch.device("cpu"))  # the inference copy is part of "the model"
    base = rss_mb()
    t = time.perf_counter()
    raw = read_raw(dng)
    decode_s = time.perf_counter() - t
    after_decode_peak = peak_rss_mb()
    before_inference = rss_mb()
    can_reset = reset_peak()
    t = time.perf_counter()
    result = raw_to_rgb(model, raw, InferenceOptions(device="cpu", tile=int(tile) if tile.isdigit() else tile,
                                                     tile_batch=batch))
    seconds = time.perf_counter() - t
    packed_mb = raw.packed.nbytes / 2**20
    out_mb = result.rgb.nbytes / 2**20
    peak = peak_rss_mb()
    inference_peak = hwm_mb() if can_reset else None
    oriented = 2 if raw.flip else 1
    print(json.dumps({
        "model": name, "weights": source, "tile_requested": tile, "tile_used": result.tile, "batch": batch,
        "mosaic": [2 * raw.height, 2 * raw.width], "megapixels": round(4 * raw.height * raw.width / 1e6, 1),
        "decode_seconds": round(decode_s, 2), "seconds": round(seconds, 2),
        "rss_after_model_mb": round(base, 1), "peak_rss_during_decode_mb": round(after_decode_peak, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_before_inference_mb": round(before_inference, 1),
        "peak_rss_during_inference_mb": None if inference_peak is None else round(inference_peak, 1),
        "buffers_mb": {"packed_input": round(packed_mb, 1), "rgb_output": round(out_mb, 1)},
        # what inference needs beyond the model and the picture's own buffers (the packed input is
        # already in rss_before_inference; the output, and its oriented copy when the file is turned)
        "inference_extra_mb": None if inference_peak is None
        else round(inference_peak - before_inference - out_mb * oriented, 1),
        "notes": result.notes,
    }))


def make_dng(folder: Path, label: str) -> Path:
    import cv2

    from rawcolour.io.dng import write_bayer_dng
    from rawcolour.io.mosaic import unpack_bayer

    h, w = SIZES[label]
    photo = cv2.resize(_bench.photo_mosaic(2, 2), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    packed = _bench.synthetic_packed(photo)  # (4, h/4, w/4): unprocess area-downscales x2
    packed = np.stack([cv2.resize(p, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR) for p in packed])
    mosaic = np.round(unpack_bayer(packed, "RGGB") * (4095 - 256) + 256).astype(np.uint16)
    return write_bayer_dng(folder / f"synthetic_{label}.dng", mosaic, "RGGB", black=256, white=4095)


def run_child(dng: Path, name: str, tile: str, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(dng), name, tile, str(batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"model": name, "tile_requested": tile, "error": proc.stderr.strip().splitlines()[-3:]}
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    rec["loadavg_1min"] = _bench.loadavg()
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, metavar=("DNG", "MODEL", "TILE", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="sgan-tiny only")
    parser.add_argument("--models", default="sgan-tiny,sgan")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2], int(args.child[3]))
        return
    models = ["sgan-tiny"] if args.quick else args.models.split(",")
    runs, scaling = [], []
    with tempfile.TemporaryDirectory(prefix="rawcolour-bench-") as tmp:
        folder = Path(tmp)
        dngs = {label: make_dng(folder, label) for label in SIZES}
        print(f"DNGs written; load {_bench.loadavg()}", file=sys.stderr)
        for name in models:
            for tile in ("512", "768"):
                rec = run_child(dngs["12MP"], name, tile, 1)
                runs.append(rec)
                print(rec, file=sys.stderr, flush=True)
        for name in models[:1] if args.quick else models:
            for label in ("6MP", "24MP"):
                rec = run_child(dngs[label], name, "512", 1)
                scaling.append(rec)
                print(rec, file=sys.stderr, flush=True)
    out = {
        "what": "synthetic Bayer DNG -> read_raw -> raw_to_rgb on the CPU (fp32, tile batch 1), one fresh process per run",
        "command": "python benchmarks/raw_memory.py" + (" --quick" if args.quick else ""),
        "twelve_megapixels": runs,
        "rss_scaling_tile_512": scaling,
        "notes": [
            "peak_rss_mb is the process's ru_maxrss (decode included); peak_rss_during_inference_mb is the "
            "kernel's VmHWM reset after decoding; inference_extra_mb = that peak - RSS before inference (model, "
            "its inference copy, the packed input) - the RGB output buffer(s): what tiling itself needs",
            "LibRaw's decode buffers (peak_rss_during_decode_mb) are part of read_raw, not of inference",
        ],
    }
    print(_bench.write_json("raw_memory" + ("_quick" if args.quick else ""), out))


if __name__ == "__main__":
    main()
