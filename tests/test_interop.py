"""Importing the reference implementations' checkpoints (rawcolour.interop, `rawcolour models import`).

The foreign checkpoints are made here, without the reference code: small modules written for
these tests lay their tensors out as pix2pix's nested UnetGenerator and RAW2RGB-GAN's Generator
do (same attribute names, so the same state-dict keys and pickled module tree), and compute the
same functions, including the reference spectral norm's power iteration on every forward.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sys
import types

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from typer.testing import CliRunner

from rawcolour.checkpoint import load_checkpoint, read_checkpoint
from rawcolour.cli.models import app as models_app
from rawcolour.errors import CheckpointError, OutputError, UsageError
from rawcolour.interop import import_checkpoint
from rawcolour.interop_files import read_foreign_checkpoint
from rawcolour.interop_layouts import reference_key_map
from rawcolour.registry import create_model

runner = CliRunner()


# ------------------------------------------------------------------ a pix2pix-layout U-Net (ours)


class _Level(nn.Module):
    """One level of a nested U-Net laid out as pix2pix's: `model` = Sequential(down ..., inner level, up ...)."""

    def __init__(self, outer: int, inner: int, cin: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False) -> None:
        super().__init__()
        cin = cin or outer
        down = nn.Conv2d(cin, inner, 4, 2, 1, bias=False)
        if outermost:
            layers = [down, sub, nn.ReLU(), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False),
                      nn.BatchNorm2d(outer)]
        else:
            layers = [nn.LeakyReLU(0.2), down, nn.BatchNorm2d(inner), sub, nn.ReLU(),
                      nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer), nn.Dropout(0.5)]
        self.outermost = outermost
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat((x, y), 1)


