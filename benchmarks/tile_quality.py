"""(d) Tiled vs untiled output for pictures that fit untiled: PSNR between them and a seam measure,
for every model that can run in tiles (raw2rgb: sgan, sgan-tiny, pix2pix-raw; colourisers in
native-resolution tile mode), and for each source of frozen instance-norm statistics.

Seam measure: mean squared gradient across the lines where tiles start, end or cross-fade,
divided by the same on all other lines ("seam ratio"; 1.0 = no trace of the grid). It is reported
for the tiled output and, as a control, for the untiled output on the same lines; the reference
code's way (224 tiles, no overlap, per-tile statistics) is measured for contrast.

Pictures: a 2x2 grid of Kodak photos unprocessed to RAW (packed 500x749) for raw2rgb, the same
grid as grey L (1000x1498) for the colourisers, and the Raspberry Pi DNG from the sample data.

    python benchmarks/tile_quality.py [--quick] [--weights sgan-tiny=FILE]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import _bench
from rawcolour.colour import l_to_model, rgb_to_grey_l
from rawcolour.inference.device import prepare_net
from rawcolour.nets.norms import has_sample_statistics
from rawcolour.inference.tile_geometry import FEATHER_DEFAULT, fade_zone, padded_size, tile_starts
from rawcolour.inference.tiling import run_tiled
from tile_stats import RESEARCH

CPU = torch.device("cpu")


def seam_lines(length: int, tile: int, overlap: int, m: int, feather: float) -> list[int]:
    """Gradient indices j (between pixels j and j+1) where a tile starts or ends or a cross-fade
    starts or ends: where a tile grid would leave a step."""
    padded = padded_size(length, m)
    tile = min(tile, padded)
    starts = tile_starts(padded, tile, overlap, m)
    lines = set()
    for a, b in zip(starts, starts[1:]):
        lo, hi = fade_zone(a, b, tile, feather)
        for p in (b, a + tile, lo, hi):  # first pixel of a new region
            if 1 <= p < length:
                lines.add(p - 1)
    return sorted(lines)


def seam_ratio(img: np.ndarray, rows: list[int], cols: list[int], segment: int = 16) -> float | None:
    """Mean squared gradient across the seam lines / the same elsewhere, both directions pooled.

    The picture is first averaged along each line direction over segments of `segment` pixels, so
    a step along a whole tile edge stands out from texture and noise. 1.0: the lines are like any
    others; a visible grid gives a clearly larger value.
    """
    h, w = img.shape[:2]
    along_y = img[: h // segment * segment].reshape(h // segment, segment, w, -1).mean(axis=1)
    gx = np.mean((along_y[:, 1:] - along_y[:, :-1]) ** 2, axis=(0, 2))  # per column boundary
    along_x = img[:, : w // segment * segment].reshape(h, w // segment, segment, -1).mean(axis=2)
    gy = np.mean((along_x[1:] - along_x[:-1]) ** 2, axis=(1, 2))
    on = [gx[j] for j in cols] + [gy[i] for i in rows]
    if not on:
        return None
    off = np.concatenate([np.delete(gx, cols), np.delete(gy, rows)])
    return float(np.mean(on) / max(float(np.mean(off)), 1e-30))


def compare(net, x, *, out_channels, tile, overlap, m, min_size, pre, post, stats, whole, batch=1,
            feather=FEATHER_DEFAULT) -> dict:
    t = time.perf_counter()
    res = run_tiled(net, x, out_channels=out_channels, tile=tile, overlap=overlap, size_multiple=m,
                    min_size=min_size, batch=batch, device=CPU, preprocess=pre, postprocess=post,
                    stats=RESEARCH.get(stats, stats),
                    feather=feather, whole_if_fits=False)
    seconds = time.perf_counter() - t
    h, w = x.shape[-2:]
    rows, cols = seam_lines(h, tile, overlap, m, feather), seam_lines(w, tile, overlap, m, feather)
    return {
        "tile": tile, "overlap": overlap, "stats": res.stats, "feather": feather,
        "psnr_vs_untiled_db": round(_bench.psnr(res.output, whole), 2),
        "max_abs_difference": float(f"{np.abs(res.output - whole).max():.3g}"),
        "seam_ratio_tiled": _r(seam_ratio(res.output, rows, cols)),
        "seam_ratio_untiled_same_lines": _r(seam_ratio(whole, rows, cols)),
        # the same on (tiled - untiled): a grid shows as steps of the difference on the lines
        "seam_ratio_of_difference": _r(seam_ratio(res.output - whole, rows, cols)),
        "seconds": round(seconds, 2),
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer models and statistics sources")
    parser.add_argument("--weights", action="append", default=[], help="NAME=FILE: use these weights for NAME")
    parser.add_argument("--models", default=None, help="comma-separated subset of the models")
    parser.add_argument("--tag", default="", help="suffix of the JSON file name")
    args = parser.parse_args()
    weights = dict(w.split("=", 1) for w in args.weights)
    torch.manual_seed(0)
    print(f"load {_bench.loadavg()}", file=sys.stderr)

    # 2x2 Kodak photos, cropped so that the photos' own borders do not fall on tile lines and the
    # sides are no multiple of anything (1000 x 1498 RGB -> packed 500 x 749)
    grid = np.ascontiguousarray(_bench.photo_mosaic(2, 2)[11:1011, 23:1521])
    packed = torch.from_numpy(_bench.synthetic_packed(grid[:, :1498]))  # (4, 500, 749)
    pictures = {"kodak-2x2-unprocessed (packed 500x749)": packed}
    dng = _bench.DATA / "raw" / "rpi_imx296_chessboard_1456x1088.dng"
    if dng.is_file() and not args.quick:
        from rawcolour.io.raw import read_raw

        pictures["rpi_imx296 DNG (packed 544x728)"] = torch.from_numpy(read_raw(dng).packed)

    raw_models = ["sgan-tiny", "pix2pix-raw"] if args.quick else ["sgan-tiny", "sgan", "pix2pix-raw"]
    results: dict = {"raw2rgb": {}, "colourise_tile_mode": {}}
    pre = lambda b: b * 2 - 1  # noqa: E731
    post = lambda y: (y + 1) * 0.5  # noqa: E731
    chosen = set(args.models.split(",")) if args.models else None
    raw_models = [n for n in raw_models if chosen is None or n in chosen]
    for name in raw_models:
        model, source = _bench.load_raw_model(name, weights.get(name))
        net = prepare_net(model.net, CPU)
        p = model.policy
        entry = {"weights": source, "default_overlap": p.default_overlap, "pictures": {}}
        for label, x in pictures.items():
            if name == "sgan" and not label.startswith("kodak"):
                continue
            t = time.perf_counter()
            whole = run_tiled(net, x, out_channels=3, tile=None, size_multiple=p.size_multiple,
                              min_size=p.min_size, device=CPU, preprocess=pre, postprocess=post).output
            t_whole = time.perf_counter() - t
            runs = []
            sample = has_sample_statistics(net)
            sources = ["auto"] + (["full", "exact", "downscale", "crops", "live"] if sample else [])
            if name == "sgan" or args.quick:
                sources = ["auto"] + (["full", "exact", "live"] if sample else [])
            for tile in ((512, 256) if name != "pix2pix-raw" else (512, 256)):
                for stats in sources:
                    if tile == 256 and stats in ("crops", "downscale") and name == "sgan":
                        continue
                    r = compare(net, x, out_channels=3, tile=tile, overlap=p.default_overlap, m=p.size_multiple,
                                min_size=p.min_size, pre=pre, post=post, stats=stats, whole=whole)
                    runs.append(r)
                    print(name, label, r, file=sys.stderr, flush=True)
            if name == "sgan-tiny":
                for stats in ("full", "auto"):
                    for feather in (0.25, 0.75, 1.0):
                        r = compare(net, x, out_channels=3, tile=256, overlap=p.default_overlap, m=p.size_multiple,
                                    min_size=p.min_size, pre=pre, post=post, stats=stats, whole=whole,
                                    feather=feather)
                        runs.append(r)
                        print(name, label, r, file=sys.stderr, flush=True)
                for ov in (16, 48, 64):
                    r = compare(net, x, out_channels=3, tile=256, overlap=ov, m=p.size_multiple,
                                min_size=p.min_size, pre=pre, post=post, stats="full", whole=whole)
                    runs.append(r)
                    print(name, label, r, file=sys.stderr, flush=True)
            if sample:
                ref = compare(net, x, out_channels=3, tile=224, overlap=0, m=p.size_multiple, min_size=p.min_size,
                              pre=pre, post=post, stats="live", whole=whole)
                ref["what"] = "reference code's tiling: 224 tiles pasted, no overlap, per-tile statistics"
                runs.append(ref)
                print(name, label, ref, file=sys.stderr, flush=True)
            entry["pictures"][label] = {"untiled_seconds": round(t_whole, 2), "runs": runs}
        results["raw2rgb"][name] = entry

    colourisers = ["colorgan-tiny", "pix2pix"] if args.quick else ["colorgan-tiny", "colorgan-in-sn",
                                                                   "colorgan-ibn-sn-md", "pix2pix"]
    rgb = torch.from_numpy(grid.astype(np.float32) / 255).permute(2, 0, 1)[None]
    l_model = l_to_model(rgb_to_grey_l(rgb))[0]  # (1, 1000, 1498)
    colourisers = [n for n in colourisers if chosen is None or n in chosen]
    for name in colourisers:
        model, source = _bench.load_raw_model(name, weights.get(name))
        net = prepare_net(model.net, CPU)
        p = model.policy
        whole = run_tiled(net, l_model, out_channels=2, tile=None, size_multiple=p.size_multiple,
                          min_size=p.min_size, device=CPU).output
        runs = []
        sources = ["auto", "exact", "live"] if has_sample_statistics(net) else ["auto"]
        for stats in sources:
            r = compare(net, l_model, out_channels=2, tile=512, overlap=p.default_overlap, m=p.size_multiple,
                        min_size=p.min_size, pre=None, post=lambda y: (y + 1) * 0.5, stats=stats, whole=(whole + 1) / 2)
            r["note"] = "PSNR on ab/110 mapped to [0, 1]"
            runs.append(r)
            print(name, r, file=sys.stderr, flush=True)
        results["colourise_tile_mode"][name] = {"weights": source, "tiling_policy": p.tiling,
                                                "picture": "kodak-2x2 grey L (1000x1498)", "runs": runs}

    out = {
        "what": "tiled vs untiled output on pictures that fit untiled (CPU fp32)",
        "command": "python benchmarks/tile_quality.py" + (" --quick" if args.quick else ""),
        "target": "PSNR >= 40 dB for the raw2rgb models at the default tile and overlap",
        "results": results,
    }
    if args.models:
        out["command"] += f" --models {args.models}"
    if weights:
        out["command"] += "".join(f" --weights {k}={v}" for k, v in weights.items())
    name = "tile_quality" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    print(_bench.write_json(name, out))


if __name__ == "__main__":
    main()
