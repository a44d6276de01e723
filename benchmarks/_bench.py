"""Helpers the benchmark scripts share: machine facts, timing, test pictures, JSON output.

Benchmarks are scripts (``python benchmarks/NAME.py``), never tests. They read the sample data in
``../shared/data`` when it is there (Kodak photos, RAW files) and fall back to synthetic pictures.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DATA = Path(os.environ.get("RAWCOLOUR_SAMPLE_DATA", ROOT.parent.parent / "shared" / "data"))


def machine() -> dict:
    """What the figures were measured on, and how busy the machine was."""
    import torch  # here, not at the top: children that time start-up must not pay for it

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loadavg_1min_at_start": round(os.getloadavg()[0], 2),
    }


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def best_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, min_seconds: float = 0.0) -> float:
    """Fastest of `repeat` runs in seconds (the least disturbed by other processes on a shared machine)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    start = time.perf_counter()
    n = 0
    while n < repeat or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        n += 1
    return best


def best_times(fns: dict[str, Callable[[], object]], repeat: int = 5, warmup: int = 1) -> dict[str, float]:
    """Fastest run of each function, the functions interleaved round by round so that a burst of
    load from other processes hits them alike (ratios stay fair on a shared machine)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def gemm_peak(sizes: tuple[int, ...] = (1024, 2048), repeat: int = 5) -> dict:
    """This machine's fp32 GEMM rate: the best of a few large torch.mm calls, GFLOP/s."""
    import torch

    out = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        t = best_time(lambda: torch.mm(a, b), repeat=repeat)
        out[str(n)] = round(2 * n**3 / t / 1e9, 1)
    return {"gflops_by_size": out, "gflops": max(out.values())}


def write_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = dict(data)
    data.setdefault("machine", machine())
    data["loadavg_1min_at_end"] = loadavg()
    data["written"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def kodak(n: int = 24) -> list[np.ndarray]:
    """Kodak photos (768x512 RGB uint8) from the sample data, or smooth synthetic stand-ins."""
    folder = DATA / "photos" / "kodak24"
    if folder.is_dir():
        from PIL import Image

        files = sorted(folder.glob("*.png"))[:n]
        if files:
            return [np.asarray(Image.open(f).convert("RGB")) for f in files]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        yy, xx = np.mgrid[0:512, 0:768] / 60.0
        base = np.stack([np.sin(xx * rng.uniform(0.5, 2) + rng.uniform(0, 6)) * np.cos(yy * rng.uniform(0.5, 2))
                         for _ in range(3)], axis=-1)
        out.append(np.clip((base * 0.4 + 0.5) * 255, 0, 255).astype(np.uint8))
    return out


def photo_mosaic(rows: int, cols: int, first: int = 0) -> np.ndarray:
    """A rows x cols grid of Kodak photos (each cropped to 512x768): a larger real-content picture."""
    photos = [p[:512, :768] if p.shape[0] <= p.shape[1] else np.rot90(p)[:512, :768] for p in kodak()]
    grid = [[photos[(first + r * cols + c) % len(photos)] for c in range(cols)] for r in range(rows)]
    return np.concatenate([np.concatenate(row, axis=1) for row in grid], axis=0)


def synthetic_packed(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """(4, h, w) packed RAW in [0, 1] made from an sRGB photo by unprocessing (rawcolour.data.unprocess)."""
    from rawcolour.data.unprocess import synthetic_pair

    packed, _target, _params = synthetic_pair(rgb, np.random.default_rng(seed))
    return packed


def load_raw_model(name: str, weights: str | None = None):
    """A raw2rgb/colourise model: given weights, shipped weights if installed, else random (allow_random)."""
    from rawcolour.checkpoint import load_checkpoint, load_model
    from rawcolour.errors import MissingWeightsError

    if weights:
        model = load_checkpoint(weights)
        return model, f"file {weights}"
    try:
        return load_model(name), "shipped"
    except MissingWeightsError:
        import torch

        torch.manual_seed(0)
        return load_model(name, allow_random=True), "random init (no weights installed)"


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)