class RefStyleUNet(nn.Module):
    def __init__(self, cin: int = 1, cout: int = 2, num_downs: int = 5, ngf: int = 4) -> None:
        super().__init__()
        block = _Level(8 * ngf, 8 * ngf, innermost=True)
        for _ in range(num_downs - 5):
            block = _Level(8 * ngf, 8 * ngf, sub=block)
        for mult in (4, 2, 1):
            block = _Level(ngf * mult, ngf * mult * 2, sub=block)
        self.model = _Level(cout, ngf, cin, sub=block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _pix2pix_reference(seed: int = 0, **kw) -> RefStyleUNet:
    torch.manual_seed(seed)
    net = RefStyleUNet(**kw)
    with torch.no_grad():  # non-trivial BN affine and running statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)
        net.train()
        for _ in range(2):
            net(torch.randn(2, kw.get("cin", 1), 32, 32))
    return net.eval()


# ------------------------------------------------------------------ a RAW2RGB-GAN-layout generator (ours)


def _l2n(v: torch.Tensor) -> torch.Tensor:
    return v / (v.norm() + 1e-12)


class SpectralNorm(nn.Module):
    """Keeps weight_bar / weight_u / weight_v on the wrapped conv; one power iteration per forward."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.module = conv
        w = conv.weight.data
        del conv._parameters["weight"]
        rows, cols = w.shape[0], w[0].numel()
        conv.register_parameter("weight_u", nn.Parameter(_l2n(torch.randn(rows)), requires_grad=False))
        conv.register_parameter("weight_v", nn.Parameter(_l2n(torch.randn(cols)), requires_grad=False))
        conv.register_parameter("weight_bar", nn.Parameter(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.module
        mat = conv.weight_bar.reshape(conv.weight_bar.shape[0], -1)
        v = _l2n(mat.t().mv(conv.weight_u.data))
        u = _l2n(mat.mv(v))
        conv.weight_v.data, conv.weight_u.data = v, u
        return F.conv2d(x, conv.weight_bar / u.dot(mat.mv(v)), None, conv.stride)


class Conv2dLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: int, norm: bool = True,
                 act: nn.Module | None = None) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(pad)
        self.conv2d = SpectralNorm(nn.Conv2d(cin, cout, k, stride, 0, bias=False))
        self.norm = nn.InstanceNorm2d(cout) if norm else None
        self.activation = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2d(self.pad(x))
        x = self.norm(x) if self.norm is not None else x
        return self.activation(x) if self.activation is not None else x


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class TransposeConv2dLayer(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv2d = Conv2dLayer(cin, cout, 3, 1, 1, act=_lrelu())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResConv2dLayer(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv2d = nn.Sequential(Conv2dLayer(c, c, 3, 1, 1, act=_lrelu()), Conv2dLayer(c, c, 3, 1, 1, norm=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2d(x)


class SalGenerator(nn.Module):
    def __init__(self, w: int) -> None:
        super().__init__()
        c = lambda cin: Conv2dLayer(cin, w, 3, 1, 1, act=_lrelu())  # noqa: E731
        self.D1 = nn.Sequential(TransposeConv2dLayer(8 * w, w), c(w), TransposeConv2dLayer(w, w), c(w))
        self.D2 = nn.Sequential(TransposeConv2dLayer(4 * w, w), c(w))
        self.D3 = c(2 * w)
        self.D4 = nn.Sequential(c(3 * w), Conv2dLayer(w, 1, 7, 1, 3, norm=False, act=nn.Sigmoid()))

    def forward(self, d1, d2, d3):
        return self.D4(torch.cat((self.D1(d1), self.D2(d2), self.D3(d3)), 1))


class Generator(nn.Module):
    def __init__(self, w: int = 16, blocks: int = 4, saliency: bool = True) -> None:
        super().__init__()
        self.E1 = Conv2dLayer(4, w, 7, 1, 3, norm=False, act=_lrelu())
        self.E2 = Conv2dLayer(w, 2 * w, 4, 2, 1, act=_lrelu())
        self.E3 = Conv2dLayer(2 * w, 4 * w, 4, 2, 1, act=_lrelu())
        self.E4 = Conv2dLayer(4 * w, 8 * w, 4, 2, 1, act=_lrelu())
        self.BottleNeck = nn.Sequential(*[ResConv2dLayer(8 * w) for _ in range(blocks)])
        self.D1 = TransposeConv2dLayer(8 * w, 4 * w)
        self.D2 = TransposeConv2dLayer(8 * w, 2 * w)
        self.D3 = TransposeConv2dLayer(4 * w, w)
        self.D4 = Conv2dLayer(2 * w, 3, 7, 1, 3, norm=False, act=nn.Tanh())
        if saliency:
            self.SalDecoder = SalGenerator(w)

    def forward(self, x):
        e1 = self.E1(x)
        e2 = self.E2(e1)
        e3 = self.E3(e2)
        y = self.BottleNeck(self.E4(e3))
        d1 = torch.cat((self.D1(y), e3), 1)
        d2 = torch.cat((self.D2(d1), e2), 1)
        d3 = torch.cat((self.D3(d2), e1), 1)
        sal = self.SalDecoder(d1, d2, d3) if hasattr(self, "SalDecoder") else None
        return self.D4(d3), sal


# The classes live in modules named as the reference's, so a pickled Generator names network.Generator etc.
for _cls in (Conv2dLayer, TransposeConv2dLayer, ResConv2dLayer, SpectralNorm):
    _cls.__module__ = "network_module"
for _cls in (Generator, SalGenerator):
    _cls.__module__ = "network"


def _fake_modules() -> dict[str, types.ModuleType]:
    mods = {"network": types.ModuleType("network"), "network_module": types.ModuleType("network_module")}
    for cls in (Conv2dLayer, TransposeConv2dLayer, ResConv2dLayer, SpectralNorm, Generator, SalGenerator):
        setattr(mods[cls.__module__], cls.__name__, cls)
    return mods


def _sgan_reference(seed: int = 0, **kw) -> Generator:
    """Random weights, then a few training steps' worth of power iterations (u no longer its initial value)."""
    torch.manual_seed(seed)
    g = Generator(**kw)
    with torch.no_grad():
        for _ in range(2):
            g(torch.randn(1, 4, 32, 32))
    return g.eval()


def _first_forward(g: nn.Module, x: torch.Tensor):
    """The reference's output right after loading: its forward mutates u, so run it on a copy."""
    import copy

    with torch.no_grad():
        return copy.deepcopy(g)(x)


def _save_module(obj, path, monkeypatch, **kw) -> None:
    """torch.save a pickled module whose classes exist only while saving (never at import time)."""
    with monkeypatch.context() as m:
        for name, mod in _fake_modules().items():
            m.setitem(sys.modules, name, mod)
        torch.save(obj, path, **kw)
    assert "network" not in sys.modules


def _outputs(path, x, saliency=False):
    out = []
    for folded in (False, True):
        net = load_checkpoint(path, for_inference=folded).net.eval()
        with torch.no_grad():
            out.append(net(x, return_saliency=True) if saliency and not folded else net(x))
    return out


# ------------------------------------------------------------------ pix2pix


def test_pix2pix_state_dict_import_matches_reference_layout_output(tmp_path):
    ref = _pix2pix_reference()
    src = tmp_path / "latest_net_G.pth"
    torch.save(ref.state_dict(), src)
    result = import_checkpoint(src, "pix2pix")
    assert result.output == tmp_path / "latest_net_G.safetensors" and result.output.is_file()
    assert result.source_format == "state_dict" and result.model == "pix2pix"
    x = torch.rand(2, 1, 32, 64) * 2 - 1
    with torch.no_grad():
        expected = ref(x)
    for ours in _outputs(result.output, x):
        assert (ours - expected).abs().max().item() <= 1e-5
    _, meta = read_checkpoint(result.output)
    assert meta["task"] == "colourise" and json.loads(meta["config"])["num_downs"] == 5
    assert json.loads(meta["policy"])["size_multiple"] == 32  # 5 levels, not unet_256's 256
    training = json.loads(meta["training"])
    assert training["imported_from"] == "latest_net_G.pth"
    assert training["imported_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_pix2pix_unet256_keys_cover_the_reference_layout():
    with torch.device("meta"):  # keys and shapes only
        ours = create_model("pix2pix")
        ref_keys = set(RefStyleUNet(ngf=64, num_downs=8).state_dict())
    key_map = reference_key_map(ours, "pix2pix")
    assert set(key_map.values()) == ref_keys and len(ref_keys) == len(key_map)
    assert key_map["encoder.0.0.weight"] == "model.model.0.weight"
    assert key_map["decoder.7.1.bias"] == "model.model.3.bias"


def test_pix2pix_old_file_without_num_batches_tracked_imports(tmp_path):
    state = {k: v for k, v in _pix2pix_reference().state_dict().items() if "num_batches_tracked" not in k}
    torch.save(state, tmp_path / "old.pth")
    import_checkpoint(tmp_path / "old.pth", "pix2pix")


def test_weights_that_are_not_floating_point_are_refused(tmp_path):
    state = _pix2pix_reference().state_dict()
    for dtype in (torch.bool, torch.int32):
        cast = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
        torch.save(cast, tmp_path / "cast.pth")
        with pytest.raises(CheckpointError, match=f"is {str(dtype).removeprefix('torch.')}; a network's weights are "
                                                  "floating point"):
            import_checkpoint(tmp_path / "cast.pth", "pix2pix")
        assert not (tmp_path / "cast.safetensors").exists()
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}, tmp_path / "half.pth")
    import_checkpoint(tmp_path / "half.pth", "pix2pix")  # half precision is weights too


