"""(a) ms per 224x224 picture for `sgan`, our inference path vs the reference code's way of running it;
(b) achieved GFLOP/s of the useful work vs this machine's measured fp32 GEMM peak.

Reference-style: the network as the RAW2RGB-GAN code runs it at test time: spectral-norm power
iteration on every forward (train-mode parametrization), the saliency decoder computed (and thrown
away), autograd recording (no inference mode). Ours: rawcolour.inference.device.prepare_net (SN and BN folded,
no saliency branch, exact upsample-conv and narrow-conv rewrites) under torch.inference_mode.

Useful FLOPs: torch.utils.flop_counter on the main branch of the reference architecture (the work
a 224x224 RGB picture needs); our rewrites compute the same function with fewer FLOPs, so both the
useful-work rate and the rate of the FLOPs we actually execute are reported.

    python benchmarks/sgan_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import sys

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import _bench
from rawcolour.inference.device import prepare_net
from rawcolour.nets.inference_graph import inference_copy
from rawcolour.nets.fold import fold_for_inference
from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb
from rawcolour.io.raw import RawPicture
from rawcolour.registry import create_model
from rawcolour.checkpoint import LoadedModel
from rawcolour.registry import get_spec

SIDE = 224


def flops(net: torch.nn.Module, x: torch.Tensor, **kw) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():  # inference_mode trips SN parametrizations under FlopCounterMode
        net(x, **kw)
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    info = _bench.machine()
    print(f"machine: {info['cpu']}, {info['threads']} threads, load {info['loadavg_1min_at_start']}", file=sys.stderr)
    peak = _bench.gemm_peak()
    print(f"fp32 GEMM peak: {peak['gflops']} GFLOP/s", file=sys.stderr)

    reference = create_model("sgan")  # spectral norm as a parametrization, saliency decoder built
    reference.train()  # power iteration on every forward, as the reference code does
    folded = fold_for_inference(inference_copy(reference))  # plain weights; saliency branch idle
    ours = prepare_net(folded, torch.device("cpu"), channels_last=False)
    ours_nhwc = prepare_net(folded, torch.device("cpu"), channels_last=True)

    x1 = torch.rand(1, 4, SIDE, SIDE) * 2 - 1
    useful = flops(folded, x1)  # main branch of the reference architecture
    reference_flops = flops(copy.deepcopy(reference).eval(), x1, return_saliency=True)
    executed = flops(ours, x1)
    with torch.inference_mode():
        err = float((ours(x1) - folded(x1)).abs().max())

    rows = {}
    for batch in (1, 8):
        x = torch.rand(batch, 4, SIDE, SIDE) * 2 - 1
        xl = x.contiguous(memory_format=torch.channels_last)
        repeat = args.repeat if batch == 1 else max(2, args.repeat - 1)

        def ref_run() -> None:
            with torch.enable_grad():
                reference(x, return_saliency=True)

        def run(net: torch.nn.Module, inp: torch.Tensor):
            def go() -> None:
                with torch.inference_mode():
                    net(inp)
            return go

        times = _bench.best_times({"ref": ref_run, "folded": run(folded, x), "ours": run(ours, x),
                                   "nhwc": run(ours_nhwc, xl)}, repeat=repeat)
        t_ref, t_folded, t_ours, t_nhwc = times["ref"], times["folded"], times["ours"], times["nhwc"]
        row = {
            "reference_style_ms_per_picture": round(1000 * t_ref / batch, 1),
            "folded_no_saliency_ms_per_picture": round(1000 * t_folded / batch, 1),
            "ours_ms_per_picture": round(1000 * t_ours / batch, 1),
            "ours_channels_last_ms_per_picture": round(1000 * t_nhwc / batch, 1),
            "speedup_vs_reference": round(t_ref / t_ours, 2),
            "useful_gflops_per_s": round(useful * batch / t_ours / 1e9, 1),
            "useful_fraction_of_gemm_peak": round(useful * batch / t_ours / 1e9 / peak["gflops"], 3),
            "executed_gflops_per_s": round(executed * batch / t_ours / 1e9, 1),
            "executed_fraction_of_gemm_peak": round(executed * batch / t_ours / 1e9 / peak["gflops"], 3),
            "folded_useful_fraction_of_gemm_peak": round(useful * batch / t_folded / 1e9 / peak["gflops"], 3),
            "loadavg_1min": _bench.loadavg(),
        }
        if batch == 1:  # the whole user-facing path: RawPicture -> sRGB array
            model = LoadedModel(name="sgan", task="raw2rgb", net=folded, io=get_spec("sgan").io,
                                policy=get_spec("sgan").policy)
            raw = RawPicture(packed=np.random.default_rng(0).random((4, SIDE, SIDE), dtype=np.float32))
            opts = InferenceOptions(device="cpu", tile=0)
            t_pipe = _bench.best_time(lambda: raw_to_rgb(model, raw, opts), repeat=repeat)
            row["raw_to_rgb_ms_per_picture"] = round(1000 * t_pipe, 1)
        rows[f"batch{batch}"] = row
        print(f"batch {batch}: {row}", file=sys.stderr)

    result = {
        "what": "sgan generator at 1x4x224x224 (packed RAW), CPU fp32",
        "command": "python benchmarks/sgan_speed.py",
        "gemm_peak": peak,
        "gflop_useful_per_picture": round(useful / 1e9, 2),
        "gflop_reference_style_per_picture": round(reference_flops / 1e9, 2),
        "gflop_executed_per_picture_ours": round(executed / 1e9, 2),
        "max_abs_difference_ours_vs_folded": err,
        "results": rows,
        "layout": {
            "channels_last_faster_on_cpu": rows["batch1"]["ours_channels_last_ms_per_picture"]
            < rows["batch1"]["ours_ms_per_picture"],
            "note": "rawcolour.inference.device.CHANNELS_LAST_DEFAULT['cpu'] follows this measurement",
        },
        "notes": [
            "times are the best of several runs; other engineers share this 2-core machine (see loadavg)",
            "useful = FLOPs of the reference architecture's main branch; executed = FLOPs our rewritten net runs",
        ],
    }
    path = _bench.write_json("sgan_speed", result)
    print(path)


if __name__ == "__main__":
    main()
