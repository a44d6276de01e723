"""Hostile and broken inputs: each gets one clear line, a bounded cost, and nothing left behind.

One test per class of problem (issue 15), through the real CLI where a user meets it. Memory
bounds are real limits (RLIMIT_AS on the subprocess), never a reading of the code; hangs are
caught by subprocess timeouts. Fixtures are made here (pidng DNGs, numpy/Pillow pictures).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rawcolour import registry
from rawcolour.io import images
from rawcolour.checkpoint import load_model
from rawcolour.cli.main import app
from rawcolour.errors import CheckpointError, InputError, display_path
from rawcolour.io.files import atomic_write_bytes, clean_stale_temporaries
from rawcolour.io.mosaic import unpack_bayer
from rawcolour.io.raw import read_raw

pytest.importorskip("pidng")
from rawcolour.io.dng import write_bayer_dng  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534
MEMORY_LIMIT = 2 << 30  # a whole CLI run with a tiny model needs about 1.5 GB of address space


def cli(*args: str, prelude: str = "", memory: int | None = None, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess; `prelude` is Python run first (fault injection), `memory` an RLIMIT_AS."""
    cmd = [sys.executable, "-m", "rawcolour", *args]
    if prelude:
        cmd = [sys.executable, "-c", prelude + "\nimport sys\nfrom rawcolour.cli.main import run\n"
               "sys.argv = ['rawcolour'] + sys.argv[1:]\nrun()", *args]
    limit = None if memory is None else (lambda: resource.setrlimit(resource.RLIMIT_AS, (memory, memory)))
    if "stdout" not in kw and "stderr" not in kw:
        kw["capture_output"] = True
    return subprocess.run(cmd, env=ENV, timeout=timeout, preexec_fn=limit, **kw)


def one_error(run: subprocess.CompletedProcess) -> str:
    """stderr holds exactly one line, an error line, and no traceback; returns it."""
    err = run.stderr.decode()
    assert "Traceback" not in err and "Warning" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rawcolour: error: "), err
    return lines[0]


def records(stdout: bytes) -> tuple[dict[str, dict], dict]:
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    assert lines and lines[-1].get("summary") is True, lines
    return {Path(r["input"]).name: r for r in lines[:-1]}, lines[-1]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def dng(path: Path, seed: int = 0, planes: np.ndarray | None = None) -> Path:
    if planes is None:
        planes = np.random.default_rng(seed).integers(200, 3800, (4, 32, 48)).astype(np.uint16)
    write_bayer_dng(path, unpack_bayer(planes, "RGGB"), "RGGB", black=128, white=4095)
    return path


def grey_png(path: Path, h: int = 48, w: int = 64, bits: int = 8) -> Path:
    rng = np.random.default_rng(h * w)
    arr = rng.integers(0, 255 if bits == 8 else 65535, (h, w)).astype(np.uint8 if bits == 8 else np.uint16)
    Image.fromarray(arr).save(path)
    return path


