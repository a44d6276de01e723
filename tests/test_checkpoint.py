"""Checkpoints: bit-exact round trips, folding for inference, and one clear error per bad file."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from rawcolour import checkpoint, registry
from rawcolour.checkpoint import checkpoint_metadata, load_checkpoint, load_discriminator, load_model, save_checkpoint
from rawcolour.errors import CheckpointError, MissingWeightsError, UnknownModelError
from rawcolour.registry import NetSpec

LEARNED = [n for n in registry.list_models() if registry.get_spec(n).learned]


def small(net: NetSpec) -> NetSpec:
    """The same architecture, norms and SN at a fraction of the width, for fast tests."""
    c = net.config
    if net.arch == "colorgan_unet":
        c = dataclasses.replace(c, encoder_widths=tuple(max(4, w // 16) for w in c.encoder_widths),
                                decoder_widths=tuple(max(4, w // 16) for w in c.decoder_widths))
    elif net.arch == "pix2pix_unet":
        c = dataclasses.replace(c, ngf=4)
    elif net.arch == "sgan_generator":
        c = dataclasses.replace(c, width=8)
    elif net.arch == "patchgan":
        c = dataclasses.replace(c, ndf=8)
    elif net.arch == "sgan_discriminator":
        c = dataclasses.replace(c, width=8)
    return NetSpec(net.arch, c)


def trained_a_little(net: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """A few train-mode forwards: batch-norm running stats and SN vectors move away from their init."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(x + 0.1 * torch.randn_like(x))
    return net.eval()


def example_input(spec: registry.ModelSpec, batch: int = 2) -> torch.Tensor:
    side = max(spec.policy.size_multiple, spec.policy.min_size)
    torch.manual_seed(0)
    return torch.rand(batch, len(spec.io.input_channels), side, side) * 2 - 1


@pytest.fixture
def saved(tmp_path):
    """Save a small `sgan` (SN + instance norm + saliency) with its discriminator."""
    spec = registry.get_spec("sgan")
    gen_spec, disc_spec = small(spec.generator), small(spec.discriminator)
    gen, disc = gen_spec.build(), disc_spec.build()
    path = save_checkpoint(tmp_path / "m.safetensors", gen, checkpoint_metadata(spec, gen_spec),
                           discriminator=disc, discriminator_spec=disc_spec)
    return path, gen, disc


@pytest.mark.parametrize("name", LEARNED)
def test_round_trip_is_bit_exact_and_folding_keeps_outputs(name, tmp_path):
    spec = registry.get_spec(name)
    gen_spec = small(spec.generator)
    x = example_input(spec)
    net = trained_a_little(gen_spec.build(), x)
    path = save_checkpoint(tmp_path / f"{name}.safetensors", net, checkpoint_metadata(spec, gen_spec))

    plain = load_checkpoint(path, for_inference=False)
    assert plain.name == name and plain.task == spec.task
    assert plain.io == spec.io and plain.policy == spec.policy
    original, loaded = net.state_dict(), plain.net.state_dict()
    assert original.keys() == loaded.keys()
    for k in original:
        assert torch.equal(original[k], loaded[k]), k
    with torch.no_grad():
        expected = net(x)
        assert torch.equal(plain.net.eval()(x), expected)
        folded = load_checkpoint(path, for_inference=True).net
        assert not folded.training
        assert (folded(x) - expected).abs().max() <= 1e-5
    params = dict(folded.named_parameters())
    assert not any("parametrizations" in k for k in params), "spectral norm was not folded"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()), "BN was not folded"


def test_metadata_describes_the_model(saved):
    path, _, _ = saved
    _, meta = checkpoint.read_checkpoint(path)
    assert meta["name"] == "sgan" and meta["task"] == "raw2rgb" and meta["arch"] == "sgan_generator"
    assert json.loads(meta["config"])["width"] == 8
    io = json.loads(meta["io"])
    assert io["cfa_order"] == ["R", "Gr", "B", "Gb"] and "black" in io["level_normalisation"]
    assert meta["rawcolour_version"]


def test_discriminator_round_trip(saved):
    path, _, disc = saved
    loaded = load_discriminator(path)
    for k, v in disc.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_saliency_decoder_is_kept_but_not_run(saved):
    path, _, _ = saved
    net = load_checkpoint(path).net
    calls = []
    net.saliency.register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        net(x)
        assert calls == []
        rgb, sal = net(x, return_saliency=True)
    assert calls == [1] and sal.shape == (1, 1, 16, 16)


def test_fp16_file_loads_as_float32(tmp_path):
    spec = registry.get_spec("sgan-tiny")
    gen_spec = small(spec.generator)
    net = gen_spec.build().eval()
    path = save_checkpoint(tmp_path / "half.safetensors", net, checkpoint_metadata(spec, gen_spec),
                           dtype=torch.float16)
    assert all(t.dtype == torch.float16 for t in load_file(str(path)).values() if t.is_floating_point())
    loaded = load_checkpoint(path, for_inference=False).net
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for k, v in net.state_dict().items():
        assert torch.allclose(loaded.state_dict()[k], v, atol=1e-3, rtol=1e-3), k


# ------------------------------------------------------------------------------------ bad files


def expect_error(path, match):
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value), "the message must name the file"
    assert "\n" not in str(info.value)


