"""Seeded mutations of small DNG, PNG and JPEG files through the real CLI, in batch mode.

Byte flips, truncations and header edits (PNG IHDR, JPEG SOF and segment lengths, TIFF/DNG IFD
entries) of fixtures made here. One CLI process per task handles every mutant, so the test runs
in well under a minute on 2 cores. Each mutant's outcome is read from its --json record:
``ok`` with a picture of the size the input decodes to, or ``failed`` with one line naming the
file; never a traceback, a hang (each record must arrive within PER_FILE seconds of the last),
a stray file, or memory beyond a fixed limit.
"""

from __future__ import annotations

import json
import os
import resource
import select
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rawcolour.io import images
from rawcolour.errors import RawcolourError, display_path
from rawcolour.io.mosaic import unpack_bayer
from rawcolour.io.raw import read_raw

pytest.importorskip("pidng")
from rawcolour.io.dng import write_bayer_dng  # noqa: E402

PER_KIND = 100  # mutants of each fixture: 300 files in all
PER_FILE = 30.0  # seconds any one file may take (a mutant that hangs fails the test)
MEMORY_LIMIT = 3 << 30
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}


# ------------------------------------------------------------------------------------------- fixtures


def png_fixture() -> bytes:
    grey = (np.add.outer(np.arange(40), np.arange(48)) * 2 % 256).astype(np.uint8)
    buf = __import__("io").BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    return buf.getvalue()


def jpeg_fixture() -> bytes:
    grey = (np.add.outer(np.arange(40), np.arange(48)) * 3 % 256).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the output must follow the orientation
    exif[0x010F] = "Fuzz"
    buf = __import__("io").BytesIO()
    Image.fromarray(grey).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def dng_fixture(folder: Path) -> bytes:
    planes = np.random.default_rng(7).integers(300, 3800, (4, 16, 24)).astype(np.uint16)
    path = write_bayer_dng(folder / "fixture.dng", unpack_bayer(planes, "RGGB"), "RGGB", black=128, white=4095)
    data = Path(path).read_bytes()
    Path(path).unlink()
    return data


# ------------------------------------------------------------------------------------------- mutations


def _png_chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, length) of each chunk of a well-formed PNG."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((pos, data[pos + 4 : pos + 8], length))
        pos += 12 + length
    return out


def _edit_png(data: bytearray, rng: np.random.Generator) -> None:
    """Change a header field and fix the CRC, so only the edit is wrong: size, depth, colour type."""
    pos = 8
    field = rng.choice(["width", "height", "depth", "colour", "interlace"])
    offset, fmt, value = {
        "width": (16, ">I", int(rng.choice([0, 1, 47, 49, 4096, 70000, 2**31 - 1]))),
        "height": (20, ">I", int(rng.choice([0, 1, 39, 41, 4096, 70000, 2**31 - 1]))),
        "depth": (24, ">B", int(rng.choice([1, 2, 4, 16, 3, 255]))),
        "colour": (25, ">B", int(rng.choice([2, 3, 4, 6, 1, 7]))),
        "interlace": (28, ">B", int(rng.choice([1, 2]))),
    }[str(field)]
    struct.pack_into(fmt, data, pos + offset - 8 + 8, value)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))


def _edit_jpeg(data: bytearray, rng: np.random.Generator) -> None:
    """Change a frame dimension or a segment length."""
    markers = [i for i in range(2, len(data) - 4) if data[i] == 0xFF and 0xC0 <= data[i + 1] <= 0xFE
               and data[i + 1] not in (0xD8, 0xD9) and not 0xD0 <= data[i + 1] <= 0xD7]
    if not markers:
        return
    sof = [i for i in markers if data[i + 1] in (0xC0, 0xC1, 0xC2)]
    if sof and rng.random() < 0.5:
        i = sof[0]
        struct.pack_into(">H", data, i + 5 + 2 * int(rng.integers(0, 2)), int(rng.choice([0, 1, 41, 65535])))
    else:
        i = int(rng.choice(markers))
        struct.pack_into(">H", data, i + 2, int(rng.choice([0, 1, 2, 200, 65535])))


def _edit_tiff(data: bytearray, rng: np.random.Generator) -> None:
    """Change one IFD0 entry's type, count or value (dimensions, offsets, CFA, levels, ...)."""
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", data, 4)
    if first + 2 > len(data):
        return
    (count,) = struct.unpack_from(order + "H", data, first)
    if not count or first + 2 + 12 * count > len(data):
        return
    pos = first + 2 + 12 * int(rng.integers(0, count))
    what = rng.choice(["type", "count", "value"])
    if what == "type":
        struct.pack_into(order + "H", data, pos + 2, int(rng.choice([1, 3, 4, 5, 7, 12, 99])))
    elif what == "count":
        struct.pack_into(order + "I", data, pos + 4, int(rng.choice([0, 2, 1000, 2**31])))
    else:
        struct.pack_into(order + "I", data, pos + 8, int(rng.choice([0, 1, 3, 65535, 2**31, len(data) - 2])))


