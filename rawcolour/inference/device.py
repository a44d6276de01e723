"""Where and how a network runs: device and precision choice, free memory, out-of-memory detection,
and turning a loaded generator into the fastest equivalent network for one device and dtype.

``prepare_net`` builds (once per net, device, dtype and layout, cached) an inference copy:
spectral norm and batch norm folded, the saliency decoder dropped, and two exact rewrites that
measured faster on a 2-core AVX2 CPU (``benchmarks/sgan_speed.py``):

- nearest x2 upsample -> pad -> k x k conv becomes ONE low-resolution conv with 4x the output
  channels (one group per output phase) and a pixel shuffle: the upsampled picture is never
  built, and each phase needs only the taps that land on distinct low-resolution pixels
  (a 3x3 conv after upsampling touches 2x2 low-resolution pixels), 2.25x fewer FLOPs for 3x3
  kernels and 1.8x for the ColorGAN's 4x4;
- a conv with very few output channels (the 7x7 -> RGB head) runs as a k x 1 conv to
  ``out * k`` channels plus k shifted adds, which oneDNN runs ~4x faster than the skinny conv.

Both compute the same function as the original layers up to float rounding (tests check it);
the rewrites themselves live in rawcolour.nets.inference_graph.
"""

from __future__ import annotations

import os
import re
import weakref
import torch
import torch.nn as nn

from rawcolour.errors import DeviceError, UsageError
from rawcolour.inference.oom import is_oom  # noqa: F401 (part of this module's API)
from rawcolour.inference.options import check_device, precision_key
from rawcolour.nets.fold import fold_for_inference
from rawcolour.nets.inference_graph import inference_copy, rewrite_for_speed
from rawcolour.nets.norms import has_sample_statistics

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# channels_last per device type: on CUDA tensor cores prefer NHWC. On CPUs it depends on the net
# (benchmarks/results/throughput.json, "network"): oneDNN's NHWC convolutions are faster, but a norm
# that takes statistics of the picture itself (instance norm) reorders around every norm and costs
# more than they gain. Measured on the 2-core AVX-512 CPU at 12 MP: sgan-isp-tiny (no such norms)
# 4.57 s NCHW against 3.84 s NHWC; sgan-tiny and the paper's sgan (instance norm) are faster NCHW.
CHANNELS_LAST_DEFAULT = {"cpu": None, "cuda": True, "mps": False}  # None: as the net measures best

# Share of the free memory a picture's activations may use: CUDA reports what is free on the
# card; on a CPU the available RAM is shared with everything else on the machine.
MEMORY_FRACTION = {"cuda": 0.8, "mps": 0.5, "cpu": 0.25}


# ------------------------------------------------------------------------------------- devices


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' -> torch.device; DeviceError if it is not usable here.

    'auto' picks CUDA, then Apple MPS, then the CPU.
    """
    text = check_device(name or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if m:
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} is not available: this torch build sees no CUDA GPU"
                + ("" if torch.version.cuda else " (it is a CPU-only build)"),
                hint="use --device cpu (or auto), or install a CUDA build of torch on a machine with an NVIDIA GPU",
            )
        index = int(m.group(1)) if m.group(1) is not None else torch.cuda.current_device()
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceError(f"device {name!r} is not available: {count} CUDA device(s) found",
                              hint=f"use cuda:0..cuda:{count - 1}")
        return torch.device("cuda", index)
    if not _mps_available():  # mps, the one name left (check_device)
        raise DeviceError("device 'mps' is not available (Apple Silicon GPU with a torch MPS build needed)",
                          hint="use --device cpu (or auto)")
    return torch.device("mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_precision(precision: str | torch.dtype, device: torch.device) -> tuple[torch.dtype, list[str]]:
    """'fp32' | 'fp16' | 'bf16' -> (dtype, notes). Half precision on a CPU is allowed, with a note.

    CPUs without native fp16/bf16 units (this AVX2 machine) emulate them: fp16 convs measured about
    8x slower than fp32 here. They still run, so results can be checked against a GPU's; the note
    tells the user. bf16 on a CUDA GPU without bf16 support is refused.
    """
    if isinstance(precision, torch.dtype):
        inverse = {v: k for k, v in PRECISIONS.items()}
        if precision not in inverse:
            raise UsageError(f"unsupported precision {precision}", hint="use fp32, fp16 or bf16")
        key = inverse[precision]
    else:
        key = precision_key(precision)
    dtype = PRECISIONS[key]
    notes: list[str] = []
    if dtype is torch.float32:
        return dtype, notes
    if device.type == "cpu":
        notes.append(f"{key} on a CPU is emulated and usually slower than fp32; use fp16/bf16 on a GPU")
    elif device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"this GPU ({torch.cuda.get_device_name(device)}) does not support bf16",
                          hint="use --precision fp16 or fp32")
    return dtype, notes


def precision_name(dtype: torch.dtype) -> str:
    """torch dtype -> 'fp32' | 'fp16' | 'bf16'."""
    return {v: k for k, v in PRECISIONS.items()}.get(dtype, str(dtype))


# ------------------------------------------------------------------------------------- memory


def free_memory(device: torch.device) -> int:
    """Bytes the device can still allocate: CUDA mem_get_info, MPS recommended minus allocated,
    CPU available RAM (psutil; cgroup limits respected when tighter)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # Memory torch's caching allocator holds but does not use is free for us too.
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
        except (AttributeError, RuntimeError):
            pass
    return cpu_available_memory()