def test_pix2pix_three_channel_generator_is_refused(tmp_path):
    torch.save(_pix2pix_reference(cin=3, cout=3).state_dict(), tmp_path / "facades.pth")
    with pytest.raises(CheckpointError, match=r"3 -> 3 channels"):
        import_checkpoint(tmp_path / "facades.pth", "pix2pix")
    assert not (tmp_path / "facades.safetensors").exists()


# ------------------------------------------------------------------ RAW2RGB-GAN


def test_sgan_state_dict_import_reproduces_the_reference_spectral_norm_forward(tmp_path):
    ref = _sgan_reference()
    src = tmp_path / "G.pth"
    torch.save(ref.state_dict(), src)
    x = torch.rand(1, 4, 32, 48) * 2 - 1
    rgb, sal = _first_forward(ref, x)
    result = import_checkpoint(src, "sgan", tmp_path / "g.safetensors")
    assert result.model == "sgan-tiny"  # width 16, 4 blocks, SN, saliency: exactly the registry's sgan-tiny
    (ours_rgb, ours_sal), folded = _outputs(result.output, x, saliency=True)
    assert (ours_rgb - rgb).abs().max().item() <= 1e-5
    assert (ours_sal - sal).abs().max().item() <= 1e-5
    assert (folded - rgb).abs().max().item() <= 1e-5


