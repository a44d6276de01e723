"""What a config may ask for, checked before anything is built.

A checkpoint's config comes from a file, and a file can lie: a width of -4, of 20000, a million
ResBlocks. Each architecture states the ranges its fields may take here; :func:`check_config`
enforces them (and every field's type) on the plain dict, before the config dataclass exists, and
:func:`meta_build` builds the network on PyTorch's ``meta`` device (shapes only, no memory) so the
parameter count and every tensor's shape are known before the real build allocates anything.

The ranges are generous: every registry model and the papers' full-size networks lie far inside.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

# Per architecture: integer (or float) field -> (lowest, highest) allowed.
FIELD_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "colorgan_unet": {"in_channels": (1, 64), "out_channels": (1, 64), "encoder_widths": (1, 4096),
                      "decoder_widths": (1, 4096)},
    "pix2pix_unet": {"in_channels": (1, 64), "out_channels": (1, 64), "num_downs": (5, 12), "ngf": (1, 1024),
                     "dropout": (0.0, 1.0)},
    "sgan_generator": {"in_channels": (1, 64), "out_channels": (1, 64), "width": (1, 1024), "num_resblocks": (0, 64),
                       "output_scale": (1, 2)},
    "patchgan": {"in_channels": (1, 64), "ndf": (1, 1024), "n_layers": (1, 10), "num_scales": (1, 8),
                 "last_stride": (1, 2)},
    "sgan_discriminator": {"in_channels": (1, 64), "width": (1, 1024)},
}
MAX_SEQUENCE = 16  # entries of a per-block tuple (encoder widths, norms)
MAX_TEXT = 64  # characters of a string field (a norm name)
# No rawcolour network comes near this (the paper-size generators have 10-60 M); a config that
# asks for more is refused before a byte is allocated.
MAX_PARAMETERS = 500_000_000


def _kind(annotation: Any) -> tuple[str, bool]:
    """(kind, None allowed) from a config field's annotation ('int', 'bool | None', 'tuple[str, ...] | None')."""
    text = str(annotation).replace(" ", "")
    optional = text.endswith("|None")
    base = text.removesuffix("|None")
    if base.startswith("tuple["):
        return "tuple-" + base[len("tuple["):].split(",")[0].rstrip("]"), optional
    return base, optional


def _check_scalar(arch: str, name: str, value: Any, kind: str, ranges: dict[str, tuple[float, float]]) -> None:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{arch} config {name} must be true or false; got {value!r:.40}")
        return
    if kind == "str":
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ValueError(f"{arch} config {name} must be a short text; got {value!r:.40}")
        return
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{arch} config {name} must be a whole number; got {value!r:.40}")
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{arch} config {name} must be a number; got {value!r:.40}")
    lo, hi = ranges.get(name, (None, None))
    if lo is None:
        raise ValueError(f"{arch} config {name} has no stated range")  # a field added without one
    if not lo <= value <= hi:
        raise ValueError(f"{arch} config {name} = {value} is outside {lo:g}..{hi:g}")


def check_config(arch: str, cls: type, values: dict[str, Any]) -> None:
    """Raise ValueError unless every field of ``values`` has its type and lies in its range."""
    ranges = FIELD_RANGES.get(arch, {})
    annotations = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, value in values.items():
        kind, optional = _kind(annotations[name])
        if value is None and optional:
            continue
        if kind.startswith("tuple-"):
            if not isinstance(value, (list, tuple)) or len(value) > MAX_SEQUENCE:
                raise ValueError(f"{arch} config {name} must be a list of at most {MAX_SEQUENCE} entries; "
                                 f"got {value!r:.40}")
            for item in value:
                _check_scalar(arch, name, item, kind.split("-", 1)[1], ranges)
        else:
            _check_scalar(arch, name, value, kind, ranges)


def meta_build(build: Any) -> nn.Module:
    """``build()`` on the meta device: the module tree and every tensor's shape, no storage.

    Raises ValueError when the network would have more than MAX_PARAMETERS parameters.
    """
    import torch  # here: checking a config (check_config) needs no torch
    from torch.nn.utils import parametrizations

    import rawcolour.nets.build  # noqa: F401 (every network module imported outside the meta device)

    # Random init and spectral norm's power iteration mean nothing without values, and on meta
    # tensors they run through Python decompositions (normal_ even imports torch._dynamo, a second
    # of start-up): skip them, shapes are all this build is for.
    functional, sn = torch.nn.functional, parametrizations._SpectralNorm
    power_method, sn_forward, normal, normalize = sn._power_method, sn.forward, torch.Tensor.normal_, functional.normalize

    def meta_sn_forward(self: Any, weight: torch.Tensor) -> torch.Tensor:
        return weight if weight.is_meta else sn_forward(self, weight)

    def meta_normal(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self if self.is_meta else normal(self, *args, **kwargs)

    def meta_normalize(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return x if x.is_meta else normalize(x, *args, **kwargs)

    sn._power_method = lambda self, weight_mat, n_power_iterations: None
    sn.forward = meta_sn_forward
    torch.Tensor.normal_ = meta_normal  # type: ignore[method-assign]
    functional.normalize = meta_normalize
    try:
        with torch.device("meta"):
            net = build()
    finally:
        sn._power_method, sn.forward = power_method, sn_forward
        torch.Tensor.normal_ = normal  # type: ignore[method-assign]
        functional.normalize = normalize
    n = sum(p.numel() for p in net.parameters())
    if n > MAX_PARAMETERS:
        raise ValueError(f"the network would have {n / 1e6:,.0f} M parameters, more than the "
                         f"{MAX_PARAMETERS / 1e6:,.0f} M any rawcolour architecture needs")
    return net


def state_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry's shape (works on a meta-device network)."""
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}
