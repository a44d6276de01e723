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

Both compute the same function as the original layers up to float rounding (tests check it).
"""

from __future__ import annotations

import copy
import os
import re
import weakref
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

from rawcolour.errors import DeviceError, UsageError
from rawcolour.nets.fold import fold_for_inference

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_PRECISION_ALIASES = {
    "float32": "fp32", "float": "fp32", "fp32": "fp32", "32": "fp32",
    "float16": "fp16", "half": "fp16", "fp16": "fp16", "16": "fp16",
    "bfloat16": "bf16", "bf16": "bf16",
}

# channels_last per device type: on the 2-core AVX2 CPU it measured slower for the whole sgan
# forward (oneDNN reorders around reflection pads, instance norm and the pixel shuffle cost more
# than the faster convs gain; benchmarks/results/sgan_speed.json, "layout"); on CUDA tensor
# cores prefer NHWC.
CHANNELS_LAST_DEFAULT = {"cpu": False, "cuda": True, "mps": False}

# Share of the free memory a picture's activations may use: CUDA reports what is free on the
# card; on a CPU the available RAM is shared with everything else on the machine.
MEMORY_FRACTION = {"cuda": 0.8, "mps": 0.5, "cpu": 0.25}


# ------------------------------------------------------------------------------------- devices


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' -> torch.device; DeviceError if it is not usable here.

    'auto' picks CUDA, then Apple MPS, then the CPU.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
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
    if text == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' is not available (Apple Silicon GPU with a torch MPS build needed)",
                              hint="use --device cpu (or auto)")
        return torch.device("mps")
    raise UsageError(f"unknown device {name!r}", hint="use auto, cpu, cuda, cuda:N or mps")


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
        key = _PRECISION_ALIASES.get(str(precision).strip().lower(), "")
        if not key:
            raise UsageError(f"unknown precision {precision!r}", hint="use fp32, fp16 or bf16")
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


def is_oom(err: BaseException) -> bool:
    """True for out-of-memory from any backend (CUDA OutOfMemoryError, CPU allocator, MPS, MemoryError)."""
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return True
    if isinstance(err, RuntimeError):
        text = str(err).lower()
        return "out of memory" in text or "can't allocate memory" in text or "failed to allocate" in text
    return False


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


def default_channels_last(device: torch.device) -> bool:
    """Whether activations go NHWC on this device type (measured; see CHANNELS_LAST_DEFAULT)."""
    env = os.environ.get("RAWCOLOUR_CHANNELS_LAST")
    if env in ("0", "1"):
        return env == "1"
    return CHANNELS_LAST_DEFAULT.get(device.type, False)


# ------------------------------------------------------------------------------------- rewrites


class UpsampleConv2d(nn.Module):
    """nearest x2 upsample -> pad -> conv (stride 1, 'same' size), as one low-resolution conv + pixel shuffle.

    Output pixel (2i + a, 2j + b) of the original reads upsampled pixels whose low-resolution
    sources are i + off_a(k) (off depends on the phase a and tap k). Each phase's taps span
    ``kp`` low-resolution pixels, so one conv with a kp x kp kernel and 4 * out channels computes
    all four phases at low resolution; phase (a, b) starts at (s_a, s_b) in its output.
    Zero padding of the upsampled picture is zero padding at low resolution; reflection by 1
    (or replication) of the upsampled picture is replication at low resolution.
    """

    def __init__(self, conv: nn.Conv2d, pad: tuple[int, int, int, int], mode: str) -> None:
        super().__init__()
        k_h, k_w = conv.kernel_size
        left, right, top, bottom = pad
        self.out_channels = conv.out_channels
        self.mode = mode  # "constant" | "replicate"
        w = conv.weight.detach()
        rows, self.pad_t, self.pad_b, self.start_y = _phase_taps(k_h, top)
        cols, self.pad_l, self.pad_r, self.start_x = _phase_taps(k_w, left)
        # W'[o, a, b] = R_a W[o] C_b^T: sum the taps that land on the same low-resolution pixel.
        r = torch.stack(rows).to(w)  # (2, kp_h, k_h)
        c = torch.stack(cols).to(w)  # (2, kp_w, k_w)
        wp = torch.einsum("ayk,oikl,bxl->oabiyx", r.double(), w.double(), c.double())
        self.weight = nn.Parameter(wp.reshape(4 * conv.out_channels, conv.in_channels, r.shape[1], c.shape[1])
                                   .to(w.dtype).contiguous(), requires_grad=False)
        self.bias = None
        if conv.bias is not None:
            self.bias = nn.Parameter(conv.bias.detach().repeat_interleave(4).clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.pad_l, self.pad_r, self.pad_t, self.pad_b)
        if any(pad):
            x = F.pad(x, pad, mode=self.mode) if self.mode != "constant" else F.pad(x, pad)
        y = F.conv2d(x, self.weight, self.bias)  # (B, 4 * out, h + extra_y, w + extra_x), channel = (o, a, b)
        b_, _, hy, wy = y.shape
        h, w = hy - max(self.start_y), wy - max(self.start_x)
        # out[:, o, 2i + a, 2j + b] = y[:, (o, a, b), i + s_a, j + s_b]: one strided view, one copy.
        sb, so, sy, sx = y.stride(0), y.stride(1) * 4, y.stride(2), y.stride(3)
        sa_ph, sb_ph = y.stride(1) * 2, y.stride(1)
        dy = self.start_y[1] - self.start_y[0]
        dx = self.start_x[1] - self.start_x[0]
        offset = y.storage_offset() + self.start_y[0] * sy + self.start_x[0] * sx
        view = y.as_strided((b_, self.out_channels, h, 2, w, 2),
                            (sb, so, sy, sa_ph + dy * sy, sx, sb_ph + dx * sx), offset)
        nhwc = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        out = torch.empty((b_, self.out_channels, 2 * h, 2 * w), dtype=y.dtype, device=y.device,
                          memory_format=torch.channels_last if nhwc else torch.contiguous_format)
        s0, s1, s2, s3 = out.stride()
        out.as_strided((b_, self.out_channels, h, 2, w, 2), (s0, s1, 2 * s2, s2, 2 * s3, s3)).copy_(view)
        return out  # (B, out, 2h, 2w)

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, kernel={tuple(self.weight.shape[-2:])}, pad_mode={self.mode}"


def _phase_taps(k: int, pad_before: int) -> tuple[list[torch.Tensor], int, int, tuple[int, int]]:
    """Per phase a in {0, 1}: a (kp, k) 0/1 matrix mapping conv taps to low-resolution taps; pads; starts."""
    offs = [[(a + t - pad_before) // 2 for t in range(k)] for a in (0, 1)]
    lo = [min(o) for o in offs]
    kp = max(max(o) - min(o) + 1 for o in offs)
    omin = min(lo)
    omax = max(lo[a] + kp - 1 for a in (0, 1))
    mats = []
    for a in (0, 1):
        m = torch.zeros(kp, k, dtype=torch.float64)
        for t, o in enumerate(offs[a]):
            m[o - lo[a], t] = 1.0
        mats.append(m)
    return mats, max(0, -omin), max(0, omax), (lo[0] - omin, lo[1] - omin)


class NarrowConv2d(nn.Module):
    """A k x k conv (stride 1, no padding) with few output channels as a k x 1 conv to out * k channels
    plus k shifted adds: oneDNN runs the skinny conv far below GEMM speed, the wider one near it."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        o, i, kh, kw = conv.weight.shape
        self.out_channels, self.k = o, kw
        w = conv.weight.detach()
        # W'[(o, t), i, y, 0] = W[o, i, y, t]
        self.weight = nn.Parameter(w.permute(0, 3, 1, 2).reshape(o * kw, i, kh, 1).contiguous(), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.conv2d(x, self.weight)  # (B, out * k, H, W + k - 1)
        b, _, h, wp = z.shape
        w = wp - self.k + 1
        z = z.view(b, self.out_channels, self.k, h, wp)
        y = z[:, :, 0, :, 0:w].clone()
        for t in range(1, self.k):
            y += z[:, :, t, :, t:t + w]
        if self.bias is not None:
            y += self.bias.view(1, -1, 1, 1)
        return y  # (B, out, H, W)

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, kernel={self.k}"


def _plain_conv(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and not parametrize.is_parametrized(m) and m.groups == 1
            and m.stride == (1, 1) and m.dilation == (1, 1) and m.padding == (0, 0)
            and m.padding_mode == "zeros")


def _upsample_pad(up: nn.Module, pad: nn.Module) -> tuple[tuple[int, int, int, int], str] | None:
    if not (type(up) is nn.Upsample and up.mode == "nearest" and up.size is None):
        return None
    scale = up.scale_factor
    if not (scale == 2 or scale == 2.0 or (isinstance(scale, tuple) and all(s == 2 for s in scale))):
        return None
    if type(pad) is nn.ZeroPad2d:
        return tuple(pad.padding), "constant"  # type: ignore[return-value]
    if type(pad) in (nn.ReflectionPad2d, nn.ReplicationPad2d) and tuple(pad.padding) == (1, 1, 1, 1):
        return (1, 1, 1, 1), "replicate"
    return None


NARROW_MAX_OUT = 4  # output channels at or below which the k x 1 rewrite measured faster


def rewrite_for_speed(net: nn.Module) -> dict[str, int]:
    """In place: apply the exact rewrites above inside every nn.Sequential; returns how many of each."""
    counts = {"upsample_conv": 0, "narrow_conv": 0}
    for seq in list(net.modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules.keys())
        i = 0
        while i < len(names):
            mods = [seq._modules[n] for n in names[i:i + 3]]
            if len(mods) == 3 and _plain_conv(mods[2]):
                found = _upsample_pad(mods[0], mods[1])
                conv = mods[2]
                if found is not None:
                    pad, mode = found
                    k_h, k_w = conv.kernel_size
                    # only 'same'-size convs: pad_before + pad_after = k - 1
                    if pad[0] + pad[1] == k_w - 1 and pad[2] + pad[3] == k_h - 1:
                        seq._modules[names[i]] = nn.Identity()
                        seq._modules[names[i + 1]] = nn.Identity()
                        seq._modules[names[i + 2]] = UpsampleConv2d(conv, pad, mode)
                        counts["upsample_conv"] += 1
                        i += 3
                        continue
            m = seq._modules[names[i]]
            if _plain_conv(m) and m.out_channels <= NARROW_MAX_OUT and m.kernel_size[1] > 1 and m.in_channels >= 16:
                seq._modules[names[i]] = NarrowConv2d(m)
                counts["narrow_conv"] += 1
            i += 1
    return counts


# ------------------------------------------------------------------------------------- prepare

_PREPARED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def prepare_net(net: nn.Module, device: torch.device, dtype: torch.dtype = torch.float32, *,
                channels_last: bool | None = None, rewrite: bool = True) -> nn.Module:
    """An inference copy of `net` on `device` in `dtype` (cached per net): eval, SN/BN folded,
    saliency decoder dropped, exact speed rewrites, NHWC weights where measured faster.

    The caller's net is never changed. Norm statistics modes live on the copy.
    """
    if channels_last is None:
        channels_last = default_channels_last(device)
    key = (str(device), dtype, bool(channels_last), bool(rewrite))
    cache = _PREPARED.setdefault(net, {})
    stamp = _fingerprint(net)
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


def inference_copy(net: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every parametrized (spectral-norm) conv replaced by a plain one
    holding its eval-mode weight; the original is left untouched.

    Not ``copy.deepcopy`` + ``remove_parametrizations``: a deep copy shares the dynamically made
    ``Parametrized*`` class with the original, and removing a parametrization deletes the property
    from that shared class, which breaks the original net (torch 2.13).
    """
    memo: dict[int, object] = {}
    for m in net.modules():
        if parametrize.is_parametrized(m):
            memo[id(m)] = _plain_layer(m)
    fast = copy.deepcopy(net, memo)
    return fast.eval()


@torch.no_grad()
def _plain_layer(m: nn.Module) -> nn.Module:
    base = type(m).__bases__[0]  # parametrize injects a subclass of the layer's own class
    if base not in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear):
        raise TypeError(f"cannot fold a parametrized {base.__name__}")
    flags = [p.training for p in m.parametrizations.modules()]
    for p in m.parametrizations.modules():
        p.training = False  # eval-mode value: stored u, v, no power iteration (and no update)
    try:
        values = {name: getattr(m, name).detach().clone() for name in m.parametrizations.keys()}
    finally:
        for p, flag in zip(m.parametrizations.modules(), flags):
            p.training = flag
    plain = base.__new__(base)
    state = {k: v for k, v in m.__dict__.items() if k not in ("_parameters", "_buffers", "_modules")}
    plain.__dict__.update(copy.deepcopy(state))
    plain._parameters = {}
    plain._buffers = {k: (None if v is None else v.detach().clone()) for k, v in m._buffers.items()}
    plain._modules = {k: copy.deepcopy(v) for k, v in m._modules.items() if k != "parametrizations"}
    for k, v in m._parameters.items():
        plain._parameters[k] = None if v is None else nn.Parameter(v.detach().clone(), requires_grad=v.requires_grad)
    for name, value in values.items():
        plain._parameters[name] = nn.Parameter(value, requires_grad=False)
    plain.training = False
    return plain


def _fingerprint(net: nn.Module) -> tuple:
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
    "DEVICE_CHOICES",
    "MEMORY_FRACTION",
    "NarrowConv2d",
    "PRECISIONS",
    "UpsampleConv2d",
    "cpu_available_memory",
    "default_channels_last",
    "forget_prepared",
    "free_memory",
    "is_oom",
    "memory_budget",
    "precision_name",
    "prepare_net",
    "release_memory",
    "resolve_device",
    "resolve_precision",
    "rewrite_for_speed",
    "synchronize",
]
