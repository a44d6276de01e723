"""The onnxruntime backend (rawcolour.inference.onnx_backend): the same pictures as torch, chosen
where it applies, refused in one line where it cannot run, and its graph cached on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from rawcolour import export  # noqa: E402
from rawcolour.checkpoint import load_model  # noqa: E402
from rawcolour.cli.main import app  # noqa: E402
from rawcolour.errors import RawcolourError, UsageError  # noqa: E402
from rawcolour.inference import onnx_backend  # noqa: E402
from rawcolour.inference.device import prepare_net  # noqa: E402
from rawcolour.inference.onnx_backend import cache_path, choose_backend, onnx_net  # noqa: E402
from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb  # noqa: E402
from rawcolour.inference.tiling import run_tiled  # noqa: E402
from rawcolour.io.raw import RawPicture  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def developer():
    """The shipped default developer (no per-picture norm statistics), loaded once."""
    return load_model("sgan-isp-tiny")


@pytest.fixture(scope="module")
def graph(developer) -> bytes:
    """Its exported graph, as the backend caches it (exported once for the whole run)."""
    onnx_net(developer)
    return cache_path(developer).read_bytes()


@pytest.fixture()
def counted_export(monkeypatch, graph):
    """export_onnx replaced by a copy of the real graph that counts its calls (the cache's logic
    without the cost of tracing the net again)."""
    calls = []

    def fake(model, output, **kw):
        calls.append(model.name)
        Path(output).write_bytes(graph)
        return type("Exported", (), {"path": Path(output)})()

    monkeypatch.setattr(export, "export_onnx", fake)
    return calls


def _packed(h: int = 40, w: int = 56, seed: int = 0) -> RawPicture:
    return RawPicture(packed=np.random.default_rng(seed).random((4, h, w), dtype=np.float32))


# ------------------------------------------------------------------------------------ same pictures


@pytest.mark.parametrize("tile", [None, 32])
def test_matches_torch(developer, tile):
    x = torch.from_numpy(np.random.default_rng(1).random((4, 40, 56), dtype=np.float32)) * 2 - 1
    net = prepare_net(developer.net, CPU)
    kw = dict(out_channels=3, tile=tile, overlap=8, size_multiple=8, scale=2, whole_if_fits=False)
    by_torch = run_tiled(net, x, **kw).output
    by_session = run_tiled(net, x, forward=onnx_net(developer), **kw)
    assert by_session.tile == tile
    assert np.abs(by_session.output - by_torch).max() < 1e-4


def test_pipeline_records_the_backend(developer, monkeypatch):
    raw = _packed()
    calls = []
    session_call = onnx_backend.OnnxNet.__call__
    monkeypatch.setattr(onnx_backend.OnnxNet, "__call__",
                        lambda self, x: calls.append(x.shape) or session_call(self, x))
    ran = {"torch": raw_to_rgb(developer, raw, InferenceOptions(backend="torch", tile=0))}
    assert calls == []
    ran["auto"] = raw_to_rgb(developer, raw, InferenceOptions(backend="auto", tile=0))
    assert len(calls) == 1  # the picture went through the session, not the torch net
    assert ran["torch"].backend == "torch" and ran["auto"].backend == "onnxruntime"
    assert ran["auto"].to_json()["backend"] == "onnxruntime"
    assert np.abs(ran["auto"].rgb - ran["torch"].rgb).max() < 1e-4


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident size from /proc")
def test_a_batch_of_same_size_pictures_does_not_grow_memory(developer):
    # A batch runs the session once per picture. With onnxruntime's memory pattern on, the second
    # run of a shape allocates its whole plan again beside the arena (a folder of 12 MP files used
    # 1.7x one file's memory); each run after the first must find its memory already there.
    net, x = onnx_net(developer), torch.rand(1, 4, 512, 768)
    before = _resident_mb()
    net(x)
    first = _resident_mb()
    net(x)
    net(x)
    assert _resident_mb() - first < 0.25 * (first - before)


# ------------------------------------------------------------------------------------ which backend


def test_auto_picks_onnxruntime_only_where_it_is_exact(developer):
    assert choose_backend("auto", developer, CPU, torch.float32) == "onnxruntime"
    assert choose_backend("torch", developer, CPU, torch.float32) == "torch"
    for dtype in (torch.float16, torch.bfloat16):
        assert choose_backend("auto", developer, CPU, dtype) == "torch"
    assert choose_backend("auto", developer, torch.device("cuda"), torch.float32) == "torch"
    normed = load_model("sgan-tiny", allow_random=True)  # instance norms: statistics of each picture
    assert choose_backend("auto", normed, CPU, torch.float32) == "torch"
    with pytest.raises(UsageError, match="statistics of each picture"):
        choose_backend("onnxruntime", normed, CPU, torch.float32)


def test_cli_refuses_onnxruntime_in_one_line(tmp_path, models):
    picture = tmp_path / "packed.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 48, 4)).astype(np.uint8), "RGBA").save(picture)
    runner = CliRunner()
    for args, why in ((["--model", str(models["sgan-tiny"])], "statistics of each picture"),
                      (["--precision", "fp16"], "fp32 only, not fp16")):
        result = runner.invoke(app, ["raw2rgb", str(picture), "-o", str(tmp_path / "out"), "--backend", "onnxruntime",
                                     *args])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--backend onnxruntime cannot run here" in lines[0] and why in lines[0]
        assert not (tmp_path / "out").exists()


def test_auto_falls_back_to_torch_when_the_export_fails(monkeypatch, tmp_path):
    tries = []

    def broken(model, output, **kw):
        tries.append(model.name)
        raise RawcolourError("ONNX export failed (test)")

    monkeypatch.setenv("RAWCOLOUR_CACHE", str(tmp_path))
    monkeypatch.setattr(export, "export_onnx", broken)
    model = load_model("sgan-isp-tiny")
    for seed in (0, 1):  # two pictures of a batch: the export is tried once
        result = raw_to_rgb(model, _packed(seed=seed), InferenceOptions(tile=0))
        assert result.backend == "torch" and any("onnxruntime could not run" in n for n in result.notes)
    assert tries == ["sgan-isp-tiny"]
    with pytest.raises(RawcolourError, match="export failed"):
        raw_to_rgb(model, _packed(), InferenceOptions(backend="onnxruntime", tile=0))


# ------------------------------------------------------------------------------------ the cache


def test_second_load_uses_the_cache(monkeypatch, tmp_path, counted_export):
    monkeypatch.setenv("RAWCOLOUR_CACHE", str(tmp_path / "cache"))
    first = load_model("sgan-isp-tiny")
    onnx_net(first)
    path = cache_path(first)
    assert counted_export == ["sgan-isp-tiny"] and path.parent == tmp_path / "cache" and path.is_file()
    stamp = path.stat().st_mtime_ns
    again = load_model("sgan-isp-tiny")  # a new net: not the session kept for the first
    assert onnx_net(again) is not onnx_net(first)
    assert counted_export == ["sgan-isp-tiny"] and path.stat().st_mtime_ns == stamp


def test_a_net_changed_in_place_is_exported_again(monkeypatch, tmp_path, counted_export):
    monkeypatch.setenv("RAWCOLOUR_CACHE", str(tmp_path))
    model = load_model("sgan-isp-tiny")
    onnx_net(model)
    with torch.no_grad():
        next(model.net.parameters()).add_(1.0)  # trained further, say: the file's graph is not this net
    onnx_net(model)
    assert counted_export == ["sgan-isp-tiny", "sgan-isp-tiny"]


def test_a_net_changed_before_its_first_session_does_not_get_the_files_graph(monkeypatch, tmp_path, counted_export):
    monkeypatch.setenv("RAWCOLOUR_CACHE", str(tmp_path))
    onnx_net(load_model("sgan-isp-tiny"))
    edited = load_model("sgan-isp-tiny")
    with torch.no_grad():
        next(edited.net.parameters()).mul_(0.5)  # e.g. other weights loaded into it after load_model
    assert cache_path(edited) != cache_path(load_model("sgan-isp-tiny"))
    onnx_net(edited)
    assert counted_export == ["sgan-isp-tiny", "sgan-isp-tiny"]


def test_a_failing_run_is_one_line():
    class Broken:
        def get_inputs(self):
            return [type("Arg", (), {"name": "input"})()]

        get_outputs = get_inputs

        def run(self, names, feed):
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code\nmore detail")

    with pytest.raises(RawcolourError) as caught:
        onnx_backend.OnnxNet(Broken())(torch.zeros(1, 4, 8, 8))
    assert "\n" not in str(caught.value) and "RUNTIME_EXCEPTION" in str(caught.value)


def test_a_corrupt_cache_file_is_replaced(monkeypatch, tmp_path, counted_export, graph):
    monkeypatch.setenv("RAWCOLOUR_CACHE", str(tmp_path))
    model = load_model("sgan-isp-tiny")
    path = cache_path(model)
    path.write_bytes(graph[: len(graph) // 3])  # cut short, as by a full disk in another program
    x = torch.zeros(1, 4, 16, 24)
    assert onnx_net(model)(x).shape == (1, 3, 32, 48)
    assert counted_export == ["sgan-isp-tiny"] and path.read_bytes() == graph


def test_an_unwritable_cache_still_converts(monkeypatch, tmp_path, counted_export, developer):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RAWCOLOUR_CACHE", str(blocker / "cache"))  # cannot be made, even as root
    model = load_model("sgan-isp-tiny")
    result = raw_to_rgb(model, _packed(), InferenceOptions(tile=0))
    assert result.backend == "onnxruntime" and counted_export == ["sgan-isp-tiny"]
    assert not (blocker / "cache").exists()
    expected = raw_to_rgb(developer, _packed(), InferenceOptions(backend="torch", tile=0))
    assert np.abs(result.rgb - expected.rgb).max() < 1e-4


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("RAWCOLOUR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert onnx_backend.cache_folder() == tmp_path / "rawcolour"
    monkeypatch.setenv("RAWCOLOUR_CACHE", str(tmp_path / "mine"))
    assert onnx_backend.cache_folder() == tmp_path / "mine"
    monkeypatch.delenv("RAWCOLOUR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # as a missing $HOME would give: no cache in the cwd
    assert onnx_backend.cache_folder() is None
