"""Throughput without changing results: the overlapped batch (rawcolour.batch.pipeline), the classic
baseline's output codes made without a float picture (the same as the float path's), and commands
that start without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rawcolour.batch.pipeline import run_pipelined
from rawcolour.io import files

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
WAIT = 60  # seconds an event may take on a loaded machine before the test calls it missing


# ------------------------------------------------------------------------------------------ pipeline


class Stages:
    """Stage functions that log what ran where, and count the items in each stage at once."""

    def __init__(self, fail: dict[str, int] | None = None):
        self.fail = fail or {}
        self.lock = threading.Lock()
        self.inside = {"load": 0, "develop": 0, "finish": 0}
        self.most = dict(self.inside)
        self.alive = self.most_alive = 0  # items loaded and not yet finished
        self.started = {stage: {} for stage in self.inside}  # stage -> item -> Event
        self.threads: dict[str, set[str]] = {stage: set() for stage in self.inside}

    def event(self, stage: str, item: int) -> threading.Event:
        with self.lock:
            return self.started[stage].setdefault(item, threading.Event())

    def _enter(self, stage: str, item: int) -> None:
        with self.lock:
            self.inside[stage] += 1
            self.most[stage] = max(self.most[stage], self.inside[stage])
            self.threads[stage].add(threading.current_thread().name)
        self.event(stage, item).set()

    def _leave(self, stage: str, item: int) -> None:
        with self.lock:
            self.inside[stage] -= 1
        if self.fail.get(stage) == item:
            raise ValueError(f"{stage} failed on {item}")

    def load(self, item: int) -> int:
        self._enter("load", item)
        with self.lock:
            self.alive += 1
            self.most_alive = max(self.most_alive, self.alive)
        self._leave("load", item)
        return item * 10

    def develop(self, item: int, value: int) -> int:
        self._enter("develop", item)
        # overlap, shown without timing: the next item's load and the previous one's finish run now
        if item + 1 < 6:
            assert self.event("load", item + 1).wait(WAIT), "the next item was not loaded meanwhile"
        if item > 0 and self.fail.get("load") != item - 1 and self.fail.get("develop") != item - 1:
            assert self.event("finish", item - 1).wait(WAIT), "the previous item was not finished meanwhile"
        self._leave("develop", item)
        return value + 1

    def finish(self, item: int, value: int) -> int:
        self._enter("finish", item)
        self._leave("finish", item)
        with self.lock:
            self.alive -= 1
        return value * 2


def test_pipeline_overlaps_stages_keeps_order_and_one_item_per_stage():
    stages = Stages()
    outcomes = list(run_pipelined(list(range(6)), stages.load, stages.develop, stages.finish))
    assert [o.item for o in outcomes] == list(range(6))
    assert [o.value for o in outcomes] == [(i * 10 + 1) * 2 for i in range(6)]
    assert all(o.error is None and set(o.stages) == {"load", "develop", "finish"} for o in outcomes)
    assert stages.most == {"load": 1, "develop": 1, "finish": 1}
    assert stages.most_alive <= 3  # one loaded, one developing, one finishing: memory does not grow
    assert stages.threads["develop"] == {threading.current_thread().name}  # the network's thread is the caller's
    assert threading.current_thread().name not in stages.threads["load"] | stages.threads["finish"]


@pytest.mark.parametrize("stage", ["load", "develop", "finish"])
def test_pipeline_error_ends_its_item_only(stage):
    stages = Stages(fail={stage: 2})
    outcomes = list(run_pipelined(list(range(6)), stages.load, stages.develop, stages.finish))
    assert [o.item for o in outcomes] == list(range(6))
    failed = [o for o in outcomes if o.error is not None]
    assert [o.item for o in failed] == [2] and str(failed[0].error) == f"{stage} failed on 2"
    later = {"load": {"develop", "finish"}, "develop": {"finish"}, "finish": set()}[stage]
    assert not later & set(failed[0].stages)  # its later stages were skipped
    assert all(o.value == (o.item * 10 + 1) * 2 for o in outcomes if o.item != 2)


def test_pipeline_stopped_by_the_caller_abandons_a_blocked_write(tmp_path, monkeypatch):
    """Ctrl-C in the calling thread while a worker is stuck in fsync: no temporary file is left, and
    the stuck write, when it wakes, renames nothing into place."""
    release, in_fsync = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd):
        if threading.current_thread() is not threading.main_thread():
            in_fsync.set()
            release.wait(WAIT)
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", slow_fsync)
    writers: list[threading.Thread] = []

    def finish(item, value):
        writers.append(threading.current_thread())
        return files.atomic_write_bytes(tmp_path / f"{item}.bin", b"x" * 1000)

    def develop(item, value):
        if item == 1:
            assert in_fsync.wait(WAIT)  # item 0 is being written
            raise KeyboardInterrupt
        return value

    outcomes = run_pipelined([0, 1, 2], lambda item: item, develop, finish)
    with pytest.raises(KeyboardInterrupt):
        list(outcomes)
    assert os.listdir(tmp_path) == []  # the temporary file of the blocked write is gone
    release.set()
    writers[0].join(WAIT)
    assert os.listdir(tmp_path) == []  # and the write, once awake, did not land


def test_a_file_written_before_a_stop_is_reported_not_lost(tmp_path):
    # Ctrl-C while item 1 develops, after item 0's write completed but before its outcome was handed
    # over: the file is on disk, so its outcome must reach the caller (the batch's records)
    written = threading.Event()

    def finish(item, value):
        path = files.atomic_write_bytes(tmp_path / f"{item}.bin", b"x" * 1000)
        written.set()
        return path

    def develop(item, value):
        if item == 1:
            assert written.wait(WAIT)
            time.sleep(0.05)  # item 0's finish task has returned
            raise KeyboardInterrupt
        return value

    handed_over = []
    outcomes = run_pipelined([0, 1, 2], lambda item: item, develop, finish, on_stopped=handed_over.append)
    yielded = []
    with pytest.raises(KeyboardInterrupt):
        for outcome in outcomes:
            yielded.append(outcome)
    assert yielded == [] and [o.item for o in handed_over] == [0]
    assert handed_over[0].error is None and handed_over[0].value == tmp_path / "0.bin"
    assert os.listdir(tmp_path) == ["0.bin"]


# ------------------------------------------------------------------------------- classic and start-up


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory) -> Path:
    pytest.importorskip("pidng")
    from rawcolour.io.dng import write_bayer_dng
    from rawcolour.io.mosaic import unpack_bayer

    rng = np.random.default_rng(0)
    planes = rng.integers(300, 3800, (4, 40, 56)).astype(np.uint16)
    path = tmp_path_factory.mktemp("raw") / "shot.dng"
    write_bayer_dng(path, unpack_bayer(planes, "RGGB"), "RGGB", black=128, white=4095)
    return path


def cli(*args: str) -> tuple[int, bool, str]:
    """Run the command line in a fresh interpreter: (exit code, whether torch was imported, stderr)."""
    code = ("import sys\nfrom rawcolour.cli.main import app\n"
            f"try:\n    app({list(args)!r})\nexcept SystemExit as e:\n    code = e.code\n"
            "print('\\n' + repr((code, 'torch' in sys.modules)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    exit_code, torch_loaded = eval(proc.stderr.strip().splitlines()[-1])  # noqa: S307 (our own repr)
    return exit_code, torch_loaded, proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["models", "list"], ["models", "list", "--json"],
                                  ["models", "show", "sgan-isp-tiny"], ["raw2rgb", "--help"]])
def test_commands_without_a_network_start_without_torch(args):
    code, torch_loaded, stderr = cli(*args)
    assert code in (0, None) and not torch_loaded, stderr


def test_classic_batch_runs_without_torch_and_writes_the_float_paths_codes(raw_file, tmp_path):
    from rawcolour.checkpoint import load_model
    from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb
    from rawcolour.io.images import read_image
    from rawcolour.io.pixels import from_float

    out = tmp_path / "out"
    code, torch_loaded, stderr = cli("raw2rgb", str(raw_file), str(raw_file.with_name("missing.dng")),
                                     "-o", str(out), "--model", "classic", "--quiet")
    assert code == 1 and not torch_loaded, stderr  # the missing file fails alone; no torch either way
    code, torch_loaded, stderr = cli("raw2rgb", str(raw_file), "-o", str(out / "shot8.tif"), "--model", "classic",
                                     "--bit-depth", "8", "--quiet")
    assert code == 0 and not torch_loaded, stderr
    code, torch_loaded, stderr = cli("raw2rgb", str(raw_file), "-o", str(out / "wide.tif"), "--model", "classic",
                                     "--colour-space", "prophoto", "--quiet")
    assert code == 0 and not torch_loaded, stderr
    rgb = raw_to_rgb(load_model("classic"), raw_file).rgb  # the float path every model takes
    np.testing.assert_array_equal(read_image(out / "shot.png").pixels, from_float(rgb, 16))
    np.testing.assert_array_equal(read_image(out / "shot8.tif").pixels, from_float(rgb, 8))
    wide = raw_to_rgb(load_model("classic"), raw_file, InferenceOptions(colour_space="prophoto")).rgb
    np.testing.assert_array_equal(read_image(out / "wide.tif").pixels, from_float(wide, 16))


def test_registry_parameter_table_matches_the_networks():
    from rawcolour import registry

    for name in registry.list_models():
        spec = registry.get_spec(name)
        if not spec.learned:
            continue
        counted = (registry.parameter_count(spec.generator),
                   registry.parameter_count(spec.discriminator) if spec.discriminator else None)
        assert registry.PARAMETERS.get(name) == counted, \
            f'write `"{name}": ({counted[0]:_}, {counted[1]:_}),` in registry.PARAMETERS'
    assert set(registry.PARAMETERS) == {n for n in registry.list_models() if registry.get_spec(n).learned}


def test_json_records_of_the_classic_batch(raw_file, tmp_path):
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "rawcolour", "raw2rgb", str(raw_file), str(raw_file), "-o",
                           str(out), "--model", "classic", "--json", "--format", "tiff"],
                          capture_output=True, text=True, env=ENV, timeout=300)
    *recs, summary = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and summary["ok"] == 1 and len(recs) == 1, proc.stderr  # the same file once
    assert recs[0]["model"] == "classic" and recs[0]["status"] == "ok" and recs[0]["seconds"] > 0
    assert (out / "shot.tif").is_file()


def test_a_checkpoint_loaded_first_thing_builds_a_working_network(tmp_path):
    """The network modules load lazily: the first import may happen inside a meta-device build (the
    checkpoint's shape check); their constants must still be real tensors (regression: the
    developer's bilinear-demosaic kernels were created on the meta device)."""
    torch = pytest.importorskip("torch")
    from rawcolour import registry
    from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "dev.safetensors", registry.create_model("sgan-isp-tiny"),
                           checkpoint_metadata(registry.get_spec("sgan-isp-tiny")))
    code = ("import sys, torch\nfrom rawcolour.checkpoint import load_model\n"
            f"net = load_model({str(path)!r}).net\n"
            "with torch.inference_mode():\n    y = net(torch.zeros(1, 4, 16, 16))\n"
            "assert y.shape == (1, 3, 32, 32) and bool(torch.isfinite(y).all()), y.shape\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_srgb_encode_in_strips_matches_the_whole_array_formula():
    from rawcolour.camera_colour import srgb_encode

    def whole(linear):
        x = np.asarray(linear)
        x = np.clip(x.astype(np.float32) if x.dtype != np.float64 else x, 0.0, 1.0)
        return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, x.dtype.type(1 / 2.4)) - 0.055).astype(x.dtype)

    planes = np.random.default_rng(2).uniform(-0.1, 1.2, (3, 211, 347)).astype(np.float32)  # > 1 strip
    planes[0, 0, :5] = [0.0031308, np.nan, np.inf, 0.0031307, -np.inf]
    x = planes.transpose(1, 2, 0)  # the tiler's (H, W, 3) view of (3, H, W) planes
    for view in (x, x[::-1, ::2], x.astype(np.float64), x[..., 0], x.astype(np.float16), np.float32(0.5)):
        got, expected = srgb_encode(view), whole(view)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_c_stderr_silenced_keeps_what_python_prints():
    """A batch drops C libraries' own stderr lines for its whole run (files decode in worker threads;
    silencing descriptor 2 per decode would swallow the main thread's error lines meanwhile)."""
    code = ("import os, sys, threading\nfrom rawcolour.io.c_stderr import c_stderr_silenced\n"
            "with c_stderr_silenced():\n"
            "    t = threading.Thread(target=lambda: os.write(2, b'C in a worker\\n'))\n"
            "    t.start(); t.join()\n"
            "    os.write(2, b'C in main\\n')\n"
            "    with c_stderr_silenced():\n"
            "        print('python, nested', file=sys.stderr)\n"
            "    print('python', file=sys.stderr)\n"
            "os.write(2, b'C after\\n')\nprint('python after', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "python, nested\npython\nC after\npython after\n", proc.stderr
