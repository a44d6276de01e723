"""Exact rewrites of a trained net for inference: an eval-mode copy with spectral norm baked into
plain layers (:func:`inference_copy`), and the speed rewrites that compute the same function with
less work (:func:`rewrite_for_speed`: upsample + conv as one low-resolution conv + pixel shuffle,
narrow k x k convs as k x 1 passes). ``rawcolour.inference.device.prepare_net`` applies them.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize


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


__all__ = ["NARROW_MAX_OUT", "NarrowConv2d", "UpsampleConv2d", "inference_copy", "rewrite_for_speed"]
