"""`rawcolour colourise` / `raw2rgb` as users run them: real subprocesses, tiny models, bad files.

Each subprocess costs a second or two of imports, so one run covers many files: a folder that
mixes good and bad inputs converts every good one, names every bad one, exits 1 and leaves no
partial or temporary file. Usage errors are checked in-process with Typer's runner.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rawcolour import registry
from rawcolour.io import images
from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint
from rawcolour.cli.main import app
from rawcolour.io.mosaic import unpack_bayer

pytest.importorskip("pidng")
from rawcolour.io.dng import write_bayer_dng  # noqa: E402

RAW_H, RAW_W = 64, 96  # mosaic: packed 32 x 48
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# One torch thread: on a busy 2-core machine two spinning threads per process are ~10x slower.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}
NOBODY = 65534


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world() -> Path:
    """A folder everyone can read, so that a permission test can run as `nobody` when we are root."""
    d = Path(tempfile.mkdtemp(prefix="rawcolour-cli-"))
    d.chmod(0o755)
    yield d
    for p in d.rglob("*"):  # undo chmod 000 / 555 before removing
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def models(world: Path) -> dict[str, Path]:
    """Tiny checkpoints (random weights) of the two default models, passed with --model FILE."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    out = {}
    for name in ("sgan-tiny", "colorgan-tiny"):
        spec = registry.get_spec(name)
        path = save_checkpoint(world / f"{name}.safetensors", registry.create_model(name), checkpoint_metadata(spec))
        path.chmod(0o644)
        out[name] = path
    return out