def test_sgan_pickled_whole_module_is_read_without_importing_its_classes(tmp_path, monkeypatch):
    ref = _sgan_reference(seed=1, w=8, blocks=2)
    src = tmp_path / "Pre_RAW2RGB_epoch10_bs8.pth"
    _save_module(ref, src, monkeypatch)
    x = torch.rand(2, 4, 24, 16) * 2 - 1
    rgb, _ = _first_forward(ref, x)
    result = import_checkpoint(src, "sgan")
    assert "network" not in sys.modules and "network_module" not in sys.modules
    assert result.source_format == "pickled_module" and result.model == "sgan"
    assert result.config["width"] == 8 and result.config["num_resblocks"] == 2
    for ours in _outputs(result.output, x):
        assert (ours - rgb).abs().max().item() <= 1e-5
    training = json.loads(read_checkpoint(result.output)[1]["training"])
    assert training["imported_class"] == "network.Generator"


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")
def test_sgan_legacy_pickle_format_and_wrapper_prefix(tmp_path, monkeypatch):
    ref = _sgan_reference(seed=2, w=8, blocks=1, saliency=False)
    _save_module(ref, tmp_path / "legacy.pth", monkeypatch, _use_new_zipfile_serialization=False)
    weights = read_foreign_checkpoint(tmp_path / "legacy.pth")
    assert weights.format == "pickled_module" and "E1.conv2d.module.weight_bar" in weights.tensors
    assert "network_module.SpectralNorm" in weights.classes
    torch.save({"module." + k: v for k, v in ref.state_dict().items()}, tmp_path / "dp.pth")  # DataParallel
    result = import_checkpoint(tmp_path / "dp.pth", "sgan")
    assert result.config["saliency_decoder"] is False and result.notes
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        assert (load_checkpoint(result.output).net(x) - _first_forward(ref, x)[0]).abs().max().item() <= 1e-5


def test_sgan_keys_cover_the_reference_layout():
    ours = create_model("sgan-tiny")
    key_map = reference_key_map(ours, "sgan")
    assert set(key_map.values()) == set(Generator(w=16).state_dict())
    assert key_map["e1.1.parametrizations.weight.original"] == "E1.conv2d.module.weight_bar"
    assert (key_map["saliency.from_d1.2.2.parametrizations.weight.0._u"]
            == "SalDecoder.D1.2.conv2d.conv2d.module.weight_u")


def test_sgan_without_spectral_norm_round_trips_through_the_reference_names(tmp_path):
    torch.manual_seed(3)
    ours = create_model("sgan-tiny", width=8, num_resblocks=1, spectral_norm=False).eval()
    key_map = reference_key_map(ours, "sgan")
    torch.save({key_map[k]: v for k, v in ours.state_dict().items()}, tmp_path / "plain.pth")
    result = import_checkpoint(tmp_path / "plain.pth", "sgan")
    assert result.config["spectral_norm"] is False
    x = torch.rand(1, 4, 16, 24)
    with torch.no_grad():
        assert torch.equal(load_checkpoint(result.output).net(x), ours(x))


def test_plain_safetensors_in_the_reference_layout_imports(tmp_path):
    ref = _sgan_reference(w=8, blocks=1)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "g.safetensors"))
    result = import_checkpoint(tmp_path / "g.safetensors", "sgan", tmp_path / "ours.safetensors")
    assert result.source_format == "safetensors"
    with pytest.raises(CheckpointError, match="already a rawcolour checkpoint"):
        import_checkpoint(result.output, "sgan", tmp_path / "again.safetensors")


