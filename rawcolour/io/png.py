"""PNG encoding in strips of rows, compressed on every core, streamed out in pieces.

The picture is filtered and deflated a strip of rows (about 1 MB) at a time, so no full-size
copy of it is ever made (OpenCV's encoder needed a BGR copy, a growing output buffer and two more
copies to insert the metadata; on a 12 MP 16-bit picture that was over 300 MB of fresh memory
per file). Each strip is compressed on its own, in a pool of threads (zlib releases the GIL),
as raw deflate ending in a sync flush (the last one in a final block), so their concatenation is
one valid deflate stream, as in pigz; the zlib stream's Adler-32 is combined from the strips'.

Settings, chosen by measurement (``benchmarks/throughput.py``, ``png_settings``): the Sub filter
and zlib level 1 with the run-length strategy, OpenCV's own defaults. Run-length matches only
reach one pixel back, so compressing strips apart costs almost nothing in size (a few bytes per
strip).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STRIP_BYTES = 1 << 20  # filtered bytes per compressed strip
_IDAT_BYTES = 1 << 20  # compressed bytes gathered into one IDAT chunk
_LEVEL = 1
_ADLER_BASE = 65521
_SUB_FILTER = 1


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings joined, from each one's Adler-32 and the second's length."""
    rem = second_length % _ADLER_BASE
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_BASE
    b = (b1 + b2 + rem * (a1 - 1)) % _ADLER_BASE
    return (b << 16) | a


def png_stream(pixels: np.ndarray, metadata_chunks: bytes = b"", *, workers: int | None = None) -> Iterator[bytes]:
    """The PNG datastream of (H, W) grey or (H, W, 3) RGB uint8 / uint16 ``pixels``, in pieces.

    ``metadata_chunks`` (complete chunks, e.g. iCCP, eXIf, tEXt) go right after IHDR. ``workers``:
    threads that compress strips (default: every core).
    """
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] != 3) or pixels.size == 0:
        raise ValueError(f"PNG pixels must be uint8 or uint16, (H, W) or (H, W, 3); got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else 3
    depth = 8 * pixels.itemsize
    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0 if channels == 1 else 2, 0, 0, 0)
    yield SIGNATURE + chunk(b"IHDR", ihdr) + metadata_chunks
    row_bytes = width * channels * pixels.itemsize
    rows = max(1, _STRIP_BYTES // row_bytes)
    strips = [(top, min(height, top + rows)) for top in range(0, height, rows)]
    pending = b""
    for piece in _deflated(pixels, strips, workers or os.cpu_count() or 1):
        pending += piece
        if len(pending) >= _IDAT_BYTES:
            yield chunk(b"IDAT", pending)
            pending = b""
    yield chunk(b"IDAT", pending) + chunk(b"IEND", b"")


def _deflated(pixels: np.ndarray, strips: list[tuple[int, int]], workers: int) -> Iterator[bytes]:
    """The zlib stream of the filtered strips, in order: header, each strip's deflate, Adler-32.
    At most two strips per worker are in flight, so memory stays a few strips whatever the size."""
    yield bytes((0x78, 0x01))  # deflate, 32 KB window, fastest-level hint
    adler = 1
    last = len(strips) - 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rawcolour-png") as pool:
        window: deque = deque()
        for index, (top, bottom) in enumerate(strips):
            window.append(pool.submit(_compress_strip, pixels[top:bottom], index == last))
            while window and (len(window) >= 2 * workers or index == last):  # full, or draining after the last
                data, strip_adler, length = window.popleft().result()
                adler = adler32_combine(adler, strip_adler, length)
                yield data
    yield struct.pack(">I", adler)


def _compress_strip(rows: np.ndarray, final: bool) -> tuple[bytes, int, int]:
    """(raw deflate of the Sub-filtered rows, their Adler-32, their length in bytes)."""
    filtered = _sub_filtered(rows)
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
    data = compressor.compress(filtered) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
    return data, zlib.adler32(filtered), filtered.nbytes


def _sub_filtered(rows: np.ndarray) -> np.ndarray:
    """PNG scanlines with filter type 1 (Sub): each byte minus the byte one pixel to its left,
    modulo 256, after a filter-type byte; samples big-endian."""
    count = rows.shape[0]
    samples = rows.astype(">u2", copy=False) if rows.itemsize == 2 else rows
    raw = np.ascontiguousarray(samples).view(np.uint8).reshape(count, -1)
    pixel = (1 if rows.ndim == 2 else 3) * rows.itemsize
    out = np.empty((count, raw.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = _SUB_FILTER
    out[:, 1 : 1 + pixel] = raw[:, :pixel]
    np.subtract(raw[:, pixel:], raw[:, :-pixel], out=out[:, 1 + pixel :])
    return out


__all__ = ["SIGNATURE", "adler32_combine", "chunk", "png_stream"]