def mosaic(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    planes = rng.integers(200, 3800, (4, RAW_H // 2, RAW_W // 2)).astype(np.uint16)
    return unpack_bayer(planes, "RGGB")


def dng(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bayer_dng(path, mosaic(seed), "RGGB", black=128, white=4095)
    path.chmod(0o644)  # written through a private temporary file (0600)
    return path


def zurich_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((mosaic(seed) // 4).astype(np.uint16)).save(path)  # 10-bit data in a 16-bit PNG
    return path


def rawgan_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgba = np.random.default_rng(seed).integers(0, 255, (RAW_H // 2, RAW_W // 2, 4)).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def photo(h: int = 256, w: int = 320) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    grey = data.camera().astype(np.float32) / 255
    return resize(grey, (h, w), anti_aliasing=True).astype(np.float32)


def rawcolour(*args: str, stdin: bytes | None = None, cwd: Path | None = None, user: int | None = None,
              prelude: str = "", timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the real CLI; `prelude` is Python run first (fault injection); `user` drops root to that uid."""
    cmd = [sys.executable, "-m", "rawcolour", *args]
    if prelude:
        cmd = [sys.executable, "-c", prelude + "\nimport sys\nfrom rawcolour.cli.main import run\n"
               "sys.argv = ['rawcolour'] + sys.argv[1:]\nrun()", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, input=stdin, capture_output=True, cwd=cwd, env=ENV, timeout=timeout)


def records(stdout: bytes) -> tuple[dict[str, dict], dict]:
    """--json output -> (records by input file name, summary)."""
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    assert lines and lines[-1].get("summary") is True, lines
    return {Path(r["input"]).name: r for r in lines[:-1]}, lines[-1]


def tree(folder: Path) -> list[str]:
    """Every file below `folder` (hidden ones included), relative."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def failure_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if line.startswith("rawcolour: error:")]


# ------------------------------------------------------------------------------------------- raw2rgb


@pytest.fixture(scope="module")
def card(world: Path) -> Path:
    """A memory-card dump: good RAWs and packed PNGs, every kind of bad file, sidecars, a loop."""
    d = world / "card"
    good = dng(d / "IMG 0001.dng", 1)
    dng(d / "é-ü 0002.dng", 2)
    dng(d / "day 2" / "IMG_0003.dng", 3)
    zurich_png(d / "zrr_0004.png", 4)
    rawgan_png(d / "day 2" / "rg_0005.png", 5)
    (d / "empty.dng").write_bytes(b"")
    data = good.read_bytes()
    (d / "truncated.dng").write_bytes(data[: len(data) // 2])
    (d / "text.png").write_text("this is a text file, not a picture\n")
    png = (d / "zrr_0004.png").read_bytes()
    (d / "cut.png").write_bytes(png[: len(png) // 2])
    (d / "IMG 0001.xmp").write_text("<x:xmpmeta/>")
    (d / "notes.txt").write_text("shot list")
    (d / ".hidden.dng").write_bytes(data)
    (d / "day 2" / "loop").symlink_to("..")
    return d


GOOD_RAW = {"IMG 0001.dng": "IMG 0001.png", "é-ü 0002.dng": "é-ü 0002.png", "zrr_0004.png": "zrr_0004.png",
            "IMG_0003.dng": "day 2/IMG_0003.png", "rg_0005.png": "day 2/rg_0005.png"}
BAD_RAW = {"empty.dng": "empty", "truncated.dng": "truncated", "text.png": "", "cut.png": ""}


def test_raw2rgb_mixed_folder_then_resume(card, models, world):
    out = world / "developed"
    first = rawcolour("raw2rgb", str(card), "-r", "-o", str(out), "--model", str(models["sgan-tiny"]), "--json",
                      "--tile", "16", "--overlap", "4", "--device", "cpu")
    assert first.returncode == 1, first.stderr.decode()
    recs, summary = records(first.stdout)
    assert {n for n, r in recs.items() if r["status"] == "ok"} == set(GOOD_RAW)
    assert {n for n, r in recs.items() if r["status"] == "failed"} == set(BAD_RAW)
    assert (summary["ok"], summary["failed"], summary["skipped"], summary["unsupported"]) == (5, 4, 0, 2)
    sha = __import__("hashlib").sha256(models["sgan-tiny"].read_bytes()).hexdigest()
    for name, r in recs.items():
        if r["status"] == "ok":
            assert r["model_sha256"] == sha and r["error"] is None and r["seconds"] > 0
            assert r["tile"] == 16 and r["device"] == "cpu" and r["precision"] == "fp32"
            assert Path(r["output"]) == out / GOOD_RAW[name]
        else:
            assert r["output"] is not None and r["error"].startswith(str(card / name)) and BAD_RAW[name] in r["error"]
    # one line per failure on stderr, naming the file, what is wrong and what to do
    lines = failure_lines(first.stderr)
    assert len(lines) == 4
    for name in BAD_RAW:
        assert sum(name in line and ";" in line for line in lines) == 1
    # every good file converted, nothing else written: no partial, temporary or stray file
    assert tree(out) == sorted(GOOD_RAW.values())
    developed = images.read_image(out / "IMG 0001.png")
    assert developed.bit_depth == 16 and developed.pixels.shape == (RAW_H // 2, RAW_W // 2, 3)
    provenance = images.read_metadata_provenance(out / "IMG 0001.png")
    assert provenance["model_sha256"] == sha and provenance["task"] == "raw2rgb"

    # re-running does no work twice: every output is skipped, untouched; the bad files fail again
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = rawcolour("raw2rgb", str(card), "-r", "-o", str(out), "--model", str(models["sgan-tiny"]),
                      "--json", "--on-exist", "skip")  # default --tile auto: nothing is converted, nothing probed
    assert again.returncode == 1
    recs, summary = records(again.stdout)
    assert (summary["ok"], summary["skipped"], summary["failed"]) == (0, 5, 4)
    assert all(recs[n]["status"] == "skipped" for n in GOOD_RAW)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == mtimes
    assert tree(out) == sorted(GOOD_RAW.values())


def test_raw2rgb_paths_from_stdin(card, models, world):
    listing = "\0".join(["IMG 0001.dng", "day 2/IMG_0003.dng", "IMG 0001.xmp"]).encode()  # find -print0
    out = world / "from-stdin"
    run = rawcolour("raw2rgb", "-", "-r", "-o", str(out), "--model", str(models["sgan-tiny"]), "--json",
                    "--format", "tiff", "--bit-depth", "8", "--tile", "0", stdin=listing, cwd=card)
    assert run.returncode == 0, run.stderr.decode()
    recs, summary = records(run.stdout)
    assert summary["ok"] == 2 and summary["unsupported"] == 1
    assert tree(out) == ["IMG 0001.tif", "day 2/IMG_0003.tif"]  # mirrored below their common folder
    assert images.read_image(out / "IMG 0001.tif").bit_depth == 8


def test_full_disk_leaves_no_partial_file(card, models, world):
    out = world / "full-disk"
    prelude = ("import errno, os\n"
               "def fsync(fd): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
               "os.fsync = fsync")  # the temporary file was written, then the disk filled up
    run = rawcolour("raw2rgb", str(card / "IMG 0001.dng"), str(card / "zrr_0004.png"), "-o", str(out),
                    "--model", str(models["sgan-tiny"]), "--tile", "0", prelude=prelude)
    assert run.returncode == 1
    lines = failure_lines(run.stderr)
    assert len(lines) == 2 and all("the disk is full; nothing was written; free some space" in x for x in lines)
    assert tree(out) == []


@pytest.mark.parametrize("signum, code, why", [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated"),
    pytest.param(getattr(signal, "SIGHUP", None), 129, "hung up",  # the terminal or the ssh session closed
                 marks=pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")),
], ids=["ctrl-c", "sigterm", "sighup"])
def test_ctrl_c_and_termination_stop_cleanly(card, models, world, signum, code, why):
    out = world / f"interrupted-{code}"
    prelude = ("import os, time\n"
               "def fsync(fd): time.sleep(30)\n"  # a very slow disk: the temporary file is there to be removed
               "os.fsync = fsync")
    cmd_args = ["raw2rgb", str(card), "-r", "-o", str(out), "--model", str(models["sgan-tiny"]), "--json",
                "--tile", "0"]
    cmd = [sys.executable, "-c", prelude + "\nimport sys\nfrom rawcolour.cli.main import run\n"
           "sys.argv = ['rawcolour'] + sys.argv[1:]\nrun()", *cmd_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.name.endswith(".tmp") for p in out.rglob(".*"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr.decode()
    assert f"{why} after" in stderr.decode() and "Traceback" not in stderr.decode()
    *recs, summary = [json.loads(line) for line in stdout.decode().splitlines()]
    assert summary["interrupted"] is True and summary["ok"] == 0 and summary["failed"] == len(recs)
    assert tree(out) == []  # the half-written temporary file was removed


def nobody_cannot_run() -> str | None:
    """Why `nobody` cannot run this interpreter with rawcolour (a checkout or virtual environment in a
    private folder: a mkdtemp folder, a home directory), or None when it can."""
    if shutil.which("setpriv") is None:
        return "root ignores permissions, and there is no setpriv to drop them"
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                            "-c", "import rawcolour.cli.main"], capture_output=True, env=ENV, timeout=120, cwd="/")
    if probe.returncode != 0:
        return (f"`nobody` cannot run {sys.executable} with rawcolour (a private checkout or virtual environment); "
                "as root this test needs that user, because root reads and writes everything")
    return None


def test_unreadable_input_and_read_only_output_folder(models, world):
    """As root this runs as `nobody` (root reads and writes everything), if `nobody` can run us."""
    if IS_ROOT:
        why = nobody_cannot_run()
        if why:
            pytest.skip(why)
    locked = world / "locked"
    dng(locked / "good.dng")
    dng(locked / "secret.dng").chmod(0)
    read_only = world / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)

    def convert_into(folder):
        return rawcolour("raw2rgb", str(locked), "-o", str(folder), "--model", str(models["sgan-tiny"]), "--json",
                         "--tile", "0", user=NOBODY if IS_ROOT else None)

    # every output would fail: one line before anything is converted
    run = convert_into(read_only)
    assert run.returncode == 1, run.stderr.decode()
    assert failure_lines(run.stderr) == [f"rawcolour: error: {read_only}: cannot write to the output folder "
                                         "(permission denied); nothing was converted; choose a folder you can "
                                         "write to (-o)"], run.stderr.decode()
    assert tree(read_only) == []
    # a writable folder: the unreadable input fails on its own, the batch goes on
    writable = world / "writable"
    writable.mkdir()
    writable.chmod(0o777)
    run = convert_into(writable)
    assert run.returncode == 1, run.stderr.decode()
    recs, _ = records(run.stdout)
    assert "secret.dng: permission denied" in recs["secret.dng"]["error"]
    assert tree(writable) == ["good.png"]


def test_torchrun_splits_inputs_and_exit_code_reflects_all_ranks(models, world):
    d = world / "ranks"
    for i in range(4):
        dng(d / f"{i}.dng", i)
    (d / "0a-empty.dng").write_bytes(b"")  # sorted plan 0, 0a, 1, 2, 3: rank 0 gets 0, 1, 3; rank 1 gets 0a, 2
    out = world / "ranks-out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "rawcolour", "raw2rgb", str(d), "-o", str(out), "--model", str(models["sgan-tiny"]), "--json",
           "--tile", "0"]
    run = subprocess.run(cmd, capture_output=True, env=ENV, timeout=240)
    assert run.returncode != 0, run.stderr.decode()
    lines = [json.loads(x) for x in run.stdout.decode().splitlines() if x.startswith("{")]
    summaries = [x for x in lines if x.get("summary")]
    assert len(summaries) == 1  # rank 0 prints the summary of all ranks
    # rank 0 converted all of its share, yet its summary counts rank 1's failure, and the run fails
    assert (summaries[0]["ok"], summaries[0]["failed"], summaries[0]["ranks"]) == (4, 1, 2)
    per_file = [x for x in lines if not x.get("summary")]
    assert sorted(Path(x["input"]).name for x in per_file) == sorted(p.name for p in d.iterdir())  # each once
    assert tree(out) == ["0.png", "1.png", "2.png", "3.png"]


# ------------------------------------------------------------------------------------------- colourise


def test_colourise_mixed_folder_pixel_limit_and_metadata(models, world):
    d = world / "scans"
    d.mkdir()
    grey = photo()
    Image.fromarray((grey * 255).round().astype(np.uint8)).save(d / "grey 8.png")
    Image.fromarray((grey * 65535).round().astype(np.uint16)).save(d / "grey 16.png")
    exif = Image.Exif()
    exif[0x010F] = "TestScanner"
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb8 = np.repeat((grey * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    Image.fromarray(rgb8).save(d / "scan.jpg", exif=exif.tobytes(), icc_profile=icc, quality=92)
    jpeg = (d / "scan.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.png").write_text("hello\n")
    big = photo(640, 640)
    Image.fromarray((big * 255).astype(np.uint8)).save(d / "big.png")  # 409,600 pixels
    out = world / "colour"
    run = rawcolour("colourise", str(d), "-o", str(out), "--model", str(models["colorgan-tiny"]), "--json",
                    "--max-pixels", "300000")
    assert run.returncode == 1, run.stderr.decode()
    recs, summary = records(run.stdout)
    assert {n for n, r in recs.items() if r["status"] == "ok"} == {"grey 8.png", "grey 16.png", "scan.jpg"}
    assert "more than the limit" in recs["big.png"]["error"] and "--max-pixels" in recs["big.png"]["error"]
    assert "empty" in recs["empty.jpg"]["error"] and "text file" in recs["text.png"]["error"]
    assert "corrupt" in recs["truncated.jpg"]["error"]
    assert tree(out) == ["grey 16.png", "grey 8.png", "scan.png"]
    assert images.read_image(out / "grey 16.png").bit_depth == 16  # the input's depth
    coloured = images.read_image(out / "scan.png")
    assert coloured.bit_depth == 8 and coloured.pixels.shape == (256, 320, 3)
    assert b"TestScanner" in coloured.exif and coloured.icc_profile == icc  # carried over

    # the limit raised, the one picture to stdout and nothing else; metadata stripped on request
    piped = rawcolour("colourise", str(d / "big.png"), "-o", "-", "--model", str(models["colorgan-tiny"]),
                      "--max-pixels", "500000", "--strip-metadata", "--format", "jpg", "--quiet")
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout[:2] == b"\xff\xd8" and piped.stderr == b""
    (world / "big.jpg").write_bytes(piped.stdout)
    back = images.read_image(world / "big.jpg")
    assert back.pixels.shape == (640, 640, 3) and back.exif is None
    assert images.read_metadata_provenance(world / "big.jpg")["model"] == "colorgan-tiny"


# ------------------------------------------------------------------------------------------- usage errors

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_usage_errors_exit_2_before_any_work(tmp_path):
    a1, a2 = dng(tmp_path / "d1" / "x.dng"), dng(tmp_path / "d2" / "x.dng")
    out = tmp_path / "out"
    result = invoke("raw2rgb", str(a1), str(a2), "-o", str(out))
    assert result.exit_code == 2
    assert str(a1) in result.stderr and str(a2) in result.stderr and "would both write" in result.stderr
    assert not out.exists()

    grey = tmp_path / "g.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(grey)
    result = invoke("colourise", str(grey), "--suffix", "")
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr

    result = invoke("raw2rgb", str(a1), "-o", "-", "--json")
    assert result.exit_code == 2 and "--json and -o - both want stdout" in result.stderr
    result = invoke("raw2rgb", str(a1), str(tmp_path / "d2"), "-o", str(tmp_path / "one.png"))
    assert result.exit_code == 2 and "takes one input, but there are 2" in result.stderr
    result = invoke("raw2rgb", str(a1), "--format", "jpg", "--bit-depth", "16")
    assert result.exit_code == 2 and "JPEG holds only 8 bits" in result.stderr

    (tmp_path / "sidecars").mkdir()
    (tmp_path / "sidecars" / "a.xmp").write_text("x")
    result = invoke("raw2rgb", str(tmp_path / "sidecars"))
    assert result.exit_code == 2 and "no input files to convert" in result.stderr and ".xmp" in result.stderr

    for bad in (["--tile", "big"], ["--device", "gpu"], ["--bit-depth", "12"], ["--on-exist", "ask"]):
        assert invoke("raw2rgb", str(a1), *bad).exit_code == 2, bad
    assert invoke("raw2rgb").exit_code == 2  # no inputs: help
    assert tree(tmp_path / "d1") == ["x.dng"]  # nothing was written anywhere


def test_missing_inputs_model_and_task_mismatch(tmp_path, models, monkeypatch):
    a = dng(tmp_path / "a.dng")
    result = invoke("raw2rgb", str(tmp_path / "typo.dng"), "--model", str(models["sgan-tiny"]), "--json")
    assert result.exit_code == 1
    assert f"{tmp_path / 'typo.dng'}: no such file or folder; check the path" in result.stderr
    result = invoke("raw2rgb", str(a), "--model", str(models["colorgan-tiny"]))
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert "is a colourise model" in result.stderr and not (tmp_path / "a_rgb.png").exists()
    result = invoke("raw2rgb", str(a), "--model", "sgan-tinny")
    assert result.exit_code == 1 and "did you mean sgan-tiny" in result.stderr
    monkeypatch.setattr(registry, "models_dirs", lambda: [])  # as on a machine without the shipped weights
    result = invoke("raw2rgb", str(a))
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert "model 'sgan-isp-tiny' has no installed weights" in line and "--model" in line


def test_tile_stats_exact_gives_the_untiled_picture(models, world):
    src = world / "tile-stats" / "in.dng"
    src.parent.mkdir()
    planes = np.random.default_rng(3).integers(200, 3800, (4, 128, 192)).astype(np.uint16)
    write_bayer_dng(src, unpack_bayer(planes, "RGGB"), "RGGB", black=128, white=4095)  # packed 128 x 192
    pictures = {}
    for label, extra in {"whole": ["--tile", "0"],
                         "exact": ["--tile", "96", "--tile-stats", "exact"]}.items():
        out = world / "tile-stats" / f"{label}.png"
        run = rawcolour("raw2rgb", str(src), "-o", str(out), "--model", str(models["sgan-tiny"]), "--json",
                        "--device", "cpu", *extra)
        assert run.returncode == 0, run.stderr.decode()
        rec = records(run.stdout)[0]["in.dng"]
        pictures[label] = images.read_image(out).pixels.astype(np.float64) / 65535
    assert rec["tile"] == 96 and any("exact" in note for note in rec["notes"])
    mse = np.mean((pictures["whole"] - pictures["exact"]) ** 2)
    assert 10 * np.log10(1 / max(mse, 1e-20)) > 40


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")
def test_a_signal_the_caller_ignores_stays_ignored():
    # `nohup rawcolour raw2rgb card/ &` must go on when the terminal closes
    from rawcolour.cli.batch_view import termination_as_interrupt

    before_hup, before_term = signal.signal(signal.SIGHUP, signal.SIG_IGN), signal.getsignal(signal.SIGTERM)
    try:
        with termination_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (before_term, signal.SIG_IGN)  # ours, while it runs
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) == before_term
    finally:
        signal.signal(signal.SIGHUP, before_hup)