def huge_png(path: Path, w: int, h: int) -> Path:
    """A valid grey PNG of w x h zeros, compressed as it is made (a few hundred kB, never w*h in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row, idat = zlib.compressobj(9), b"\0" * (w + 1), []
    for _ in range(h):
        idat.append(z.compress(row))
    idat.append(z.flush())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------ 1. no image data


def test_header_only_raw_is_refused_not_converted(tmp_path, models):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    dng(shoot / "good.dng", 1)
    dng(shoot / "header-only.dng", planes=np.zeros((4, 32, 48), np.uint16))  # LibRaw's zeros for missing data
    nearly = np.full((4, 32, 48), 100, np.uint16)
    nearly[0, 0, :5] = 3000  # a handful of samples above black: still no picture
    dng(shoot / "cut-off.dng", planes=nearly)
    out = tmp_path / "out"
    run = cli("raw2rgb", str(shoot), "-o", str(out), "--model", str(models["sgan-tiny"]), "--json", "--tile", "0")
    assert run.returncode == 1, run.stderr.decode()
    recs, summary = records(run.stdout)
    assert (summary["ok"], summary["failed"]) == (1, 2), (summary.get("error"), run.stderr.decode())
    for name in ("header-only.dng", "cut-off.dng"):
        assert "no image data" in recs[name]["error"] and "header-only" in recs[name]["error"]
    assert tree(out) == ["good.png"]
    with pytest.raises(InputError, match="no image data"):  # the classic baseline refuses it too
        from rawcolour.inference.classic import develop_classic
        develop_classic(shoot / "header-only.dng")


# ------------------------------------------------------------------------------------ 2. not regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("task", ["colourise", "raw2rgb"])
def test_fifos_are_refused_unopened_and_the_batch_goes_on(tmp_path, models, task):
    d = tmp_path / "in"
    d.mkdir()
    if task == "colourise":
        grey_png(d / "a.png")
        model = models["colorgan-tiny"]
    else:
        dng(d / "a.dng")
        model = models["sgan-tiny"]
    os.mkfifo(d / "b.png")  # no writer ever comes: opening it would block forever
    os.mkfifo(tmp_path / "named.png")
    out = tmp_path / "out"
    run = cli(task, str(d), str(tmp_path / "named.png"), "-o", str(out), "--model", str(model), "--json",
              timeout=120)
    assert run.returncode == 1, run.stderr.decode()
    recs, summary = records(run.stdout)
    assert summary["ok"] == 1 and summary["failed"] == 2
    for name in ("b.png", "named.png"):
        assert "is a named pipe (FIFO), not a regular file; it was not opened" in recs[name]["error"]
    assert sorted(tree(out)) == ["a.png"]


def test_devices_are_refused_by_the_library_too(tmp_path):
    with pytest.raises(InputError, match="character device"):
        images.read_image("/dev/zero")  # would never end
    with pytest.raises(InputError, match="character device"):
        read_raw("/dev/zero")


# ------------------------------------------------------------------------------------ 3. decompression bombs


def test_decompression_bomb_in_a_folder_is_one_line_and_max_pixels_is_honoured(tmp_path, models):
    d = tmp_path / "scans"
    d.mkdir()
    grey_png(d / "ok.png")
    huge_png(d / "bomb.png", 20000, 15000)  # 300 MP: above the default limit and Pillow's 2 x 89 MP
    out = tmp_path / "out"
    run = cli("colourise", str(d), "-o", str(out), "--model", str(models["colorgan-tiny"]), "--json", "-q",
              memory=MEMORY_LIMIT)
    assert run.returncode == 1, run.stderr.decode()
    assert "Traceback" not in run.stderr.decode()
    recs, summary = records(run.stdout)
    assert summary["ok"] == 1
    assert "20000x15000 = 300.0 megapixels, more than the limit of 250 megapixels" in recs["bomb.png"]["error"]
    assert "--max-pixels" in recs["bomb.png"]["error"]
    # From stdin too, and --max-pixels sets the limit both ways: 3072 pixels is too many here ...
    run = cli("colourise", "-", "-o", str(tmp_path / "out2"), "--model", str(models["colorgan-tiny"]), "--json",
              "--max-pixels", "3000", input=f"{d / 'ok.png'}\n".encode())
    recs, _ = records(run.stdout)
    assert "64x48 = 0.0 megapixels, more than the limit" in recs["ok.png"]["error"]
    # ... and a picture above Pillow's own refusal (2 x 89 MP) opens when the limit allows it
    huge_png(tmp_path / "big.png", 15000, 12000)
    with images.open_picture(tmp_path / "big.png", 300_000_000) as (im, _fh, _head):
        assert im.size == (15000, 12000)
    with pytest.raises(InputError, match="more than the limit"):
        with images.open_picture(tmp_path / "big.png", 100_000_000):
            pass


# ------------------------------------------------------------------------------------ 4. PNG CRC


@pytest.mark.parametrize("bits,mode", [(8, "L"), (16, "I;16"), (8, "RGB"), (16, "RGB16")])
def test_png_with_a_bit_flipped_in_idat_is_refused_at_every_depth(tmp_path, bits, mode):
    rng = np.random.default_rng(bits)
    path = tmp_path / f"{mode}.png"
    if mode == "RGB16":
        import cv2
        cv2.imwrite(str(path), rng.integers(0, 65535, (40, 50, 3)).astype(np.uint16))
    elif mode == "RGB":
        Image.fromarray(rng.integers(0, 255, (40, 50, 3)).astype(np.uint8)).save(path)
    else:
        grey_png(path, 40, 50, bits)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    images.read_image(path)  # intact: fine
    for offset in (start + 40, start + 200):  # inside the compressed pixels, not the CRC
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        path.write_bytes(bytes(flipped))
        with pytest.raises(InputError, match="truncated or corrupt"):
            images.read_image(path)


# ------------------------------------------------------------------------------------ 5, 6. stdout and export


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_json_to_a_full_disk_is_one_line(tmp_path, models):
    src = grey_png(tmp_path / "a.png")
    with open("/dev/full", "wb") as full:
        run = cli("colourise", str(src), "-o", str(tmp_path / "out"), "--model", str(models["colorgan-tiny"]),
                  "--json", "-q", stdout=full, stderr=subprocess.PIPE)
    assert run.returncode == 1
    assert "cannot write the JSON records to stdout" in one_error(run)


def test_picture_to_a_closed_pipe_exits_141(tmp_path, models):
    src = grey_png(tmp_path / "a.png")
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| true`: the reader is gone before the picture is written
    try:
        run = cli("colourise", str(src), "-o", "-", "--model", str(models["colorgan-tiny"]), stdout=write_end,
                  stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert run.returncode == 141, run.stderr.decode()
    assert "Traceback" not in run.stderr.decode() and "error" not in run.stderr.decode()


def can_run_as(user: int) -> str | None:
    """None if `user` can run this interpreter and import rawcolour, else why not."""
    if not IS_ROOT:
        return None
    try:
        probe = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", sys.executable,
                                "-c", "import rawcolour"], capture_output=True, env=ENV, timeout=120, cwd="/")
    except FileNotFoundError:
        return "root ignores permissions and there is no setpriv to drop them"
    if probe.returncode != 0:
        return (f"uid {user} cannot run {sys.executable} with rawcolour (a private checkout or virtual "
                "environment): root ignores permissions, so this check needs that user")
    return None


def test_export_onnx_to_a_read_only_folder_is_one_line(tmp_path, models, request):
    pytest.importorskip("onnxscript")
    why = can_run_as(NOBODY)
    if why:
        pytest.skip(why)
    world = Path(tempfile.mkdtemp(prefix="rawcolour-export-"))  # pytest's tmp_path is private (0700)
    request.addfinalizer(lambda: shutil.rmtree(world, ignore_errors=True))
    world.chmod(0o755)
    model = world / "m.safetensors"
    model.write_bytes(models["sgan-tiny"].read_bytes())
    model.chmod(0o644)
    read_only = world / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if IS_ROOT else []
    run = subprocess.run([*user, sys.executable, "-m", "rawcolour", "models", "export", str(model), "--onnx",
                          str(read_only / "x.onnx"), "--no-check"], capture_output=True, env=ENV, timeout=300, cwd="/")
    assert run.returncode == 1
    assert "x.onnx: cannot write the ONNX file: permission denied; nothing was written" in one_error(run)
    assert tree(read_only) == []


def test_exported_onnx_gets_the_permissions_pictures_get(tmp_path, models):
    pytest.importorskip("onnxscript")
    out = tmp_path / "ok.onnx"
    run = cli("models", "export", str(models["sgan-tiny"]), "--onnx", str(out), "--no-check", timeout=300)
    assert run.returncode == 0, run.stderr.decode()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["ok.onnx"]


# ------------------------------------------------------------------------------------ 7. killed writers


def test_temporary_file_of_a_killed_run_is_removed_by_the_next_run(tmp_path, models):
    src = grey_png(tmp_path / "k1.png")
    out = tmp_path / "out"
    args = ("colourise", str(src), "-o", str(out), "--model", str(models["colorgan-tiny"]), "--json")
    prelude = "import os, time\nos.fsync = lambda fd: time.sleep(60)"  # killed while held in fsync
    cmd = [sys.executable, "-c", prelude + "\nimport sys\nfrom rawcolour.cli.main import run\n"
           "sys.argv = ['rawcolour'] + sys.argv[1:]\nrun()", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in out.glob(".*")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    (stale,) = [p.name for p in out.glob(".*.tmp")]
    run = cli(*args)
    assert run.returncode == 0, run.stderr.decode()
    recs, _ = records(run.stdout)
    assert any("removed 1 temporary file an interrupted earlier run left" in n and stale in n
               for n in recs["k1.png"]["notes"])
    assert tree(out) == ["k1.png"]


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    live = tmp_path / ".pic.png.0123456789ab.tmp"
    dead = tmp_path / ".pic.png.ba9876543210.tmp"
    other = tmp_path / ".notes.tmp"  # not our pattern
    for p in (live, dead, other):
        p.write_bytes(b"x")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # its writer is still at work
        assert clean_stale_temporaries(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
    atomic_write_bytes(tmp_path / "pic.png", b"data")
    assert (tmp_path / "pic.png").read_bytes() == b"data"


# ------------------------------------------------------------------------------------ 8, 9. checkpoints


def hostile_safetensors(tmp: Path, good: Path, name: str, **changes) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(good), "pt") as f:
        meta = dict(f.metadata())
    config = json.loads(meta["config"])
    for k, v in changes.items():
        if k in ("io", "policy"):
            meta[k] = v
        else:
            config[k] = v
    meta["config"] = json.dumps(config)
    path = tmp / f"{name}.safetensors"
    save_file(load_file(str(good)), str(path), metadata=meta)
    return path


@pytest.mark.parametrize("name,changes,text", [
    ("io-list", {"io": "[]"}, "metadata 'io' is a JSON list, not an object"),
    ("policy-zero", {"policy": json.dumps({"size_multiple": 0, "tiling": "supported"})}, "policy size_multiple = 0"),
    ("negative", {"width": -4}, "width = -4 is outside 1..1024"),
    ("wide", {"width": 4096}, "width = 4096 is outside 1..1024"),
    ("deep", {"num_resblocks": 1_000_000}, "num_resblocks = 1000000 is outside 0..64"),
    ("budget", {"width": 1000}, "M parameters, more than the 500 M"),
    ("shapes", {"width": 32}, "tensor e1.1.parametrizations.weight.original has shape (16, 4, 7, 7)"),
    ("typed", {"width": "16"}, "width must be a whole number"),
])
def test_checkpoint_metadata_is_checked_before_anything_is_built(tmp_path, models, name, changes, text):
    path = hostile_safetensors(tmp_path, models["sgan-tiny"], name, **changes)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    assert text in str(err.value) and "\n" not in str(err.value)


def test_hostile_checkpoints_cost_one_line_under_a_memory_limit(tmp_path, models):
    """Without the checks these asked for 4.5 to 51 GB before failing; here the whole run has 2 GB."""
    torch = pytest.importorskip("torch")
    src = Image.fromarray(np.zeros((32, 48, 4), np.uint8), "RGBA")
    src.save(tmp_path / "rg.png")
    for name, changes in (("wide", {"width": 1000}), ("deep", {"num_resblocks": 1_000_000})):
        path = hostile_safetensors(tmp_path, models["sgan-tiny"], name, **changes)
        out = tmp_path / f"out-{name}"
        run = cli("raw2rgb", str(tmp_path / "rg.png"), "-o", str(out), "--model", str(path), "--json",
                  memory=MEMORY_LIMIT, timeout=60)
        assert run.returncode == 1
        assert "metadata config does not fit its architecture" in one_error(run)
        _, summary = records(run.stdout)  # --json still ends with its summary, naming the error
        assert "does not fit its architecture" in summary["error"] and summary["ok"] == 0
        assert not out.exists()  # the -o folder is not made when the model cannot load
    # A .pth whose empty (20000, 0, 7, 7) first conv asked import for a 20000-wide generator
    pth = tmp_path / "empty.pth"
    torch.save({"E1.conv2d.weight": torch.zeros(20000, 0, 7, 7), "D4.conv2d.weight": torch.zeros(3, 0, 3, 3)}, pth)
    run = cli("models", "import", str(pth), "--arch", "sgan", "-o", str(tmp_path / "e.safetensors"),
              memory=MEMORY_LIMIT, timeout=60)
    assert run.returncode == 1
    assert "describe no sgan generator rawcolour can build" in one_error(run)
    assert not (tmp_path / "e.safetensors").exists()


def _save_deep_pickles(tmp: Path) -> tuple[Path, Path]:
    torch = pytest.importorskip("torch")
    from torch import nn

    class Generator(nn.Module):
        pass

    Generator.__module__, Generator.__qualname__ = "network", "Generator"  # a stranger's class, never imported
    deep, selfish = tmp / "deep.pth", tmp / "self.pth"

    def save() -> None:
        top = cur = Generator()
        for _ in range(3000):
            child = Generator()
            cur.add_module("m", child)
            cur = child
        cur.register_parameter("w", nn.Parameter(torch.zeros(2)))
        torch.save(top, deep)
        me = Generator()
        me.add_module("me", me)
        me.register_parameter("w", nn.Parameter(torch.zeros(2)))
        torch.save(me, selfish)

    import types
    module = types.ModuleType("network")
    module.Generator = Generator
    limit, stack = sys.getrecursionlimit(), threading.stack_size()
    sys.modules["network"] = module
    sys.setrecursionlimit(100_000)
    threading.stack_size(512 << 20)  # pickling 3000 nested modules recurses deeply
    try:
        worker = threading.Thread(target=save)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(stack)
        sys.setrecursionlimit(limit)
        del sys.modules["network"]
    assert deep.exists() and selfish.exists()
    return deep, selfish


def test_pickled_modules_nested_too_deep_or_containing_themselves_are_refused(tmp_path):
    for path in _save_deep_pickles(tmp_path):
        run = cli("models", "import", str(path), "--arch", "sgan", "-o", str(tmp_path / "x.safetensors"),
                  memory=MEMORY_LIMIT, timeout=60)
        assert run.returncode == 1
        assert "nests more than 100 levels deep (or contains itself)" in one_error(run)


def test_code_running_resume_file_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    import torch
    torch.save({"format": Evil()}, run_dir / "last.resume.pt")
    data = tmp_path / "data"
    data.mkdir()
    run = cli("train", "colourise", "--data", str(data), "--model", "colorgan-tiny", "--out", str(run_dir),
              "--resume")
    assert run.returncode == 1
    line = one_error(run)
    assert "refusing to resume: the resume state asks for posix.system" in line or "asks for os.system" in line
    assert not marker.exists()


# ------------------------------------------------------------------------------------ 10, 11. the terminal


def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path, models):
    bad = tmp_path / "bad\nname.png"
    bad.write_text("not a picture")
    run = cli("colourise", str(bad), "-o", str(tmp_path / "out"), "--model", str(models["colorgan-tiny"]), "-q")
    assert run.returncode == 1
    line = one_error(run)
    assert display_path(bad) in line and "bad\\nname.png" in line and "is a text file" in line


def test_library_warnings_become_one_note_not_terminal_noise(tmp_path, models):
    exif = Image.Exif()
    exif[0x010E] = "a description longer than four bytes"
    block = bytearray(exif.tobytes())
    order = "<" if block[6:8] == b"II" else ">"
    first = struct.unpack_from(order + "I", block, 10)[0]
    struct.pack_into(order + "I", block, 6 + first + 2 + 4, 100_000)  # the tag's count: far past the end
    src = tmp_path / "exif.jpg"
    Image.fromarray(np.full((40, 48), 128, np.uint8)).save(src, exif=bytes(block))
    run = cli("colourise", str(src), "-o", str(tmp_path / "out"), "--model", str(models["colorgan-tiny"]), "--json",
              "-q")
    assert run.returncode == 0 and run.stderr == b"", run.stderr.decode()
    recs, _ = records(run.stdout)
    notes = [n for n in recs["exif.jpg"]["notes"] if n.startswith("library warnings:")]
    assert len(notes) == 1 and "Tag data larger than file" in notes[0]


# ------------------------------------------------------------------------------------ also seen


def test_int32_tiff_is_refused_rather_than_darkened(tmp_path):
    import tifffile
    path = tmp_path / "int32.tif"
    tifffile.imwrite(path, np.arange(48 * 64, dtype=np.int32).reshape(48, 64))
    with pytest.raises(InputError, match="32-bit samples are not supported"):
        images.read_image(path)


def test_dangling_output_link_fails_and_unknown_picture_suffix_is_a_usage_error(tmp_path, models):
    src = grey_png(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").symlink_to(tmp_path / "gone.png")
    run = cli("colourise", str(src), "-o", str(out), "--model", str(models["colorgan-tiny"]), "--json", "-q")
    assert run.returncode == 1
    recs, summary = records(run.stdout)
    assert summary["skipped"] == 0 and "symbolic link to a missing file" in recs["a.png"]["error"]
    assert os.path.islink(out / "a.png") and not (tmp_path / "gone.png").exists()

    result = CliRunner().invoke(app, ["colourise", str(src), "-o", str(tmp_path / "pic.webp")])
    assert result.exit_code == 2
    assert "cannot write .webp files" in result.output
    assert not (tmp_path / "pic.webp").exists()


def test_every_registry_network_lies_inside_its_limits_and_meta_builds_exactly():
    """The limits must never refuse our own models (a config field added without a range would),
    and the meta-device build that checks shapes must give the real build's shapes."""
    from rawcolour.nets import config_from_dict, config_to_dict, meta_build, state_shapes

    for name in registry.list_models():
        spec = registry.get_spec(name)
        for net in (spec.generator, getattr(spec, "discriminator", None)):
            if net is not None:
                assert config_from_dict(net.arch, config_to_dict(net.config)) == net.config
                assert state_shapes(meta_build(net.build)) == state_shapes(net.build()), name