# ------------------------------------------------------------------ files that try to run code


class _RunsShell:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class _Evals:
    def __reduce__(self):
        return (builtins.eval, ("__import__('os').system('echo pwned')",))


def test_pickle_calling_os_system_is_refused_and_nothing_runs(tmp_path):
    side_effect = tmp_path / "pwned"
    torch.save({"E1.conv2d.weight": torch.zeros(1), "x": _RunsShell(side_effect)}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(tmp_path / "evil.pth", "sgan")
    text = str(err.value)
    assert f"{os.system.__module__}.system" in text and "evil.pth" in text and "refusing" in text
    assert not side_effect.exists()
    assert not (tmp_path / "evil.safetensors").exists()


def test_pickle_calling_builtins_eval_is_refused(tmp_path):
    torch.save([_Evals()], tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match=r"builtins\.eval"):
        read_foreign_checkpoint(tmp_path / "evil.pth")


def test_raw_pickle_stream_is_refused(tmp_path):
    target = tmp_path / "pwned"
    (tmp_path / "raw.pth").write_bytes(f"cos\nsystem\n(S'echo pwned > {target}'\ntR.".encode())
    with pytest.raises(CheckpointError, match=r"os\.system"):
        read_foreign_checkpoint(tmp_path / "raw.pth")
    assert not target.exists()


def test_calling_an_unknown_class_or_function_is_refused(tmp_path, monkeypatch):
    evilpkg = types.ModuleType("evilpkg")
    calls = []

    def run(arg):  # would run if the loader imported and called it
        calls.append(arg)

    run.__module__, run.__qualname__ = "evilpkg", "run"
    evilpkg.run = run

    class Sneaky:
        def __reduce__(self):
            return (run, ("boom",))

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "evilpkg", evilpkg)
        torch.save({"w": Sneaky()}, tmp_path / "sneaky.pth")
    with pytest.raises(CheckpointError, match=r"calls evilpkg\.run"):
        read_foreign_checkpoint(tmp_path / "sneaky.pth")
    assert calls == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_refused(tmp_path):
    torch.jit.save(torch.jit.script(nn.Conv2d(1, 1, 1)), str(tmp_path / "ts.pth"))
    with pytest.raises(CheckpointError, match="TorchScript"):
        read_foreign_checkpoint(tmp_path / "ts.pth")


# ------------------------------------------------------------------ wrong files, missing keys, outputs


def test_wrong_arch_says_which_one_to_use(tmp_path):
    torch.save(_pix2pix_reference().state_dict(), tmp_path / "p.pth")
    torch.save(_sgan_reference(w=8, blocks=1).state_dict(), tmp_path / "s.pth")
    with pytest.raises(CheckpointError, match="use --arch pix2pix"):
        import_checkpoint(tmp_path / "p.pth", "sgan")
    with pytest.raises(CheckpointError, match="use --arch sgan"):
        import_checkpoint(tmp_path / "s.pth", "pix2pix")
    torch.save({"a.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a .*RAW2RGB-GAN"):
        import_checkpoint(tmp_path / "other.pth", "sgan")
    with pytest.raises(UsageError):
        import_checkpoint(tmp_path / "other.pth", "cyclegan")


def test_missing_unexpected_and_misshaped_tensors(tmp_path):
    state = _sgan_reference(w=8, blocks=1).state_dict()
    broken = {k: v for k, v in state.items() if k != "D2.conv2d.conv2d.module.weight_bar"}
    torch.save(broken, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"missing .*D2\.conv2d\.conv2d\.module\.weight_bar"):
        import_checkpoint(tmp_path / "missing.pth", "sgan")
    torch.save({**state, "D5.conv2d.module.weight_bar": torch.zeros(3)}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"no place .*D5\.conv2d"):
        import_checkpoint(tmp_path / "extra.pth", "sgan")
    bad = dict(state)
    bad["D1.conv2d.conv2d.module.weight_bar"] = torch.zeros(32, 60, 3, 3)
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="shape"):
        import_checkpoint(tmp_path / "shape.pth", "sgan")
    with pytest.raises(CheckpointError, match="no such file"):
        import_checkpoint(tmp_path / "absent.pth", "sgan")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        import_checkpoint(tmp_path / "empty.pth", "sgan")


