"""The reference implementations' state-dict layouts, one section per foreign format: what
config a foreign state dict describes, and which of our keys each of its tensors goes to.

- ``pix2pix``: junyanz/pytorch-CycleGAN-and-pix2pix ``UnetGenerator`` keys (``model.model.0.weight``,
  ``model.model.1.model.1.weight``, ...).
- ``sgan``: zhaoyuzhi/RAW2RGB-GAN ``network.Generator`` keys (``E1.conv2d.module.weight_bar``, ...),
  whose spectral norm keeps ``weight_bar`` / ``weight_u`` / ``weight_v`` (see rawcolour.interop for
  how they become ours).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from rawcolour.errors import CheckpointError, UsageError
from rawcolour.nets.unet import Pix2PixUNetConfig
from rawcolour.nets.uresnet import SGANGeneratorConfig

FOREIGN_ARCHS: dict[str, str] = {
    "pix2pix": "junyanz/pytorch-CycleGAN-and-pix2pix UnetGenerator (latest_net_G.pth)",
    "sgan": "zhaoyuzhi/RAW2RGB-GAN network.Generator (state dict or pickled module)",
}


def check_foreign_arch(arch: str, label: str = "foreign architecture") -> str:
    """``arch`` if it is one of FOREIGN_ARCHS, else a UsageError naming it as ``label``."""
    if arch not in FOREIGN_ARCHS:
        raise UsageError(f"unknown {label} {arch!r}", hint=f"choose one of {', '.join(FOREIGN_ARCHS)}")
    return arch


# ----------------------------------------------------------------------------- key mapping: pix2pix


def _pix2pix_level(k: int) -> str:
    """The reference prefix of U-Net level k (0 = outermost): model.model, model.model.1.model, then .3.model."""
    return "model.model" + (".1.model" if k >= 1 else "") + ".3.model" * max(0, k - 1)


def _pix2pix_ref_key(key: str, n: int) -> str:
    """Our Pix2PixUNet state-dict key -> the reference UnetGenerator key (n = num_downs)."""
    m = re.fullmatch(r"(encoder|decoder)\.(\d+)\.(\d+)\.(.+)", key)
    if not m:
        raise KeyError(key)
    part, i, j, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    if part == "encoder":  # level i: [LeakyReLU, downconv, downnorm] in ours and in the reference
        return f"{_pix2pix_level(i)}.{j}.{rest}"
    k = n - 1 - i  # decoder[i] is the up half of level n-1-i
    if k == n - 1:  # innermost: [LeakyReLU, downconv, ReLU, upconv, upnorm]
        pos = {1: 3, 2: 4}[j]
    elif k == 0:  # outermost: [downconv, submodule, ReLU, upconv, Tanh]
        pos = {1: 3}[j]
    else:  # [LeakyReLU, downconv, downnorm, submodule, ReLU, upconv, upnorm, (Dropout)]
        pos = {1: 5, 2: 6}[j]
    return f"{_pix2pix_level(k)}.{pos}.{rest}"


def _pix2pix_config(state: dict[str, torch.Tensor], path: Path) -> tuple[Pix2PixUNetConfig, list[str]]:
    first = state.get("model.model.0.weight")
    if first is None:
        _wrong_layout(state, "pix2pix", "model.model.0.weight", path)
    levels = 1
    while any(k.startswith(_pix2pix_level(levels) + ".") for k in state):
        levels += 1
    if levels < 5:
        raise CheckpointError(f"a pix2pix U-Net with {levels} levels is not supported (need at least 5)", path=path)
    ngf, in_ch = first.shape[0], first.shape[1]
    up = state.get("model.model.3.weight")
    if up is None or up.dim() != 4:
        raise CheckpointError("missing the outermost up-convolution model.model.3.weight", path=path)
    out_ch = up.shape[1]  # ConvTranspose2d weight: (in, out, k, k)
    l1 = _pix2pix_level(1)
    notes: list[str] = []
    if f"{l1}.2.running_mean" in state and f"{l1}.2.weight" in state:
        norm = "batch"
    elif f"{l1}.1.bias" in state:
        norm = "instance"
        # Old pix2pix files carry running stats for InstanceNorm; its own loader drops them too.
        stale = [k for k in state if re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)]
        for k in stale:
            del state[k]
        if stale:
            notes.append(f"dropped {len(stale)} instance-norm running-stat tensors: pix2pix's current code never "
                         "uses them and its own loader drops them too")
    else:
        raise CheckpointError("cannot tell the U-Net's normalisation (no batch-norm statistics, no conv biases)",
                              path=path)
    return Pix2PixUNetConfig(in_channels=in_ch, out_channels=out_ch, num_downs=levels, ngf=ngf, norm=norm), notes


# ----------------------------------------------------------------------------- key mapping: RAW2RGB-GAN

# Our conv module path -> the reference Conv2dLayer's conv path (its ``conv2d`` attribute).
_SGAN_CONV_PATHS = (
    (r"e(\d)\.1", r"E\1.conv2d"),
    (r"bottleneck\.(\d+)\.body\.([01])\.1", r"BottleNeck.\1.conv2d.\2.conv2d"),
    (r"d([123])\.2", r"D\1.conv2d.conv2d"),  # TransposeConv2dLayer wraps a Conv2dLayer
    (r"d4\.1", "D4.conv2d"),
    (r"saliency\.from_d1\.([02])\.2", r"SalDecoder.D1.\1.conv2d.conv2d"),
    (r"saliency\.from_d1\.([13])\.1", r"SalDecoder.D1.\1.conv2d"),
    (r"saliency\.from_d2\.0\.2", "SalDecoder.D2.0.conv2d.conv2d"),
    (r"saliency\.from_d2\.1\.1", "SalDecoder.D2.1.conv2d"),
    (r"saliency\.from_d3\.1", "SalDecoder.D3.conv2d"),
    (r"saliency\.fuse\.([01])\.1", r"SalDecoder.D4.\1.conv2d"),
)
# Our spectral-norm parametrization's tensors (the raw weight and the power iteration's u, v).
SN_ORIGINAL = "parametrizations.weight.original"
SN_U, SN_V = "parametrizations.weight.0._u", "parametrizations.weight.0._v"


def _sgan_ref_conv(path: str) -> str:
    for pattern, repl in _SGAN_CONV_PATHS:
        if re.fullmatch(pattern, path):
            return re.sub(pattern, repl, path)
    raise KeyError(path)


def _sgan_config(state: dict[str, torch.Tensor], path: Path) -> tuple[SGANGeneratorConfig, list[str]]:
    if "E1.conv2d.module.weight_bar" in state:
        sn, e1 = True, state["E1.conv2d.module.weight_bar"]
    elif "E1.conv2d.weight" in state:
        sn, e1 = False, state["E1.conv2d.weight"]
    else:
        _wrong_layout(state, "sgan", "E1.conv2d.module.weight_bar", path)
    norm_keys = [k for k in state if ".norm." in k]
    if norm_keys:
        raise CheckpointError(f"normalisation layers with weights ({norm_keys[0]}): only the released "
                              "instance-norm generator (--norm in) is supported", path=path)
    w = "module.weight_bar" if sn else "weight"
    d4 = state.get(f"D4.conv2d.{w}")
    if d4 is None:
        raise CheckpointError(f"missing the output convolution D4.conv2d.{w}", path=path)
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"BottleNeck\.(\d+)\.", k))}
    if blocks != set(range(len(blocks))):
        raise CheckpointError(f"bottleneck blocks are not numbered 0..n-1 (found {sorted(blocks)})", path=path)
    width = e1.shape[0]
    saliency = any(k.startswith("SalDecoder.") for k in state)
    if saliency:
        d3 = state.get(f"SalDecoder.D3.conv2d.{w}")
        if d3 is not None and d3.shape[0] != width:
            raise CheckpointError(f"the saliency decoder is {d3.shape[0]} wide but the generator {width}; "
                                  "rawcolour's saliency decoder has the generator's width", path=path)
    config = SGANGeneratorConfig(in_channels=e1.shape[1], out_channels=d4.shape[0], width=width,
                                 num_resblocks=len(blocks), spectral_norm=sn, saliency_decoder=saliency)
    notes = [] if saliency else ["the file has no saliency decoder: imported without one (RGB output only)"]
    return config, notes


def _wrong_layout(state: dict[str, torch.Tensor], arch: str, expected: str, path: Path) -> None:
    keys = list(state)
    if arch == "sgan" and "model.model.0.weight" in state:
        raise CheckpointError("this looks like a pix2pix U-Net checkpoint, not a RAW2RGB-GAN generator",
                              path=path, hint="use --arch pix2pix")
    if arch == "pix2pix" and any(k.startswith("E1.conv2d.") for k in keys):
        raise CheckpointError("this looks like a RAW2RGB-GAN generator, not a pix2pix U-Net",
                              path=path, hint="use --arch sgan")
    sample = ", ".join(keys[:3])
    raise CheckpointError(f"not a {FOREIGN_ARCHS[arch]} checkpoint: no {expected} (keys start {sample})",
                          path=path, hint="check --arch, and that the file is a generator (not a discriminator)")


# ----------------------------------------------------------------------------- both layouts


def foreign_config(arch: str, state: dict[str, torch.Tensor], path: Path) -> tuple[str, object, list[str]]:
    """(our network's architecture name, its config read off the tensors' shapes, notes) for a
    foreign state dict of layout ``arch``; a CheckpointError when the tensors are not that layout."""
    if arch == "pix2pix":
        return ("pix2pix_unet", *_pix2pix_config(state, path))
    return ("sgan_generator", *_sgan_config(state, path))


# ----------------------------------------------------------------------------- key maps


def reference_key_map(net: nn.Module, arch: str) -> dict[str, str]:
    """Our state-dict key -> the reference implementation's key, for a net built by rawcolour.

    For spectral-normalised convs our ``original`` / ``_u`` / ``_v`` map to the reference's
    ``weight_bar`` / ``weight_u`` / ``weight_v`` (see the module docstring for how u and v differ).
    """
    check_foreign_arch(arch)
    keys = list(net.state_dict())
    if arch == "pix2pix":
        n = net.config.num_downs
        return {k: _pix2pix_ref_key(k, n) for k in keys}
    out = {}
    for path, m in net.named_modules():
        if not isinstance(m, nn.Conv2d):
            continue
        ref = _sgan_ref_conv(path)
        if hasattr(m, "parametrizations"):
            out[f"{path}.{SN_ORIGINAL}"] = f"{ref}.module.weight_bar"
            out[f"{path}.{SN_U}"] = f"{ref}.module.weight_u"
            out[f"{path}.{SN_V}"] = f"{ref}.module.weight_v"
        else:
            for name, _ in m.named_parameters(recurse=False):
                out[f"{path}.{name}"] = f"{ref}.{name}"
    missing = sorted(set(keys) - set(out))
    if missing:  # every tensor of ours must have a place in the reference layout
        raise KeyError(f"no reference key for {missing[0]}")
    return out


def _l2n(x: torch.Tensor) -> torch.Tensor:
    return x / (x.norm() + 1e-12)  # the reference's l2normalize (not F.normalize's max(|x|, eps))


def reference_sn_vectors(weight_bar: torch.Tensor, weight_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(u', v) after the one power iteration the reference's SpectralNorm runs on a forward."""
    w = weight_bar.reshape(weight_bar.shape[0], -1)
    v = _l2n(torch.mv(w.t(), weight_u))
    u = _l2n(torch.mv(w, v))
    return u, v


__all__ = ["FOREIGN_ARCHS", "SN_ORIGINAL", "check_foreign_arch", "SN_U", "SN_V", "foreign_config", "reference_key_map",
           "reference_sn_vectors"]
