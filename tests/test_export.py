"""ONNX export (rawcolour.export, `rawcolour models export`): dynamic batch/H/W, parity with onnxruntime."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rawcolour.checkpoint import checkpoint_metadata, load_checkpoint, save_checkpoint
from rawcolour.cli.models import app as models_app
from rawcolour.errors import MissingWeightsError, OutputError, UsageError
from rawcolour.export import export_onnx
from rawcolour.nets import init_weights
from rawcolour.registry import get_spec

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

runner = CliRunner()


def _random_checkpoint(path, name: str, seed: int = 0):
    """A randomly initialised (non-trivial BN statistics) checkpoint of a registry model."""
    torch.manual_seed(seed)
    spec = get_spec(name)
    net = init_weights(spec.build_generator(), std=0.1)
    with torch.no_grad():  # SN power iterations and BN running statistics move away from their init
        net.train()
        side = max(spec.policy.min_size, 64)
        x = torch.randn(2, spec.generator.config.in_channels, side, side)
        net(x)
    return save_checkpoint(path, net, checkpoint_metadata(spec))


@pytest.fixture(scope="module")
def sgan_export(tmp_path_factory):
    """sgan-tiny exported once through the CLI (the export itself checks onnxruntime against PyTorch)."""
    d = tmp_path_factory.mktemp("export")
    ckpt = _random_checkpoint(d / "sgan-tiny.safetensors", "sgan-tiny")
    out = d / "sgan-tiny.onnx"
    result = runner.invoke(models_app, ["export", str(ckpt), "--onnx", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return ckpt, out, json.loads(result.stdout)


def _run(session, x: torch.Tensor) -> np.ndarray:
    return session.run(["output"], {"input": x.numpy()})[0]


def test_export_record_and_graph_interface(sgan_export):
    _, out, record = sgan_export
    assert record["path"] == str(out) and record["task"] == "raw2rgb"
    assert record["size_multiple"] == 8 and record["max_abs_diff"] <= 1e-4
    model = onnx.load(str(out))
    (inp,), outputs = model.graph.input, model.graph.output
    assert len(outputs) == 1  # RGB only: the saliency decoder is not exported
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[1] == 4 and all(isinstance(d, str) and d for d in (dims[0], dims[2], dims[3]))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["name"] == "sgan-tiny" and meta["task"] == "raw2rgb"
    assert json.loads(meta["io"])["input_channels"] == ["R", "Gr", "B", "Gb"]
    assert len(meta["source_sha256"]) == 64


def test_onnxruntime_matches_pytorch_at_two_sizes_and_batches(sgan_export):
    ckpt, out, _ = sgan_export
    net = load_checkpoint(ckpt).net
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    torch.manual_seed(1)
    for shape in [(1, 4, 16, 24), (3, 4, 40, 32)]:
        x = torch.rand(shape) * 2 - 1
        with torch.no_grad():
            expected = net(x).numpy()
        got = _run(session, x)
        assert got.shape == expected.shape == (shape[0], 3, *shape[2:])
        assert np.abs(got - expected).max() <= 1e-4


def test_colouriser_export_matches_pytorch(tmp_path):
    ckpt = _random_checkpoint(tmp_path / "c.safetensors", "colorgan-tiny", seed=2)
    result = export_onnx(ckpt, tmp_path / "c.onnx")
    assert result.size_multiple == 128 and result.min_side == 256 and result.max_abs_diff <= 1e-4
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    net = load_checkpoint(ckpt).net
    x = torch.rand(2, 1, 256, 512) * 2 - 1
    with torch.no_grad():
        expected = net(x).numpy()
    assert np.abs(_run(session, x) - expected).max() <= 1e-4


def test_refusals_write_nothing(tmp_path, sgan_export):
    ckpt, out, _ = sgan_export
    before = out.read_bytes()
    with pytest.raises(OutputError, match="--force"):
        export_onnx(ckpt, out)
    assert out.read_bytes() == before
    with pytest.raises(UsageError, match="baseline"):
        export_onnx("grey", tmp_path / "grey.onnx")
    with pytest.raises(MissingWeightsError):
        export_onnx("sgan", tmp_path / "sgan.onnx")
    assert not list(tmp_path.iterdir())
    checkpoint = ckpt.read_bytes()
    os.link(ckpt, tmp_path / "hard-link.onnx")  # the checkpoint under another name
    for target in (ckpt, tmp_path / "hard-link.onnx"):
        with pytest.raises(OutputError, match="would overwrite the model's own checkpoint"):
            export_onnx(ckpt, target, force=True)
    assert ckpt.read_bytes() == checkpoint


def test_cli_export_errors(tmp_path, sgan_export):
    ckpt, out, _ = sgan_export
    exists = runner.invoke(models_app, ["export", str(ckpt), "--onnx", str(out)])
    assert exists.exit_code == 1 and "--force" in exists.output
    baseline = runner.invoke(models_app, ["export", "classic", "--onnx", str(tmp_path / "c.onnx")])
    assert baseline.exit_code == 2 and "baseline" in baseline.output
    missing = runner.invoke(models_app, ["export", str(tmp_path / "nope.safetensors"),
                                         "--onnx", str(tmp_path / "n.onnx")])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
