"""Throughput of whole folders, start-up, memory and the default network's speed on this CPU.

(a) ``classic`` over a folder of synthetic 12 MP DNGs against the naive loop over the same files in
    one Python process (``rawpy.imread(f).postprocess(output_bps=16, use_camera_wb=True)`` then
    ``cv2.imwrite``), 16-bit PNG and 16-bit TIFF;
(b) the default learned model over the folder: wall time per file against its network time alone
    (the forward pass on the same packed pictures through the default backend, measured in another
    process);
(c) start-up: ``rawcolour --version``, ``rawcolour models list``, ``raw2rgb --model classic`` on a
    small file;
(d) peak memory (the child's ru_maxrss from wait4) of a folder run against a one-file run, for
    ``classic`` and the default model;
(e) encoder settings on a 12 MP picture (PNG zlib levels and strategies, TIFF deflate / zstd tiles):
    seconds and size, so the defaults in rawcolour.io.images can be checked;
(f) the default model at full resolution: achieved GFLOP/s against a measured fp32 GEMM peak, for
    the eager network and the exact alternatives (channels_last, TorchScript freeze + oneDNN fusion,
    torch.compile, onnxruntime: the session ``--backend onnxruntime`` runs), each with its largest
    difference from eager, which one a CPU run takes by default ("default": --backend auto's
    choice, rawcolour.inference.onnx_backend), and which one wins beyond the noise ("recommended":
    its slowest run faster than eager's fastest).
    GFLOP/s counts the FLOPs of the eager inference graph (the work the default does).

Every comparison runs both sides as children of this process, interleaved, ``--repeat`` times;
the JSON holds the median, min and max of each. ``--quick`` uses 1 MP files and fewer repetitions
(a check that everything runs, not figures).

    python benchmarks/throughput.py [--quick] [--files 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _bench

HERE = Path(__file__).resolve()
SIZES = {"full": (3000, 4000), "quick": (750, 1000)}  # mosaic height, width (12 MP, 0.75 MP)


# ------------------------------------------------------------------------------------------ helpers


def spread(values: list[float], digits: int = 3) -> dict:
    """Median, min and max of repeated measurements."""
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run a command; its wall seconds, peak RSS (MB, from wait4: this child and its own children
    that it waited for), exit code and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"wall": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "code": proc.returncode,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def output_pace(folder: Path) -> float:
    """Seconds between the first and the last output written to ``folder``, per file after the
    first: the pace of a running batch, without its start-up and its first file's decode and
    network run (outputs are written atomically, so a file's time is when it was complete)."""
    times = sorted(f.stat().st_mtime_ns for f in folder.iterdir() if f.is_file())
    if len(times) < 2:
        raise SystemExit(f"{folder}: {len(times)} output(s); the pace needs two or more")
    return (times[-1] - times[0]) / 1e9 / (len(times) - 1)


def rawcolour_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rawcolour", *args]


def checked(result: dict, what: str) -> dict:
    if result["code"] != 0:
        raise SystemExit(f"{what} failed (exit {result['code']}):\n{result['stderr'][-2000:]}")
    return result


def json_summary(stdout: str) -> dict:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")][-1]


def make_folder(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """n synthetic DNGs: Kodak photo mosaics shot through the held-out cameras at mid noise."""
    import cv2

    from rawcolour.cameras import EVAL_CAMERAS
    from rawcolour.data.camera_sim import shot_for, write_shot_dng

    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    paths = []
    for i in range(n):
        photo = cv2.resize(_bench.photo_mosaic(2, 2, first=4 * i), (w, h), interpolation=cv2.INTER_CUBIC)
        shot = shot_for(EVAL_CAMERAS[i % len(EVAL_CAMERAS)], "mid")
        path, _ = write_shot_dng(folder / f"shot_{i:02d}.dng", photo, shot, "RGGB", np.random.default_rng(i))
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------ children


def naive_child(folder: str, out: str, fmt: str) -> None:
    """The naive loop in one process; prints its own seconds (imports excluded)."""
    import cv2
    import rawpy

    start = time.perf_counter()
    for f in sorted(Path(folder).glob("*.dng")):
        rgb = rawpy.imread(str(f)).postprocess(output_bps=16, use_camera_wb=True)
        cv2.imwrite(str(Path(out) / f"{f.stem}.{'png' if fmt == 'png' else 'tif'}"), rgb[..., ::-1])
    print(json.dumps({"seconds": time.perf_counter() - start}))


def network_child(folder: str, model_name: str, repeat: int) -> None:
    """The default model's forward pass alone on each file's packed picture, as the pipeline feeds it."""
    import torch

    from rawcolour.camera_colour import balance_packed, picture_colour
    from rawcolour.checkpoint import load_model
    from rawcolour.io.mosaic import to_rggb
    from rawcolour.io.raw import read_raw

    model = load_model(model_name)
    backend, net, layout = default_network(model)
    times = []
    for f in sorted(Path(folder).glob("*.dng")):
        raw = read_raw(f)
        packed = balance_packed(to_rggb(np.asarray(raw.packed), raw.cfa), picture_colour(raw))
        x = torch.from_numpy(np.ascontiguousarray(packed, dtype=np.float32))[None] * 2.0 - 1.0
        x = x[..., : x.shape[-2] // 8 * 8, : x.shape[-1] // 8 * 8].contiguous(memory_format=layout)
        with torch.inference_mode():
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                net(x)
                best = min(best, time.perf_counter() - t)
        times.append(best)
    print(json.dumps({"seconds_per_file": times, "backend": backend}))


def default_network(model) -> tuple:
    """(backend, callable, memory format): the network as a CPU run takes it by default (fp32)."""
    import torch

    from rawcolour.inference.device import default_channels_last, prepare_net
    from rawcolour.inference.onnx_backend import choose_backend, onnx_net

    cpu = torch.device("cpu")
    backend = choose_backend("auto", model, cpu, torch.float32)
    if backend == "onnxruntime":
        return backend, onnx_net(model), torch.contiguous_format
    nhwc = default_channels_last(cpu, model.net)
    return backend, prepare_net(model.net, cpu), torch.channels_last if nhwc else torch.contiguous_format


def variants_child(model_name: str, side: tuple[int, int], repeat: int, compile_too: bool) -> None:
    """(f): the default network at `side` (packed h, w) in each exact variant; one JSON line."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from rawcolour.checkpoint import load_model
    from rawcolour.inference.device import prepare_net

    torch.manual_seed(0)
    model = load_model(model_name)
    eager = prepare_net(model.net, torch.device("cpu"), channels_last=False)
    x = torch.rand(1, 4, *side) * 2 - 1
    with FlopCounterMode(display=False) as counter, torch.no_grad():  # (inference_mode trips the counter)
        eager(x[..., :64, :64])
    flops = counter.get_total_flops() * (side[0] * side[1]) / (64 * 64)  # convolutions: linear in pixels
    with torch.inference_mode():
        reference = eager(x)

    def timed(fn, inp) -> dict:
        with torch.inference_mode():
            y = fn(inp)  # warm-up (and, for compiled variants, the compilation)
            seconds = []
            for _ in range(repeat):
                t = time.perf_counter()
                y = fn(inp)
                seconds.append(time.perf_counter() - t)
        y = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
        diff = float((y.float().contiguous() - reference).abs().max())
        best = min(seconds)
        return {"seconds": spread(seconds), "gflops": round(flops / best / 1e9, 1), "max_abs_diff": diff}

    variants: dict[str, dict] = {}

    def attempt(name: str, make) -> None:
        try:
            fn, inp = make()
            variants[name] = timed(fn, inp)
        except Exception as exc:  # noqa: BLE001 (a variant this machine cannot run is reported, not fatal)
            variants[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
        print(f"  {name}: {variants[name]}", file=sys.stderr, flush=True)

    attempt("eager", lambda: (eager, x))
    nhwc = prepare_net(model.net, torch.device("cpu"), channels_last=True)
    attempt("channels_last", lambda: (nhwc, x.contiguous(memory_format=torch.channels_last)))

    def frozen():
        with torch.no_grad():  # traced at the size it runs at: a trace fixes the sizes it saw
            traced = torch.jit.trace(eager, x)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval())), x

    attempt("torchscript freeze + optimize_for_inference (oneDNN fusion)", frozen)
    if compile_too:
        attempt("torch.compile (inductor)", lambda: (torch.compile(eager, dynamic=False), x))

    def onnx_runtime():
        from rawcolour.inference.onnx_backend import onnx_net

        return onnx_net(model), x  # the session --backend onnxruntime runs

    attempt("onnxruntime", onnx_runtime)
    backend, _net, layout = default_network(model)
    default = "onnxruntime" if backend == "onnxruntime" else "channels_last" if layout == torch.channels_last else "eager"
    print(json.dumps({"input": [1, 4, *side], "gflop": round(flops / 1e9, 1), "variants": variants,
                      "default": default, "recommended": recommended(variants)}))


def recommended(variants: dict[str, dict]) -> str:
    """The fastest exact variant (max |diff| from eager <= 1e-4) whose slowest run beats eager's fastest
    (a win beyond the noise of the repetitions); else eager."""
    base = variants["eager"]["seconds"]["min"]
    exact = {name: v["seconds"] for name, v in variants.items()
             if "seconds" in v and v["max_abs_diff"] <= 1e-4 and name != "eager"}
    winners = {name: t["median"] for name, t in exact.items() if t["max"] < base}
    return min(winners, key=winners.get) if winners else "eager"


# ------------------------------------------------------------------------------------------ the parts


def classic_vs_naive(folder: Path, work: Path, n: int, repeat: int) -> dict:
    """(a): wall seconds per file, both sides as children, interleaved."""
    out = {}
    for fmt in ("png", "tiff"):
        sides: dict[str, list[float]] = {"rawcolour classic": [], "naive loop": []}
        inside: dict[str, list[float]] = {"rawcolour classic": [], "naive loop": []}
        for r in range(repeat):
            target = work / f"classic-{fmt}-{r}"
            ours = checked(run_child(rawcolour_cmd("raw2rgb", str(folder), "-o", str(target), "--model", "classic",
                                                   "--format", fmt, "--json", "--quiet")), "rawcolour classic")
            sides["rawcolour classic"].append(ours["wall"] / n)
            inside["rawcolour classic"].append(json_summary(ours["stdout"])["seconds"] / n)
            naive_out = work / f"naive-{fmt}-{r}"
            naive_out.mkdir()
            theirs = checked(run_child([sys.executable, str(HERE), "--naive", str(folder), str(naive_out), fmt]),
                             "naive loop")
            sides["naive loop"].append(theirs["wall"] / n)
            inside["naive loop"].append(json.loads(theirs["stdout"].splitlines()[-1])["seconds"] / n)
            print(f"  (a) {fmt} round {r + 1}: classic {sides['rawcolour classic'][-1]:.2f} s/file, naive "
                  f"{sides['naive loop'][-1]:.2f} s/file (wall, start-up included)", file=sys.stderr, flush=True)
        sizes = {"rawcolour classic": sum(p.stat().st_size for p in (work / f"classic-{fmt}-0").iterdir()) / n / 1e6,
                 "naive loop": sum(p.stat().st_size for p in (work / f"naive-{fmt}-0").iterdir()) / n / 1e6}
        out[fmt] = {side: {"wall_seconds_per_file": spread(sides[side]),
                           "in_process_seconds_per_file": spread(inside[side]),
                           "mb_per_file": round(sizes[side], 1)} for side in sides}
        out[fmt]["speedup_median_wall"] = round(out[fmt]["naive loop"]["wall_seconds_per_file"]["median"]
                                                / out[fmt]["rawcolour classic"]["wall_seconds_per_file"]["median"], 2)
    return out


def learned_folder(folder: Path, work: Path, n: int, repeat: int, model: str) -> dict:
    """(b): the default model over the folder against its network time alone, and the same folder
    through torch (``--backend torch``) in the same rounds, interleaved. Besides wall time per file,
    the pace once the batch runs (``output_pace``), against the network alone on the files after
    the first (whose run allocates the network's memory)."""
    # One file first, so the timed runs find the exported onnxruntime graph cached as any run after
    # the first does (rawcolour.inference.onnx_backend).
    checked(run_child(rawcolour_cmd("raw2rgb", str(next(folder.glob("*.dng"))), "-o", str(work / "learned-warm"),
                                    "--quiet")), "default model warm-up")
    sides = {"default": [], "torch": []}  # (wall, inside the batch, pace) seconds per file, per round
    network, network_later = [], []
    for r in range(repeat):
        for side, extra in (("default", []), ("torch", ["--backend", "torch"])):
            out = work / f"learned-{side}-{r}"
            run = checked(run_child(rawcolour_cmd("raw2rgb", str(folder), "-o", str(out), "--json", "--quiet",
                                                  *extra)), f"{side} backend folder")
            sides[side].append((run["wall"] / n, json_summary(run["stdout"])["seconds"] / n, output_pace(out)))
        net = checked(run_child([sys.executable, str(HERE), "--network", str(folder), model, "1"]), "network alone")
        alone = json.loads(net["stdout"].splitlines()[-1])
        network.append(statistics.mean(alone["seconds_per_file"]))
        network_later.append(statistics.mean(alone["seconds_per_file"][1:]))
        (wall, inside, pace), (torch_wall, torch_inside, torch_pace) = sides["default"][-1], sides["torch"][-1]
        print(f"  (b) round {r + 1}: folder {wall:.2f} s/file wall ({inside:.2f} in the batch, pace {pace:.2f}), "
              f"through torch {torch_wall:.2f} ({torch_inside:.2f}, pace {torch_pace:.2f}), network alone "
              f"{network[-1]:.2f} s/file ({network_later[-1]:.2f} after the first)", file=sys.stderr, flush=True)

    def timings(side: str) -> dict:
        return {"wall_seconds_per_file": spread([w for w, _, _ in sides[side]]),
                "batch_seconds_per_file": spread([b for _, b, _ in sides[side]]),
                "pace_seconds_per_file": spread([p for _, _, p in sides[side]])}

    batch_median = statistics.median(b for _, b, _ in sides["default"])
    pace_median = statistics.median(p for _, _, p in sides["default"])
    return {"model": model, "network_backend": alone["backend"], **timings("default"),
            "network_seconds_per_file": spread(network),
            "network_after_first_seconds_per_file": spread(network_later),
            "batch_over_network_median": round(batch_median / statistics.median(network), 3),
            "pace_over_network_after_first_median": round(pace_median / statistics.median(network_later), 3),
            "torch_backend": timings("torch")}


def startup(small: Path, work: Path, repeat: int) -> dict:
    """(c): wall seconds of short commands (interpreter start and imports included)."""
    commands = {
        "rawcolour --version": rawcolour_cmd("--version"),
        "rawcolour models list": rawcolour_cmd("models", "list"),
        "raw2rgb --model classic (one small file)": rawcolour_cmd("raw2rgb", str(small), "-o", str(work / "small"),
                                                                  "--model", "classic", "--on-exist", "overwrite",
                                                                  "--quiet"),
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            times[name].append(checked(run_child(cmd), name)["wall"])
    return {name: spread(t) for name, t in times.items()}


def memory(folder: Path, first: Path, work: Path, model: str) -> dict:
    """(d): peak RSS of a folder run against a one-file run, for classic and the default model."""
    out = {}
    for name, extra in (("classic", ["--model", "classic"]), (model, [])):
        folder_run = checked(run_child(rawcolour_cmd("raw2rgb", str(folder), "-o", str(work / f"mem-{name}-folder"),
                                                     "--quiet", *extra)), f"{name} folder")
        one_run = checked(run_child(rawcolour_cmd("raw2rgb", str(first), "-o", str(work / f"mem-{name}-one"),
                                                  "--quiet", *extra)), f"{name} one file")
        out[name] = {"folder_peak_rss_mb": round(folder_run["peak_rss_mb"], 1),
                     "one_file_peak_rss_mb": round(one_run["peak_rss_mb"], 1),
                     "ratio": round(folder_run["peak_rss_mb"] / one_run["peak_rss_mb"], 3)}
        print(f"  (d) {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def encoder_settings(first: Path, repeat: int) -> dict:
    """(e): seconds and MB of PNG and TIFF settings on one picture, 16-bit and 8-bit."""
    import io

    import cv2
    import tifffile

    from rawcolour.inference.classic import develop_classic
    from rawcolour.io.png import png_stream
    from rawcolour.io.pixels import to_depth

    px16 = develop_classic(first).pixels
    px8 = to_depth(px16, 8)
    png_settings = {
        "level 1 (default strategy)": [cv2.IMWRITE_PNG_COMPRESSION, 1],
        "level 3 (default strategy; rawcolour before)": [cv2.IMWRITE_PNG_COMPRESSION, 3],
        "level 6 (default strategy)": [cv2.IMWRITE_PNG_COMPRESSION, 6],
        "run-length, Sub filter (OpenCV's default; rawcolour before)": [
            cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
            cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB],
        "run-length, Paeth filter": [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
                                     cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH],
    }

    def tiff(arr, **kw):
        buf = io.BytesIO()
        tifffile.imwrite(buf, arr, photometric="rgb", predictor="horizontal", **kw)
        return buf.getvalue()

    workers = os.cpu_count() or 1
    tiff_settings = {
        "deflate 6, strips, 1 thread (rawcolour before)": dict(compression="zlib"),
        "deflate 1, 256 tiles, all cores (rawcolour now)": dict(compression="zlib", compressionargs={"level": 1},
                                                                tile=(256, 256), maxworkers=workers),
        "deflate 6, 256 tiles, all cores": dict(compression="zlib", compressionargs={"level": 6}, tile=(256, 256),
                                                maxworkers=workers),
        "zstd 1, 256 tiles, all cores (OpenCV, Photoshop cannot read it)": dict(
            compression="zstd", compressionargs={"level": 1}, tile=(256, 256), maxworkers=workers),
    }
    out: dict = {"png_settings": {}, "tiff_settings": {}}
    for bits, px in ((16, px16), (8, px8)):
        bgr = np.ascontiguousarray(px[..., ::-1])
        fns = {name: (lambda p=params: cv2.imencode(".png", bgr, p)[1]) for name, params in png_settings.items()}
        for n in sorted({1, workers}):
            fns[f"run-length, Sub filter, strips on {n} thread{'s' if n > 1 else ''} (rawcolour now)"] = (
                lambda n=n: b"".join(png_stream(px, workers=n)))
        times = _bench.best_times(fns, repeat=repeat, warmup=0)
        out["png_settings"][f"{bits}-bit"] = {name: {"seconds": round(times[name], 3),
                                                     "mb": round(len(fns[name]()) / 1e6, 2)} for name in fns}
        tfns = {name: (lambda kw=kw: tiff(px, **kw)) for name, kw in tiff_settings.items()}
        ttimes = _bench.best_times(tfns, repeat=repeat, warmup=0)
        out["tiff_settings"][f"{bits}-bit"] = {name: {"seconds": round(ttimes[name], 3),
                                                      "mb": round(len(tfns[name]()) / 1e6, 2)} for name in tfns}
    out["picture"] = list(px16.shape)
    return out


# ------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.75 MP files, 1 repetition: a check that it runs")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes of compiling)")
    parser.add_argument("--naive", nargs=3, metavar=("FOLDER", "OUT", "FMT"), help=argparse.SUPPRESS)
    parser.add_argument("--network", nargs=3, metavar=("FOLDER", "MODEL", "REPEAT"), help=argparse.SUPPRESS)
    parser.add_argument("--variants", nargs=5, metavar=("MODEL", "H", "W", "REPEAT", "COMPILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.files < 2:
        parser.error("--files must be at least 2 (a batch's pace is timed between its first and last output)")
    if args.naive:
        return naive_child(*args.naive)
    if args.network:
        return network_child(args.network[0], args.network[1], int(args.network[2]))
    if args.variants:
        m, h, w, r, c = args.variants
        return variants_child(m, (int(h), int(w)), int(r), c == "1")

    from rawcolour.tasks import RAW2RGB

    model = RAW2RGB.default_model
    repeat = 1 if args.quick else args.repeat
    size = SIZES["quick" if args.quick else "full"]
    info = _bench.machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, load {info['loadavg_1min_at_start']}", file=sys.stderr)
    result: dict = {"quick": args.quick, "files": args.files, "mosaic": list(size), "repeat": repeat,
                    "machine": info, "default_model": model}
    with tempfile.TemporaryDirectory(prefix="rawcolour-throughput-") as tmp:
        work = Path(tmp)
        os.environ["RAWCOLOUR_CACHE"] = str(work / "cache")  # the children's exported graphs, not the user's
        folder = work / "card"
        files = make_folder(folder, args.files, size)
        small = make_folder(work / "small", 1, SIZES["quick"])[0]
        print(f"{args.files} DNGs of {size[1]}x{size[0]} in {folder}", file=sys.stderr, flush=True)
        result["gemm_peak"] = _bench.gemm_peak()
        print(f"(f) fp32 GEMM peak {result['gemm_peak']['gflops']} GFLOP/s", file=sys.stderr, flush=True)
        packed = (size[0] // 2 // 8 * 8, size[1] // 2 // 8 * 8)
        variants = checked(run_child([sys.executable, str(HERE), "--variants", model, str(packed[0]), str(packed[1]),
                                      str(max(2, repeat)), "0" if args.no_compile else "1"]), "network variants")
        result["network"] = json.loads(variants["stdout"].splitlines()[-1])
        result["network"]["gemm_peak_gflops"] = result["gemm_peak"]["gflops"]
        print("(a) classic vs the naive loop", file=sys.stderr, flush=True)
        result["classic_vs_naive"] = classic_vs_naive(folder, work, args.files, repeat)
        print("(b) the default model over the folder", file=sys.stderr, flush=True)
        result["learned_folder"] = learned_folder(folder, work, args.files, repeat, model)
        print("(c) start-up", file=sys.stderr, flush=True)
        result["startup_seconds"] = startup(small, work, max(3, repeat))
        print("(d) peak memory", file=sys.stderr, flush=True)
        result["peak_memory"] = memory(folder, files[0], work, model)
        print("(e) encoder settings", file=sys.stderr, flush=True)
        result["encoders"] = encoder_settings(files[0], max(2, repeat))
    name = "throughput_quick" if args.quick else "throughput"
    path = _bench.write_json(name, result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "encoders")}, indent=1))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
