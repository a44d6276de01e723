"""Sample listing and decoding shared by training and evaluation, so both see the same pixels.

- Photos (colourise data, and the sources of synthetic RAW): :func:`list_photos`, :func:`read_photo`,
  :func:`is_greyscale` (greyscale photos teach a colouriser nothing: callers skip and count them),
  :func:`resize_short_side`, :func:`fit_crop` (resize the short side, then a random or centre square crop).
- Paired RAW data: :func:`list_raw_pairs` understands two folder layouts and :func:`load_raw_pair`
  decodes one pair to ``(packed (4, h, w), target (3, h, w))``, both float32 in [0, 1]:

  * ``zurich`` (Zurich RAW-to-RGB, as the PyNET code reads it): ``DIR/huawei_raw/N.png`` (one-channel
    16-bit Bayer mosaic, 448x448) and ``DIR/canon/N.jpg`` (448x448). The raw packs to 224x224; the
    target is area-downscaled x2 to 224x224, because raw2rgb models output one RGB pixel per Bayer
    quad. An optional ``DIR/saliency/N.*`` folder is picked up as saliency maps.
  * ``rawgan`` (zhaoyuzhi/RAW2RGB-GAN): ``DIR/<...>PhoneRaw/N.png`` (packed 4-channel 8-bit RGBA,
    R, G, B, G, 224x224), ``DIR/<...>CanonRGB/N.jpg`` (same size) and optionally
    ``DIR/<...>CanonRGB_saliency/N.jpg`` (SalGAN maps), e.g. ``TrainingPhoneRaw``,
    ``TrainingCanonRGB``, ``TrainingCanonRGB_saliency`` as in that repository's README.

- Synthetic RAW from any colour photo: :func:`synthetic_raw_sample` crops at full resolution,
  then unprocesses (REFERENCE.md section 6) with a fresh random camera to a packed crop.

Targets are decoded with :func:`rawcolour.io.images.read_image` and divided by 255 (65535 for 16-bit),
the same scaling inference outputs are written with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rawcolour.errors import InputError, UsageError
from rawcolour.io.images import IMAGE_EXTENSIONS, read_image
from rawcolour.io.pixels import to_float
from rawcolour.io.packed_png import ZURICH_WHITE, read_rawgan_png, read_zurich_png
from rawcolour.data.names import LAYOUTS
from rawcolour.data.unprocess import UnprocessParams, area_half, synthetic_pair

__all__ = [
    "GREY_TOLERANCE",
    "LAYOUTS",
    "RawPair",
    "fit_crop",
    "is_greyscale",
    "list_photos",
    "list_raw_pairs",
    "resize_short_side",
    "load_raw_pair",
    "read_photo",
    "synthetic_raw_sample",
]

# A photo is greyscale when 99% of its pixels have max(R,G,B) - min(R,G,B) at most this (in [0,1]
# units, ~5/255): JPEG chroma noise of a grey picture stays below it, and a small coloured
# watermark (under 1% of the frame) does not make a grey photo count as colour.
GREY_TOLERANCE = 0.02
_GREY_PERCENTILE = 99.0
_GREY_THUMB = 128  # the test looks at a ~128-pixel thumbnail (speed; the statistic barely moves)


def _natural_key(path: Path) -> tuple:
    """Sort '2.png' before '10.png' (both paired layouts number their files)."""
    parts = re.split(r"(\d+)", str(path))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


# --------------------------------------------------------------------------- photos


def list_photos(directory: str | Path, *, recursive: bool = True) -> list[Path]:
    """Image files (suffixes of images.IMAGE_EXTENSIONS, any case) under a folder, sorted.

    A file path is returned as a one-item list. Hidden files and folders are skipped.
    """
    d = Path(directory)
    if d.is_file():
        return [d]
    if not d.is_dir():
        raise InputError("folder does not exist", path=d, hint="check --data / --val")
    pattern = "**/*" if recursive else "*"
    found = [
        p for p in d.glob(pattern)
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(d).parts)
    ]
    return sorted(found, key=_natural_key)


def read_photo(path: str | Path) -> np.ndarray:
    """A photo as (H, W, 3) uint8/uint16 (greyscale files are repeated to three channels)."""
    pixels = read_image(path).pixels
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return pixels


def is_greyscale(rgb: np.ndarray, tol: float = GREY_TOLERANCE) -> bool:
    """True for a picture without colour: 2-D, or 99% of pixels with channel spread <= ``tol``.

    ``rgb``: (H, W) or (H, W, 3), uint8, uint16 or float in [0, 1].
    """
    a = np.asarray(rgb)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        return True
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) picture, got shape {a.shape}")
    step = max(1, min(a.shape[0], a.shape[1]) // _GREY_THUMB)
    a = a[::step, ::step]
    a = to_float(a) if a.dtype in (np.uint8, np.uint16) else a.astype(np.float32)
    spread = a.max(axis=2) - a.min(axis=2)
    return bool(np.percentile(spread, _GREY_PERCENTILE) <= tol)


def resize_short_side(img: np.ndarray, short: int) -> np.ndarray:
    """``img`` (H, W[, C]) scaled so its short side is ``short`` pixels, the long side alike (rounded):
    area resampling down, bilinear up; ``img`` itself when the short side is already ``short``."""
    h, w = img.shape[:2]
    if min(h, w) == short:
        return img
    f = short / min(h, w)
    size = (max(short, round(w * f)), max(short, round(h * f)))
    out = cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    return out if out.ndim == img.ndim else out.reshape(size[1], size[0], *img.shape[2:])  # cv2 drops a last 1


def fit_crop(
    rgb: np.ndarray, size: int, rng: np.random.Generator | None = None, *, scale_short_side: int | None = None
) -> np.ndarray:
    """Resize so the short side is ``scale_short_side`` (default ``size``), then a ``size`` square crop.

    Random crop with ``rng``, centre crop without. Photos whose short side is already at least the
    target are downscaled with area resampling; smaller ones are upscaled (bilinear).
    """
    if size < 1:
        raise UsageError(f"crop size must be positive, got {size}")
    short = scale_short_side or size
    if short < size:
        raise UsageError(f"short side {short} is smaller than the crop {size}")
    rgb = resize_short_side(rgb, short)
    h, w = rgb.shape[:2]
    if rng is None:
        y, x = (h - size) // 2, (w - size) // 2
    else:
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return np.ascontiguousarray(rgb[y : y + size, x : x + size])


# --------------------------------------------------------------------------- paired RAW data


@dataclass(frozen=True)
class RawPair:
    """One paired raw2rgb sample: raw file, target sRGB file, optional saliency map, layout."""

    raw: Path
    target: Path
    saliency: Path | None
    layout: str  # "zurich" | "rawgan"


def _subdir(d: Path, exact: tuple[str, ...] = (), suffix: str | None = None) -> Path | None:
    subs = sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
    for p in subs:
        if p.name.lower() in exact:
            return p
    if suffix:
        for p in subs:
            if p.name.lower().endswith(suffix):
                return p
    return None


def _detect_layout(d: Path) -> tuple[str, dict[str, Path | None]] | None:
    raw = _subdir(d, ("huawei_raw",))
    tgt = _subdir(d, ("canon",))
    if raw and tgt:
        return "zurich", {"raw": raw, "target": tgt, "saliency": _subdir(d, ("saliency", "canon_saliency"))}
    raw = _subdir(d, suffix="phoneraw")
    tgt = _subdir(d, suffix="canonrgb")
    if raw and tgt:
        return "rawgan", {"raw": raw, "target": tgt, "saliency": _subdir(d, suffix="canonrgb_saliency")}
    return None


def _by_stem(d: Path | None) -> dict[str, Path]:
    if d is None:
        return {}
    out: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            out.setdefault(p.stem, p)
    return out


def list_raw_pairs(directory: str | Path, layout: str = "auto") -> list[RawPair]:
    """Pairs of a Zurich RAW-to-RGB or RAW2RGB-GAN folder (see the module docstring), sorted by number.

    Raises InputError when the folder matches neither layout, holds no pairs, or a raw file has no
    target.
    """
    if layout not in LAYOUTS:
        raise UsageError(f"unknown paired-data layout {layout!r}", hint=f"use one of {', '.join(LAYOUTS)}")
    d = Path(directory)
    if not d.is_dir():
        raise InputError("folder does not exist", path=d, hint="check --data / --val")
    found = _detect_layout(d)
    if found is None or (layout != "auto" and found[0] != layout):
        want = {
            "zurich": "huawei_raw/N.png + canon/N.jpg",
            "rawgan": "<...>PhoneRaw/N.png + <...>CanonRGB/N.jpg [+ <...>CanonRGB_saliency/N.jpg]",
        }
        expected = want[layout] if layout != "auto" else f"{want['zurich']} (Zurich) or {want['rawgan']} (RAW2RGB-GAN)"
        raise InputError(
            "not a paired RAW data folder" + (f" in the {layout} layout" if layout != "auto" else ""),
            path=d,
            hint=f"expected subfolders {expected}; for a folder of ordinary photos use --synthetic-raw",
        )
    kind, dirs = found
    raws = {s: p for s, p in _by_stem(dirs["raw"]).items() if p.suffix.lower() == ".png"}
    targets = _by_stem(dirs["target"])
    sals = _by_stem(dirs["saliency"])
    if not raws:
        raise InputError("no raw PNG files", path=dirs["raw"], hint="the raw folder should hold N.png files")
    missing = sorted(set(raws) - set(targets), key=lambda s: _natural_key(Path(s)))
    if missing:
        raise InputError(
            f"{len(missing)} raw file(s) have no target, e.g. {missing[0]}",
            path=dirs["target"],
            hint="each raw N.png needs a target N.jpg (or .png) with the same number",
        )
    pairs = [RawPair(raws[s], targets[s], sals.get(s), kind) for s in raws]
    return sorted(pairs, key=lambda p: _natural_key(p.raw))


def _target_float(path: Path) -> np.ndarray:
    """Target picture as (H, W, 3) float32 in [0, 1]."""
    return to_float(read_photo(path))


def load_raw_pair(
    pair: RawPair, *, cfa: str = "RGGB", black: float = 0.0, white: float = ZURICH_WHITE
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a pair: packed (4, h, w) float32 [0,1] R,Gr,B,Gb, target (3, h, w) float32 [0,1].

    ``cfa``/``black``/``white`` apply to Zurich mosaics. A target twice the packed size (Zurich:
    448 vs 224) is area-downscaled x2; one of the packed size (RAW2RGB-GAN) is used as it is.
    """
    if pair.layout == "zurich":
        packed = read_zurich_png(pair.raw, cfa=cfa, black=black, white=white).packed
    elif pair.layout == "rawgan":
        packed = read_rawgan_png(pair.raw).packed
    else:
        raise UsageError(f"unknown paired-data layout {pair.layout!r}", hint="use zurich or rawgan")
    target = _target_float(pair.target)
    h, w = packed.shape[1:]
    th, tw = target.shape[:2]
    if (th, tw) == (2 * h, 2 * w) or (th // 2, tw // 2) == (h, w):
        target = area_half(target)
    elif (th, tw) != (h, w):
        raise InputError(
            f"target is {tw}x{th} but the packed raw is {w}x{h}",
            path=pair.target,
            hint="the target must be the size of the packed raw or twice it (the mosaic's size)",
        )
    return packed, np.ascontiguousarray(target.transpose(2, 0, 1), dtype=np.float32)


# --------------------------------------------------------------------------- synthetic RAW


def synthetic_raw_sample(
    photo: str | Path | np.ndarray,
    rng: np.random.Generator | int | None,
    *,
    size: int | None = None,
    crop: str = "random",
    noise: bool = True,
    params: UnprocessParams | None = None,
) -> tuple[np.ndarray, np.ndarray, UnprocessParams]:
    """A synthetic raw2rgb pair from a colour photo: (packed (4,s,s), target (3,s,s), camera params).

    With ``size``, a ``2*size`` square is cut at full resolution (``crop``: "random" or "centre";
    photos whose short side is under ``2*size`` are first upscaled to it), then unprocessed to
    a ``size`` packed crop with a fresh random camera from ``rng`` (unless ``params`` is given).
    Without ``size`` the whole photo (even sides) is used.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    rgb = read_photo(photo) if isinstance(photo, (str, Path)) else np.asarray(photo)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if size is not None:
        if crop not in ("random", "centre", "center"):
            raise UsageError(f"unknown crop {crop!r}", hint="use random or centre")
        full = 2 * int(size)
        short = max(full, min(rgb.shape[:2]))
        rgb = fit_crop(rgb, full, rng if crop == "random" else None, scale_short_side=short)
    packed, target, params = synthetic_pair(rgb, rng, noise=noise, params=params)
    return packed, target, params

