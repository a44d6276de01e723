"""Our PNG encoder: exact round trips through Pillow and OpenCV, strips compressed apart joining
into one valid zlib stream (checked by zlib itself), metadata where readers look, and streaming
writes that leave nothing behind when encoding fails."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from rawcolour.io import png
from rawcolour.io.files import atomic_write_bytes
from rawcolour.io.png import adler32_combine, png_stream


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == png.SIGNATURE
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        out.append((kind, body))
        pos += 12 + length
    return out


@pytest.mark.parametrize("shape, dtype", [((37, 53, 3), np.uint16), ((37, 53), np.uint8), ((1, 1, 3), np.uint8),
                                          ((1, 5), np.uint16), ((64, 7, 3), np.uint8)])
def test_round_trip_exact(shape: tuple, dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "_STRIP_BYTES", 100)  # many strips, and rows longer than a strip
    monkeypatch.setattr(png, "_IDAT_BYTES", 64)
    x = np.random.default_rng(0).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    data = b"".join(png_stream(x, workers=3))
    theirs = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    theirs = theirs[..., ::-1] if theirs.ndim == 3 else theirs
    assert theirs.dtype == dtype and np.array_equal(theirs, x)
    im = Image.open(io.BytesIO(data))
    im.load()  # Pillow checks every chunk's CRC
    assert im.size == (shape[1], shape[0])
    chunks = _chunks(data)
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    stream = b"".join(body for kind, body in chunks if kind == b"IDAT")
    assert len(zlib.decompress(stream)) == shape[0] * (1 + int(np.prod(shape[1:])) * x.itemsize)  # Adler-32 checked


def test_workers_do_not_change_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "_STRIP_BYTES", 500)
    x = np.random.default_rng(1).integers(0, 65536, (40, 30, 3), dtype=np.uint16)
    assert b"".join(png_stream(x, workers=1)) == b"".join(png_stream(x, workers=4))


def test_smooth_picture_compresses() -> None:
    ramp = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    assert len(b"".join(png_stream(ramp))) < ramp.nbytes / 10  # the Sub filter turns a ramp into ones


def test_adler32_combine_matches_zlib() -> None:
    rng = np.random.default_rng(2)
    for n1, n2 in [(0, 5), (1, 0), (1000, 70000), (65521, 65521 * 3 + 7)]:
        a, b = rng.bytes(n1), rng.bytes(n2)
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_metadata_chunks_follow_ihdr() -> None:
    extra = png.chunk(b"tEXt", b"k\x00v")
    chunks = _chunks(b"".join(png_stream(np.zeros((4, 4), np.uint8), extra)))
    assert [k for k, _ in chunks[:2]] == [b"IHDR", b"tEXt"]
    assert Image.open(io.BytesIO(b"".join(png_stream(np.zeros((4, 4), np.uint8), extra)))).text == {"k": "v"}


def test_refuses_what_png_cannot_hold() -> None:
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8), np.zeros((0, 4), np.uint8)):
        with pytest.raises(ValueError):
            b"".join(png_stream(bad))


def test_failing_stream_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def pieces():
        yield b"first part"
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(target, pieces())
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
