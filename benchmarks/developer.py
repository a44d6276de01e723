"""The learned developer against LibRaw and the paper's model, on this machine:

(a) a 12 MP DNG (a Kodak photo mosaic shot through a held-out real camera at mid noise): wall
    seconds (decode included) and peak RSS of `classic`, `sgan-tiny` and `sgan-isp-tiny` with
    ``--tile auto``, each in a fresh process, and the size each writes;
(b) tiled against untiled (default statistics) for the developer on the real sample RAW files:
    PSNR at tiles 256, 384 and 512;
(c) colour agreement with `classic` on the sample RAW files: mean CIEDE2000 at quarter size after
    one tone curve shared by R, G and B fitted from the model's picture to LibRaw's (the file, not the
    network, decides colour), with what each file's metadata holds.

    python benchmarks/developer.py [--model sgan-isp-tiny]
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

REAL_RAWS = ("rpi_imx296_chessboard_1456x1088.dng", "kodak_dc50_RAW_KODAK_DC50.KDC")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "coffee.dng"


def child(path: str, name: str) -> None:
    """One conversion in this fresh process; prints one JSON line."""
    from rawcolour.checkpoint import load_model
    from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb

    model = load_model(name)
    t = time.perf_counter()
    result = raw_to_rgb(model, path, InferenceOptions(device="cpu", tile="auto"))
    seconds = time.perf_counter() - t
    print(json.dumps({"model": name, "seconds": round(seconds, 2), "output": list(result.rgb.shape[:2]),
                      "tile": result.tile, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def make_12mp(folder: Path) -> Path:
    import cv2

    from rawcolour.cameras import EVAL_CAMERAS
    from rawcolour.data.camera_sim import shot_for, write_shot_dng

    photo = cv2.resize(_bench.photo_mosaic(2, 2), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    path, _ = write_shot_dng(folder / "kodak_12mp.dng", photo, shot_for(EVAL_CAMERAS[0], "mid"), "RGGB",
                             np.random.default_rng(0))
    return path


def timing(path: Path, models: list[str]) -> list[dict]:
    out = []
    for name in models:
        proc = subprocess.run([sys.executable, __file__, "--child", str(path), name], capture_output=True, text=True)
        rec = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else \
            {"model": name, "error": proc.stderr.strip().splitlines()[-3:]}
        rec["loadavg_1min"] = _bench.loadavg()
        print(rec, file=sys.stderr, flush=True)
        out.append(rec)
    return out


def tiling(name: str, files: list[Path]) -> list[dict]:
    from rawcolour.checkpoint import load_model
    from rawcolour.eval.metrics import psnr
    from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb

    model = load_model(name)
    rows = []
    for path in files:
        whole = raw_to_rgb(model, path, InferenceOptions(device="cpu", tile=0)).rgb
        for tile in (256, 384, 512):
            tiled = raw_to_rgb(model, path, InferenceOptions(device="cpu", tile=tile)).rgb
            rows.append({"file": path.name, "tile": tile, "psnr_vs_untiled": round(psnr(tiled, whole), 2)})
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def colour_agreement(name: str, files: list[Path]) -> list[dict]:
    import cv2

    from rawcolour.camera_colour import picture_colour
    from rawcolour.checkpoint import load_model
    from rawcolour.eval.metrics import fit_tone_curve, mean_ciede2000, to_uint8
    from rawcolour.inference.pipelines import raw_to_rgb
    from rawcolour.io.raw import read_raw

    model, classic = load_model(name), load_model("classic")
    rows = []
    for path in files:
        ours, libraw = raw_to_rgb(model, path).rgb, raw_to_rgb(classic, path).rgb
        h, w = min(ours.shape[0], libraw.shape[0]), min(ours.shape[1], libraw.shape[1])
        quarter = (w // 4, h // 4)
        a = to_uint8(cv2.resize(ours[:h, :w], quarter, interpolation=cv2.INTER_AREA))
        b = to_uint8(cv2.resize(libraw[:h, :w], quarter, interpolation=cv2.INTER_AREA))
        colour = picture_colour(read_raw(path))
        rows.append({"file": path.name, "ciede2000_vs_classic": round(mean_ciede2000(to_uint8(fit_tone_curve(a, b)), b), 2),
                     "white_balance": colour.wb, "matrix": colour.matrix_source, "notes": list(colour.notes)})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("FILE", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--model", default="sgan-isp-tiny")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    real = [_bench.DATA / "raw" / n for n in REAL_RAWS if (_bench.DATA / "raw" / n).is_file()]
    with tempfile.TemporaryDirectory(prefix="rawcolour-bench-") as tmp:
        dng = make_12mp(Path(tmp))
        speed = timing(dng, ["classic", "sgan-tiny", args.model])
    out = {
        "what": "learned developer vs classic and sgan-tiny: 12 MP speed/memory, tiling, colour agreement",
        "command": "python benchmarks/developer.py" + (f" --model {args.model}" if args.model != "sgan-isp-tiny" else ""),
        "machine": _bench.machine(),
        "twelve_megapixels": speed,
        "tiled_vs_untiled": tiling(args.model, real),
        "colour_vs_classic": colour_agreement(args.model, [EXAMPLE, *real]),
        "notes": ["seconds include decoding; peak_rss_mb is the fresh process's ru_maxrss",
                  "colour: quarter size, after one tone curve shared by R, G, B fitted from the model's picture to "
                  "LibRaw's; files with incomplete metadata are marked by their notes"],
    }
    print(_bench.write_json("developer", out))


if __name__ == "__main__":
    main()