def test_never_overwrites_the_input_or_an_existing_output_without_force(tmp_path):
    state = _sgan_reference(w=8, blocks=1).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "g.safetensors"))
    before = (tmp_path / "g.safetensors").read_bytes()
    with pytest.raises(OutputError, match="overwrite the input"):
        import_checkpoint(tmp_path / "g.safetensors", "sgan", force=True)
    assert (tmp_path / "g.safetensors").read_bytes() == before
    torch.save(state, tmp_path / "g.pth")
    with pytest.raises(OutputError, match="--force"):
        import_checkpoint(tmp_path / "g.pth", "sgan", tmp_path / "g.safetensors")
    result = import_checkpoint(tmp_path / "g.pth", "sgan", tmp_path / "g.safetensors", force=True, name="zyz987")
    assert result.name == "zyz987" and load_checkpoint(result.output).name == "zyz987"


# ------------------------------------------------------------------ CLI


def test_cli_import_json_and_refusal(tmp_path, monkeypatch):
    ref = _sgan_reference(w=8, blocks=1)
    _save_module(ref, tmp_path / "zyz987.pth", monkeypatch)
    result = runner.invoke(models_app, ["import", str(tmp_path / "zyz987.pth"), "--arch", "sgan", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["output"] == str(tmp_path / "zyz987.safetensors") and record["source_format"] == "pickled_module"
    again = runner.invoke(models_app, ["import", str(tmp_path / "zyz987.pth"), "--arch", "sgan"])
    assert again.exit_code == 1 and "--force" in again.output
    forced = runner.invoke(models_app, ["import", str(tmp_path / "zyz987.pth"), "--arch", "sgan", "--force"])
    assert forced.exit_code == 0 and "zyz987.safetensors" in forced.stdout

    side_effect = tmp_path / "pwned"
    torch.save(_RunsShell(side_effect), tmp_path / "evil.pth")
    refused = runner.invoke(models_app, ["import", str(tmp_path / "evil.pth"), "--arch", "pix2pix"])
    assert refused.exit_code == 1 and "refusing" in refused.output and "evil.pth" in refused.output
    assert "Traceback" not in refused.output and not side_effect.exists()
    bad_arch = runner.invoke(models_app, ["import", str(tmp_path / "evil.pth"), "--arch", "cyclegan"])
    assert bad_arch.exit_code == 2


@pytest.mark.parametrize("make, words", [
    (lambda p: torch.save({"w": torch.zeros(2)}, p), "it looks like a zip archive, as torch.save writes"),
    (lambda p: torch.save({"w": torch.zeros(2)}, p, _use_new_zipfile_serialization=False),
     "it looks like a pickle, as old torch.save writes"),
    (lambda p: p.write_bytes(b"\x12\x34" * 50), "it does not start with a safetensors header"),
], ids=["zip", "pickle", "garbage"])
def test_a_file_named_safetensors_that_is_not_says_so(tmp_path, make, words):
    # torch.load hands any *.safetensors to safetensors: it said "PyTorch checkpoint (SafetensorError: header too large)"
    path = tmp_path / "renamed.safetensors"
    make(path)
    with pytest.raises(CheckpointError, match=f"^{path}: not a safetensors file, whatever its name: {words}; ") as err:
        read_foreign_checkpoint(path)
    assert "SafetensorError" not in str(err.value)


def test_a_pickle_claiming_a_terabyte_is_one_clear_line(tmp_path):
    path = tmp_path / "big.pth"
    path.write_bytes(b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"abc")  # BINBYTES8 of 1 TiB
    with pytest.raises(CheckpointError, match=f"^{path}: not a readable PyTorch checkpoint \\(it claims more data "
                                              "than there is memory for") as err:
        read_foreign_checkpoint(path)
    assert "MemoryError" not in str(err.value) and "\n" not in str(err.value)
