"""Import generator weights saved by the reference implementations into rawcolour checkpoints.

Two foreign layouts are understood:

- ``pix2pix``: junyanz/pytorch-CycleGAN-and-pix2pix ``latest_net_G.pth``, a plain state dict of the
  nested ``UnetGenerator`` (keys ``model.model.0.weight``, ``model.model.1.model.1.weight``, ...).
  Colourisation checkpoints are unet_256, L (1 channel) -> ab (2 channels).
- ``sgan``: zhaoyuzhi/RAW2RGB-GAN generator checkpoints (``network.Generator``), either a state dict or
  the pickled WHOLE module the reference code saves with ``torch.save(generator)``.

Reading never executes code from the file (rawcolour.interop_files); each layout's keys and config
are read in rawcolour.interop_layouts; here the tensors become our network and a rawcolour checkpoint.

Spectral norm. The reference ``SpectralNorm`` keeps ``weight_bar`` (the raw weight), ``weight_u`` and
``weight_v``, and on EVERY forward (eval too) runs one power iteration from the stored u:
``v = n(W^T u)``, ``u' = n(W v)``, ``sigma = u'.(W v)``, weight = W / sigma (``n(x) = x / (|x| + 1e-12)``;
the stored v is never read). The import stores W as our SN parametrization's ``original`` and that one
iteration's (u', v) as its ``_u`` / ``_v``. In eval mode our spectral norm computes ``u'.(W v)`` from them
without iterating, so the imported net reproduces the reference's first forward after loading exactly,
and keeps its SN structure for fine-tuning (training resumes the power iteration from u', v).
The reference itself drifts from forward to forward until u has converged (it has, after training).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rawcolour.checkpoint import check_tensor_type, strip_wrappers
from rawcolour.errors import CheckpointError, OutputError
from rawcolour.interop_files import read_foreign_checkpoint
from rawcolour.interop_layouts import (
    FOREIGN_ARCHS,
    check_foreign_arch,
    SN_ORIGINAL,
    SN_U,
    SN_V,
    foreign_config,
    reference_key_map,
    reference_sn_vectors,
)
from rawcolour.io.files import file_sha256, same_file
from rawcolour.nets import config_from_dict, config_to_dict, count_parameters, meta_build
from rawcolour.registry import ModelSpec, NetSpec, get_spec, list_models

# ----------------------------------------------------------------------------- conversion


def convert_state(arch: str, foreign: dict[str, torch.Tensor], path: Path | None = None
                  ) -> tuple[NetSpec, nn.Module, list[str]]:
    """Build our generator for a foreign state dict and load it: (net spec, net, notes)."""
    path = path or Path("<state dict>")
    state = {strip_wrappers(k): v for k, v in foreign.items()}
    check_foreign_arch(arch)
    netspec, meta_net, notes = _buildable_netspec(arch, state, path)
    own = meta_net.state_dict()
    new = _our_tensors(arch, state, reference_key_map(meta_net, arch), own, path)
    for k, v in own.items():  # a bool or integer weight cast to float would run, and give garbage
        check_tensor_type(k, new[k], v, path)
    net = netspec.build()  # every shape fits: now build it for real
    net.load_state_dict({k: new[k].to(own[k].dtype) for k in own}, strict=True)
    net.eval()
    return netspec, net, notes


def _buildable_netspec(arch: str, state: dict[str, torch.Tensor], path: Path
                       ) -> tuple[NetSpec, nn.Module, list[str]]:
    """(net spec, the net built on the meta device, notes) for the config the tensors describe."""
    try:
        net_arch, config, notes = foreign_config(arch, state, path)
        netspec = NetSpec(net_arch, config)
        # The config read off the tensors' shapes is held to the architecture's limits, and the
        # network is built on the meta device (no memory) until every shape is known to fit.
        config_from_dict(netspec.arch, config_to_dict(config))
        meta_net = meta_build(netspec.build)
    except (ValueError, TypeError, IndexError, AttributeError) as err:
        raise CheckpointError(f"the tensors describe no {arch} generator rawcolour can build ({err})", path=path,
                              hint="check --arch, and that the file is a generator checkpoint") from None
    return netspec, meta_net, notes


def _our_tensors(arch: str, state: dict[str, torch.Tensor], key_map: dict[str, str],
                 own: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Our state dict, from the foreign one through ``key_map``; every tensor of ours must be found
    with its shape, and every tensor of the file must find a place."""
    new: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    for ours, ref in key_map.items():
        if ours.endswith(SN_U) or ours.endswith(SN_V):
            continue  # filled from weight_bar and weight_u below
        if ref not in state:
            if ref.endswith("num_batches_tracked"):  # files from PyTorch < 0.4.1 lack it
                new[ours] = torch.zeros((), dtype=torch.long)
                continue
            missing.append(ref)
            continue
        if not isinstance(state[ref], torch.Tensor) or tuple(state[ref].shape) != tuple(own[ours].shape):
            found = tuple(state[ref].shape) if isinstance(state[ref], torch.Tensor) else type(state[ref]).__name__
            raise CheckpointError(f"tensor {ref} has shape {found}, the {arch} generator needs "
                                  f"{tuple(own[ours].shape)}", path=path)
        new[ours] = state[ref]
        used.add(ref)
        if ours.endswith(SN_ORIGINAL):
            _add_sn_vectors(ours[: -len(SN_ORIGINAL)], ref, state, new, used, missing, path)
    _check_every_tensor_placed(arch, state, used, missing, path)
    for k, v in own.items():
        if tuple(new[k].shape) != tuple(v.shape):
            raise CheckpointError(f"tensor {key_map[k]} has shape {tuple(new[k].shape)}, the {arch} generator "
                                  f"needs {tuple(v.shape)}", path=path)
    return new


