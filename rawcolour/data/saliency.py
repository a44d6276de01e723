"""Saliency targets for raw2rgb training (the attention loss of the saliency GAN).

The paper's targets came from SalGAN, whose weights are gone. Two sources replace them:

- :func:`compute_saliency`: OpenCV's spectral-residual static saliency (Hou & Zhang 2007),
  run on each CIE Lab channel of a 64x64 thumbnail, weighted by the channel's contrast,
  smoothed and normalised to [0, 1]; :class:`SaliencyCache` keeps the maps on disk as 8-bit PNG.
- :func:`load_saliency_map`: a folder of precomputed grey maps named like the targets
  (``--saliency DIR``), e.g. SalGAN outputs someone kept.

Why spectral residual and not OpenCV's fine-grained method: the attention loss multiplies the
RGB error by the map, so the map should single out a few object-sized regions the way a
fixation predictor (SalGAN) does. Spectral residual gives exactly such sparse, smooth blobs and
costs ~1 ms whatever the picture size (it works on a 64x64 thumbnail). Fine-grained saliency is
a centre-surround intensity-contrast map at full resolution: it lights up every edge and texture
of the frame (nearly uniform weight on busy pictures), ignores colour, and is slower.
Running it per Lab channel (not on grey only) finds objects that differ from their
surroundings in hue but not in brightness; weighting by each channel's spread keeps the
(normalised, hence noise-amplifying) output of a flat channel, such as the chroma of a
greyscale picture, out of the result.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from rawcolour.errors import InputError, OutputError, UsageError
from rawcolour.io.files import atomic_write_bytes
from rawcolour.io.images import IMAGE_EXTENSIONS, read_image
from rawcolour.io.pixels import to_float

__all__ = [
    "SALIENCY_VERSION",
    "MAP_EXTENSIONS",
    "compute_saliency",
    "SaliencyCache",
    "load_saliency_map",
]

# Part of every cache key: change it whenever compute_saliency's output changes.
SALIENCY_VERSION = "sr-lab64-v1"

# Extensions tried, in this order, for a precomputed map named after a target's stem: the files
# read_image reads, PNG first (lossless: what SalGAN and the cache write), then alphabetically.
MAP_EXTENSIONS = (".png", *sorted(IMAGE_EXTENSIONS - {".png"}))

_GRID = 64  # spectral residual's analysis size (OpenCV's default too)
_BLUR_SIGMA = 2.0  # in grid pixels, i.e. ~3% of the picture's size
_MIN_SPREAD = 0.5  # Lab units: channels flatter than this carry no saliency


def _as_float_image(img: np.ndarray) -> np.ndarray:
    """uint8/uint16/float image (H,W), (H,W,1), (H,W,3) or (H,W,4) -> float32 [0,1] (H,W,C)."""
    if not isinstance(img, np.ndarray):
        raise InputError(f"expected a numpy array, got {type(img).__name__}")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an image of shape (H, W[, 1|3|4]), got {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"image of shape {img.shape} is empty")
    img = img[..., :3]  # alpha carries no saliency
    if np.issubdtype(img.dtype, np.floating):
        if not np.all(np.isfinite(img.astype(np.float32, copy=False))):  # beyond float32's range counts too
            raise InputError("image contains NaN or infinite values")
    elif img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"unsupported image dtype {img.dtype}", hint="use uint8, uint16 or float in [0, 1]")
    return to_float(img)


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    shrink = height * width < img.shape[0] * img.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(img, (width, height), interpolation=interp)


def compute_saliency(rgb: np.ndarray) -> np.ndarray:
    """Static saliency map (H, W) float32 in [0, 1] of an RGB (or grey) picture.

    uint8, uint16 or float [0, 1] input. A picture with no contrast at all gives all zeros.
    """
    img = _as_float_image(rgb)
    h, w = img.shape[:2]
    thumb = _resize(img, _GRID, _GRID)
    if thumb.ndim == 2:
        thumb = thumb[..., None]
    if thumb.shape[2] == 1:
        thumb = np.repeat(thumb, 3, axis=2)
    lab = cv2.cvtColor(np.ascontiguousarray(thumb), cv2.COLOR_RGB2Lab)

    sr = cv2.saliency.StaticSaliencySpectralResidual_create()
    sr.setImageWidth(_GRID)
    sr.setImageHeight(_GRID)
    acc = np.zeros((_GRID, _GRID), dtype=np.float32)
    total = 0.0
    for c in range(3):
        chan = np.ascontiguousarray(lab[..., c])
        spread = float(chan.std())
        if spread < _MIN_SPREAD:
            continue
        ok, m = sr.computeSaliency(chan)
        if not ok or m is None:
            continue
        acc += np.float32(spread) * np.nan_to_num(m.astype(np.float32, copy=False))
        total += spread
    if total == 0.0:
        return np.zeros((h, w), dtype=np.float32)

    acc = cv2.GaussianBlur(acc, (0, 0), _BLUR_SIGMA, borderType=cv2.BORDER_REFLECT)
    out = cv2.resize(acc, (w, h), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 1 or out.shape != (h, w):  # cv2 squeezes 1-pixel sides
        out = out.reshape(h, w)
    lo, hi = float(out.min()), float(out.max())
    if hi - lo < 1e-12:
        return np.zeros((h, w), dtype=np.float32)
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    return np.clip(out, 0.0, 1.0, out=out)


class SaliencyCache:
    """On-disk cache of :func:`compute_saliency` maps, one 8-bit PNG per picture.

    Key: sha1 of (resolved path, size, mtime) for a file, of the pixels for an array, or of a
    caller's own string key; always with :data:`SALIENCY_VERSION`. Maps are quantised to 8 bits
    before they are returned on a miss too, so a result never depends on the cache's state.
    Writes are atomic, so DataLoader workers may share one cache directory.
    """

    def __init__(self, cache_dir: str | Path, *, version: str = SALIENCY_VERSION):
        self.dir = Path(cache_dir)
        self.version = version
        self.hits = 0
        self.misses = 0
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(
                f"cannot create the saliency cache folder ({e.strerror or e})",
                path=self.dir,
                hint="pass a writable folder",
            ) from None

    def key(self, source: str | Path | bytes | None, rgb: np.ndarray | None = None) -> str:
        """The cache key (hex sha1) for an image file, encoded file bytes, a string key or pixels."""
        h = hashlib.sha1()
        h.update(self.version.encode() + b"\0")
        if isinstance(source, (bytes, bytearray, memoryview)):
            h.update(b"bytes\0" + bytes(source))
        elif isinstance(source, Path) or (isinstance(source, str) and os.path.isfile(source)):
            p = Path(source)
            try:
                st = p.stat()
            except OSError as e:
                raise InputError(f"cannot read file ({e.strerror or e})", path=p) from None
            h.update(f"file\0{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        elif isinstance(source, str):
            h.update(b"key\0" + source.encode())
        elif source is None:
            if rgb is None:
                raise UsageError("SaliencyCache needs a path, a key or the image itself")
            a = np.ascontiguousarray(rgb)
            h.update(f"pixels\0{a.shape}\0{a.dtype.str}\0".encode())
            h.update(a.data)
        else:
            raise UsageError(f"unsupported cache source of type {type(source).__name__}")
        return h.hexdigest()

    def path_for(self, key: str) -> Path:
        """Where the map with this key lives (two-level fan-out keeps folders small)."""
        return self.dir / key[:2] / f"{key}.png"

    def get(self, source: str | Path | bytes | None, rgb: np.ndarray | None = None) -> np.ndarray:
        """Saliency map (H, W) float32 [0, 1] from the cache, computing and storing it on a miss.

        ``rgb`` may be left out when ``source`` is an image file: it is then decoded only on a
        miss. A cached map whose size does not match ``rgb`` is treated as a miss.
        """
        key = self.key(source, rgb)
        path = self.path_for(key)
        if path.is_file():
            try:
                cached = read_image(path).pixels
            except InputError:
                cached = None  # damaged entry (e.g. a full disk earlier): recompute over it
            if (cached is not None and cached.ndim == 2 and cached.dtype == np.uint8
                    and (rgb is None or cached.shape == tuple(rgb.shape[:2]))):
                self.hits += 1
                return to_float(cached)

        if rgb is None:
            if not isinstance(source, (str, Path)) or not os.path.isfile(source):
                raise UsageError(
                    "SaliencyCache.get needs the image when the source is not an image file"
                )
            rgb = read_image(source).pixels
        q = np.rint(compute_saliency(rgb) * 255.0).astype(np.uint8)
        self.misses += 1
        ok, buf = cv2.imencode(".png", q)
        if not ok:  # pragma: no cover - only on a broken OpenCV build
            raise OutputError("cannot encode the saliency map as PNG", path=path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buf.tobytes(), what="saliency map")
        except OSError as e:
            raise OutputError(
                f"cannot write to the saliency cache ({e.strerror or e})",
                path=path,
                hint="check the cache folder is writable and the disk is not full",
            ) from None
        return to_float(q)


def load_saliency_map(
    directory: str | Path, stem: str, size: tuple[int, int]
) -> np.ndarray | None:
    """Precomputed map ``directory/stem.<ext>`` as (height, width) = ``size`` float32 [0, 1].

    Read by read_image (upright, alpha over white). Grey 8-bit maps are divided by 255 (16-bit by
    65535); colour maps are converted to grey (OpenCV's RGB -> grey).
    Returns None when the folder holds no map for ``stem``.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError("saliency folder does not exist", path=d, hint="check --saliency")
    if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
        raise UsageError(f"size must be (height, width) with positive integers, got {size!r}")
    height, width = int(size[0]), int(size[1])

    found = None
    for ext in MAP_EXTENSIONS:
        for candidate in (d / f"{stem}{ext}", d / f"{stem}{ext.upper()}"):
            if candidate.is_file():
                found = candidate
                break
        if found is not None:
            break
    if found is None:
        return None

    m = read_image(found).pixels  # upright, alpha over white
    if m.ndim == 3:
        m = cv2.cvtColor(m, cv2.COLOR_RGB2GRAY)
    m = to_float(m)
    if m.shape != (height, width):
        m = _resize(m, height, width)
    return np.clip(m, 0.0, 1.0).astype(np.float32, copy=False)