def cpu_available_memory() -> int:
    """Available RAM in bytes (psutil), or the cgroup v2 limit minus usage when that is smaller."""
    import psutil

    avail = int(psutil.virtual_memory().available)
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                used = int(f.read().strip())
            avail = min(avail, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return avail


def memory_budget(device: torch.device) -> int:
    """Bytes of activations one device call may use: a device-type share of the free memory."""
    return int(free_memory(device) * MEMORY_FRACTION.get(device.type, 0.5))


def release_memory(device: torch.device) -> None:
    """Give cached blocks back after an out-of-memory so the next, smaller try can use them."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        try:
            torch.mps.empty_cache()
        except (AttributeError, RuntimeError):
            pass


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (for honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def default_channels_last(device: torch.device, net: nn.Module | None = None) -> bool:
    """Whether activations go NHWC for ``net`` on this device type (measured; see CHANNELS_LAST_DEFAULT)."""
    env = os.environ.get("RAWCOLOUR_CHANNELS_LAST")
    if env in ("0", "1"):
        return env == "1"
    choice = CHANNELS_LAST_DEFAULT.get(device.type, False)
    if choice is None:
        return net is not None and not has_sample_statistics(net)
    return choice


# ------------------------------------------------------------------------------------- prepare

_PREPARED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def prepare_net(net: nn.Module, device: torch.device, dtype: torch.dtype = torch.float32, *,
                channels_last: bool | None = None, rewrite: bool = True) -> nn.Module:
    """An inference copy of `net` on `device` in `dtype` (cached per net): eval, SN/BN folded,
    saliency decoder dropped, exact speed rewrites, NHWC weights where measured faster.

    The caller's net is never changed. Norm statistics modes live on the copy.
    """
    if channels_last is None:
        channels_last = default_channels_last(device, net)
    key = (str(device), dtype, bool(channels_last), bool(rewrite))
    cache = _PREPARED.setdefault(net, {})
    stamp = net_fingerprint(net)
    if key in cache and cache[key][0] == stamp:
        return cache[key][1]
    fast = inference_copy(net)
    fold_for_inference(fast)
    if getattr(fast, "saliency", None) is not None:
        fast.saliency = None  # only the training loss reads it; forward(return_saliency=False) never does
    if rewrite:
        rewrite_for_speed(fast)
    fast.to(device=device, dtype=dtype)
    if channels_last:
        fast.to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    cache[key] = (stamp, fast)
    return fast


def net_fingerprint(net: nn.Module) -> tuple:
    """Identity and in-place version of every tensor: a net trained further gets a fresh copy."""
    return tuple((id(t), t._version) for t in (*net.parameters(), *net.buffers()))


def forget_prepared(net: nn.Module | None = None) -> None:
    """Drop cached inference copies (of one net, or all)."""
    if net is None:
        _PREPARED.clear()
    else:
        _PREPARED.pop(net, None)


__all__ = [
    "CHANNELS_LAST_DEFAULT",
    "MEMORY_FRACTION",
    "PRECISIONS",
    "cpu_available_memory",
    "default_channels_last",
    "forget_prepared",
    "free_memory",
    "is_oom",
    "memory_budget",
    "net_fingerprint",
    "precision_name",
    "prepare_net",
    "release_memory",
    "resolve_device",
    "resolve_precision",
    "synchronize",
]