def _add_sn_vectors(base: str, ref: str, state: dict[str, torch.Tensor], new: dict[str, torch.Tensor],
                    used: set[str], missing: list[str], path: Path) -> None:
    """Our spectral norm's u, v under ``base`` from the reference's ``weight_bar`` (``ref``) and
    ``weight_u`` (see the module docstring)."""
    u_key = ref[: -len("weight_bar")] + "weight_u"
    if u_key not in state:
        missing.append(u_key)
        return
    w_bar = state[ref].float()
    u0 = state[u_key].float().reshape(-1)
    if u0.numel() != w_bar.shape[0]:
        raise CheckpointError(f"{u_key} has {u0.numel()} entries; its weight has {w_bar.shape[0]} rows", path=path)
    new[base + SN_U], new[base + SN_V] = reference_sn_vectors(w_bar, u0)
    used.add(u_key)
    used.add(ref[: -len("weight_bar")] + "weight_v")  # never read by the reference forward


def _check_every_tensor_placed(arch: str, state: dict[str, torch.Tensor], used: set[str], missing: list[str],
                               path: Path) -> None:
    if missing:
        raise CheckpointError(f"{len(missing)} tensors of the {arch} generator are missing from the file "
                              f"(e.g. {missing[0]})", path=path,
                              hint="the file is incomplete or from another architecture; check --arch")
    unexpected = sorted(set(state) - used)
    if unexpected:
        raise CheckpointError(f"{len(unexpected)} tensors in the file have no place in the {arch} generator "
                              f"(e.g. {unexpected[0]})", path=path,
                              hint="the file holds a different architecture or a modified generator; check --arch")


# ----------------------------------------------------------------------------- the import command


@dataclass
class ImportResult:
    """What `import_checkpoint` wrote."""

    source: Path
    output: Path
    name: str
    arch: str  # the foreign layout: pix2pix | sgan
    model: str  # the registry entry whose task, I/O spec and policy the checkpoint carries
    source_format: str
    parameters: int
    config: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["source"], d["output"] = str(self.source), str(self.output)
        return d


_BASE_SPEC = {"pix2pix": "pix2pix", "sgan": "sgan"}


def _target_spec(arch: str, netspec: NetSpec, path: Path) -> ModelSpec:
    """The registry entry for the imported net: an exact config match if any, else the base model."""
    base = get_spec(_BASE_SPEC[arch])
    io = base.io
    assert io is not None
    cfg = netspec.config
    if (cfg.in_channels, cfg.out_channels) != (len(io.input_channels), len(io.output_channels)):
        raise CheckpointError(
            f"the generator maps {cfg.in_channels} -> {cfg.out_channels} channels; rawcolour's {base.name} "
            f"({base.task}) needs {len(io.input_channels)} ({', '.join(io.input_channels)}) -> "
            f"{len(io.output_channels)} ({', '.join(io.output_channels)})",
            path=path,
            hint="only colourisation (L -> ab) pix2pix and RAW (4 -> RGB) RAW2RGB-GAN generators are imported")
    for name in list_models(task=base.task):
        spec = get_spec(name)
        if spec.generator is not None and spec.generator == netspec:
            return spec
    policy = base.policy
    multiple = getattr(cfg, "size_multiple", policy.size_multiple)
    if multiple != policy.size_multiple:
        policy = dataclasses.replace(policy, size_multiple=multiple, min_size=max(policy.min_size, multiple))
    return dataclasses.replace(base, generator=netspec, policy=policy)


def default_output(path: str | Path) -> Path:
    """FILE -> FILE's stem + .safetensors beside it."""
    path = Path(path)
    return path.with_name(path.stem + ".safetensors")


def import_checkpoint(path: str | Path, arch: str, output: str | Path | None = None, *,
                      name: str | None = None, force: bool = False) -> ImportResult:
    """Convert a reference implementation's generator checkpoint into a rawcolour safetensors file.

    The output (default: FILE's stem + .safetensors) is never the input, and an existing one is
    replaced only with `force`.
    """
    from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint

    check_foreign_arch(arch, "--arch")
    path = Path(path)
    out = Path(output) if output is not None else default_output(path)
    if path.exists() and out.exists() and same_file(out, path):
        raise OutputError("the output would overwrite the input checkpoint", path=out,
                          hint="choose another output with -o")
    if out.exists() and not force:
        raise OutputError("output exists", path=out, hint="pass --force to replace it, or choose another -o")
    foreign = read_foreign_checkpoint(path)
    netspec, net, notes = convert_state(arch, foreign.tensors, path)
    spec = _target_spec(arch, netspec, path)
    training: dict[str, Any] = {
        "imported_from": path.name,
        "imported_sha256": file_sha256(path),
        "imported_format": foreign.format,
        "imported_layout": FOREIGN_ARCHS[arch],
    }
    if foreign.top_class:
        training["imported_class"] = foreign.top_class
    if getattr(netspec.config, "spectral_norm", False) and arch == "sgan":
        training["spectral_norm"] = ("u, v = one power iteration from the file's weight_u, as the reference "
                                     "forward computes them; weight = weight_bar / sigma(u, v)")
    if notes:
        training["import_notes"] = notes
    meta = checkpoint_metadata(spec, netspec, training=training)
    if name:
        meta["name"] = name
    save_checkpoint(out, net, meta)
    return ImportResult(source=path, output=out, name=meta["name"], arch=arch, model=spec.name,
                        source_format=foreign.format, parameters=count_parameters(net),
                        config=netspec.to_dict()["config"], notes=notes)


__all__ = ["ImportResult", "convert_state", "default_output", "import_checkpoint"]