def test_library_log_records_become_a_note_too(tmp_path, models):
    """tifffile logs (not warns) about a broken tag; Python would print that on stderr by itself."""
    path = dng(tmp_path / "tag.dng", 3)
    data = bytearray(path.read_bytes())
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, first)
    for i in range(count):
        pos = first + 2 + 12 * i
        if struct.unpack_from(order + "H", data, pos)[0] == 50721:  # ColorMatrix1
            struct.pack_into(order + "H", data, pos + 2, 99)  # no such TIFF type
    path.write_bytes(bytes(data))
    run = cli("raw2rgb", str(path), "-o", str(tmp_path / "out"), "--model", str(models["sgan-tiny"]), "--json",
              "-q", "--tile", "0")
    assert b"TiffFileError" not in run.stderr and b"Traceback" not in run.stderr, run.stderr.decode()
    recs, _ = records(run.stdout)
    if recs["tag.dng"]["status"] == "ok":
        assert any("invalid data type 99" in n for n in recs["tag.dng"]["notes"]), recs["tag.dng"]
    else:
        assert len(run.stderr.decode().splitlines()) == 1


def test_json_records_with_stdout_closed_are_one_line_before_any_work(tmp_path, models):
    src = grey_png(tmp_path / "a.png")
    closed = "import os, sys\nos.close(1)\nsys.stdout = None"  # as Python starts under `rawcolour ... >&-`
    run = cli("colourise", str(src), "-o", str(tmp_path / "out"), "--model", str(models["colorgan-tiny"]), "--json",
              prelude=closed)
    assert run.returncode == 2
    assert one_error(run) == "rawcolour: error: stdout is closed; give the command a stdout, or drop --json / -o -"
    assert not (tmp_path / "out").exists()
    listed = cli("models", "list", "--json", prelude=closed)
    assert listed.returncode == 1 and "stdout is closed" in one_error(listed)


def test_a_checkpoint_of_the_other_task_is_named_by_its_file(tmp_path, models):
    src = grey_png(tmp_path / "a.png")
    run = cli("colourise", str(src), "-o", str(tmp_path / "out"), "--model", str(models["sgan-tiny"]))
    assert run.returncode == 2
    assert one_error(run).startswith(f"rawcolour: error: {models['sgan-tiny']}: model 'sgan-tiny' is a raw2rgb model")
    assert not (tmp_path / "out").exists()