def test_pickle_is_refused_with_import_hint(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save({"w": torch.zeros(1)}, path)
    expect_error(path, "models import")


def test_empty_and_random_and_truncated_files(saved, tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    expect_error(empty, "too short")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x12\x34" * 100)
    expect_error(garbage, "not a readable safetensors")
    path, _, _ = saved
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    expect_error(cut, "not a readable safetensors")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.safetensors", "no such")


def _rewrite(path, out, tensors=None, **meta_changes):
    tensors_, meta = checkpoint.read_checkpoint(path)
    meta.update(meta_changes)
    save_file(tensors if tensors is not None else tensors_, str(out), metadata=meta)
    return out


def test_foreign_safetensors_without_metadata(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    expect_error(path, "without rawcolour metadata")


def test_unknown_architecture(saved, tmp_path):
    path, _, _ = saved
    expect_error(_rewrite(path, tmp_path / "arch.safetensors", arch="resnet9000"), "unknown architecture")


def test_config_that_does_not_fit(saved, tmp_path):
    path, _, _ = saved
    cfg = json.loads(checkpoint.read_checkpoint(path)[1]["config"])
    expect_error(_rewrite(path, tmp_path / "shape.safetensors", config=json.dumps({**cfg, "width": 16})), "shape")
    expect_error(_rewrite(path, tmp_path / "field.safetensors", config=json.dumps({**cfg, "depth": 3})), "config")


def test_missing_tensor(saved, tmp_path):
    path, _, _ = saved
    tensors, _ = checkpoint.read_checkpoint(path)
    del tensors[sorted(k for k in tensors if not k.startswith("discriminator."))[0]]
    expect_error(_rewrite(path, tmp_path / "missing.safetensors", tensors=tensors), "missing")


def test_weights_that_are_not_numbers_are_refused(saved, tmp_path):
    # a run that diverged saves NaN weights; run, they turn every picture black without a word
    path, _, _ = saved
    tensors, _ = checkpoint.read_checkpoint(path)
    key = sorted(k for k in tensors if not k.startswith("discriminator.") and tensors[k].is_floating_point())[-1]
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("nan")
    expect_error(_rewrite(path, tmp_path / "nan.safetensors", tensors=tensors), "NaN or infinite")
    tensors[key].view(-1)[0] = float("inf")
    expect_error(_rewrite(path, tmp_path / "inf.safetensors", tensors=tensors), "NaN or infinite")


@pytest.mark.parametrize("kind", ["bool", "int32", "complex64", "float8_e4m3fn"])
def test_weights_that_are_not_floating_point_are_refused(saved, tmp_path, kind):
    # cast weights compute garbage (bool, integers, complex's real part) or crash (float8's isfinite)
    path, _, _ = saved
    tensors, _ = checkpoint.read_checkpoint(path)
    dtype = getattr(torch, kind)
    if kind == "int32":
        cast = {k: (v * 1000).to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    elif kind == "complex64":
        cast = {k: torch.complex(v, v) if v.is_floating_point() else v for k, v in tensors.items()}
    else:
        cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    bad = _rewrite(path, tmp_path / f"{kind}.safetensors", tensors=cast)
    expect_error(bad, rf"tensor \S+ is {kind}; a network's weights are floating point")
    with pytest.raises(CheckpointError, match=f"is {kind}"):
        load_discriminator(bad)


def test_load_state_refuses_integer_weights_in_memory(saved):
    # a resume file's state dict never passes the file header's check
    path, gen, _ = saved
    state = {k: v.to(torch.int64) if v.is_floating_point() else v for k, v in gen.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"is int64; a network's weights are floating point"):
        checkpoint.load_state(gen, state, path)


def test_an_unknown_task_in_the_metadata_is_named_as_such(saved, tmp_path):
    # it said "model 'sgan' is a nonsense model ...; use `rawcolour nonsense`", a command that does not exist
    path, _, _ = saved
    expect_error(_rewrite(path, tmp_path / "task.safetensors", task="nonsense"),
                 "the checkpoint's metadata names an unknown task 'nonsense'; its task must be colourise or raw2rgb")


def test_a_checkpoint_of_the_other_task_is_named_by_its_file(tmp_path):
    import numpy as np

    from rawcolour.errors import UsageError
    from rawcolour.inference.pipelines import colourise_image

    spec = registry.get_spec("sgan-tiny")
    path = save_checkpoint(tmp_path / "mine.safetensors", small(spec.generator).build(),
                           checkpoint_metadata(spec, small(spec.generator)))
    with pytest.raises(UsageError, match=f"^{path}: model 'sgan-tiny' is a raw2rgb model, not a colourise one"):
        colourise_image(load_model(path), np.zeros((16, 16), np.uint8))


def test_wrapper_prefixes_are_stripped(tmp_path):
    spec = registry.get_spec("sgan-tiny")
    gen_spec = small(spec.generator)
    net = gen_spec.build()
    tensors = {"module." + k: v.contiguous() for k, v in net.state_dict().items()}
    path = tmp_path / "ddp.safetensors"
    save_file(tensors, str(path), metadata=checkpoint_metadata(spec, gen_spec))
    loaded = load_checkpoint(path, for_inference=False).net
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


# ------------------------------------------------------------------------------------ load_model


def test_load_model_baselines_have_no_network():
    for name in ("grey", "classic"):
        loaded = load_model(name)
        assert loaded.net is None and loaded.task == registry.get_spec(name).task


def test_load_model_without_weights(monkeypatch):
    monkeypatch.setattr(checkpoint, "weights_path", lambda name: None)
    with pytest.raises(MissingWeightsError, match="sgan"):
        load_model("sgan")
    fresh = load_model("sgan-tiny", allow_random=True)
    assert fresh.net is not None and fresh.source is None


def test_load_model_by_path_and_unknown_name(saved):
    path, _, _ = saved
    loaded = load_model(str(path))
    assert loaded.source == path and len(loaded.sha256) == 64
    with pytest.raises(UnknownModelError, match="sgan-tiny"):
        load_model("sgan-tinny")