def mutate(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    how = rng.choice(["flip", "truncate", "edit", "flip+edit"])
    if "edit" in how:
        {"png": _edit_png, "jpg": _edit_jpeg, "dng": _edit_tiff}[kind](out, rng)
    if "flip" in how:
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, len(out)))
            out[i] ^= 1 << int(rng.integers(0, 8))
    if how == "truncate":
        out = out[: int(rng.integers(0, len(out)))]
    return bytes(out)


# ------------------------------------------------------------------------------------------- running


def run_streaming(args: list[str], n_files: int) -> tuple[list[dict], str, int]:
    """Run the CLI, reading --json records as they come; fail if any one file takes over PER_FILE."""
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))  # noqa: E731
    proc = subprocess.Popen([sys.executable, "-m", "rawcolour", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, preexec_fn=limit)
    lines: list[dict] = []
    buffer = b""
    deadline = time.monotonic() + PER_FILE + 30  # + start-up and model loading
    try:
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                last = lines[-1]["input"] if lines else "(none yet)"
                pytest.fail(f"no record for {PER_FILE} s after {last}: a file hangs the batch")
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                lines.append(json.loads(line))
                deadline = time.monotonic() + PER_FILE
        stderr = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines and lines[-1].get("summary") is True, stderr
    assert len(lines) - 1 == n_files, (lines[-1], stderr[-2000:])
    return lines[:-1], stderr, code


def expected_size(path: Path, task: str) -> tuple[int, int] | None:
    """(height, width) the input decodes to (what its output must measure), or None if it does not decode."""
    try:
        if task == "colourise":
            return images.read_image(path).pixels.shape[:2]
        raw = read_raw(path)
        h, w = raw.packed.shape[1:]  # sgan-tiny develops at the packed resolution
        return (w, h) if raw.flip in (5, 6) else (h, w)
    except RawcolourError:
        return None


def check_outcomes(records: list[dict], stderr: str, code: int, folder: Path, out: Path, task: str) -> dict:
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr[-3000:]
    failed = [r for r in records if r["status"] == "failed"]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(failed) + len(ok) == len(records)  # nothing skipped: every output was new
    assert code == (1 if failed else 0)
    error_lines = stderr.splitlines()
    assert len(error_lines) == len(failed) and all(x.startswith("rawcolour: error: ") for x in error_lines)
    for r in failed:
        assert "\n" not in r["error"] and r["error"].startswith(display_path(r["input"])), r
    for r in ok:
        size = expected_size(Path(r["input"]), task)
        assert size is not None, f"{r['input']}: converted, yet the library refuses to decode it"
        with Image.open(r["output"]) as im:
            assert (im.height, im.width) == tuple(size), r
    # no stray file: exactly one output per ok record, no temporary files, inputs untouched
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(r["output"]).name for r in ok)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    return {"ok": len(ok), "failed": len(failed)}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # the oracle's own reads of broken EXIF, in this process
def test_fuzzed_pictures_and_raws_through_the_cli(tmp_path, models):
    rng = np.random.default_rng(20260515)
    pictures, raws = tmp_path / "pictures", tmp_path / "raws"
    pictures.mkdir()
    raws.mkdir()
    fixtures = {"png": png_fixture(), "jpg": jpeg_fixture(), "dng": dng_fixture(tmp_path)}
    for kind, data in fixtures.items():
        folder = raws if kind == "dng" else pictures
        (folder / f"original-{kind}.{kind}").write_bytes(data)
        for i in range(PER_KIND):
            (folder / f"{kind}{i:03d}.{kind}").write_bytes(mutate(data, kind, rng))
    sizes = {p.name: p.stat().st_size for p in list(pictures.iterdir()) + list(raws.iterdir())}

    out = tmp_path / "out-pictures"
    records, stderr, code = run_streaming(
        ["colourise", str(pictures), "-o", str(out), "--model", str(models["colorgan-tiny"]), "--render-size",
         "128", "--json", "-q", "--device", "cpu"], 2 * (PER_KIND + 1))
    pic = check_outcomes(records, stderr, code, pictures, out, "colourise")
    by_name = {Path(r["input"]).name: r for r in records}
    assert by_name["original-png.png"]["status"] == by_name["original-jpg.jpg"]["status"] == "ok"

    out = tmp_path / "out-raws"
    records, stderr, code = run_streaming(
        ["raw2rgb", str(raws), "-o", str(out), "--model", str(models["sgan-tiny"]), "--tile", "0", "--json", "-q",
         "--device", "cpu"], PER_KIND + 1)
    raw = check_outcomes(records, stderr, code, raws, out, "raw2rgb")
    assert {Path(r["input"]).name: r for r in records}["original-dng.dng"]["status"] == "ok"

    # Inputs are never touched; the mutations reached both outcomes (a fuzz that only fails tests little)
    assert {p.name: p.stat().st_size for p in list(pictures.iterdir()) + list(raws.iterdir())} == sizes
    assert pic["ok"] > 10 and pic["failed"] > 10 and raw["ok"] > 5 and raw["failed"] > 10, (pic, raw)
