"""Training datasets for both tasks, built on rawcolour.data.samples (the same decoding eval uses).

- :class:`ColouriseDataset`: colour photos -> ``{"rgb": (3, S, S)}`` in [0, 1]; Lab conversion
  happens batch-wise on the device.
- :class:`SyntheticRawDataset`: colour photos -> a random ``2S`` crop at full resolution,
  unprocessed with a fresh random camera -> ``{"raw": (4, S, S), "rgb": (3, S, S)[, "saliency": (1, S, S)]}``.
- :class:`DeveloperDataset`: colour photos -> shots through simulated real cameras for the learned
  developer -> ``{"raw": (4, S, S), "rgb": (3, 2S, 2S) linear sRGB[, "saliency"]}``.
- :class:`PairedRawDataset`: Zurich / RAW2RGB-GAN pairs -> the same keys.

Every random choice of a sample (crop, flips, camera, noise) comes from a generator seeded by
``(seed, epoch key, index)`` (the sampler hands out ``(epoch key, index)`` pairs): a sample does not depend on which process or worker makes it, on
the order it is asked for, or on anything drawn before. That is what makes ``--resume`` exact
and lets DataLoader workers run in any start method. Validation samples use a fixed key, so
they are the same every time (and in every run with the same seed).

Greyscale photos teach a colouriser nothing and give a raw2rgb model monochrome targets: they
are skipped and counted (as are unreadable files) when the photo list is scanned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from rawcolour.data import samples as data
from rawcolour.data import unprocess
from rawcolour.errors import InputError, RawcolourError, UsageError
from rawcolour.data.saliency import SaliencyCache, load_saliency_map
from rawcolour.distributed import Ranks
from rawcolour.io.packed_png import ZURICH_WHITE
from rawcolour.tasks import get_task

_VAL_KEY = 0x7A1  # epoch key of validation samples
_CACHE_BUDGET = 1 << 30  # bytes of decoded photos kept in memory


# --------------------------------------------------------------------------- photo lists


@dataclass
class PhotoIndex:
    """Colour photos usable for training, with what was skipped and why."""

    paths: list[Path]
    grey_skipped: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    cache: dict[Path, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "photos": len(self.paths),
            "greyscale_skipped": len(self.grey_skipped),
            "unreadable_skipped": len(self.unreadable),
            "greyscale_examples": [p.name for p in self.grey_skipped[:5]],
            "unreadable_examples": [f"{p.name}: {why}" for p, why in self.unreadable[:5]],
        }


def scan_photos(paths: list[Path], *, limit: int | None = None, cache: bool = True,
                cache_budget: int = _CACHE_BUDGET) -> PhotoIndex:
    """Decode photos in order, keeping colour ones (at most ``limit``); greyscale/unreadable are counted.

    Decoded pixels are kept in memory while they fit ``cache_budget`` bytes (small data sets are
    then decoded once per run instead of once per epoch).
    """
    index = PhotoIndex(paths=[])
    used = 0
    for p in paths:
        if limit is not None and len(index.paths) >= limit:
            break
        try:
            rgb = data.read_image(p).pixels
        except RawcolourError as err:
            index.unreadable.append((p, err.problem))
            continue
        if data.is_greyscale(rgb):
            index.grey_skipped.append(p)
            continue
        index.paths.append(p)
        if cache and used + rgb.nbytes <= cache_budget:
            index.cache[p] = rgb
            used += rgb.nbytes
    return index


def split_items(items: list, fraction: float, max_val: int, seed: int) -> tuple[list, list]:
    """(train, val): a seeded random ``fraction`` (at least 1, at most ``max_val``) is held out."""
    if fraction <= 0 or len(items) < 2:
        return list(items), []
    k = min(max_val, max(1, round(fraction * len(items))), len(items) - 1)
    perm = np.random.default_rng([seed, 0x5B1]).permutation(len(items))
    held = set(int(i) for i in perm[:k])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


# --------------------------------------------------------------------------- augmentation


def _augment_hwc(arrays: list[np.ndarray], augment: tuple[str, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random rot90 / horizontal flip on each (H, W[, C]) array."""
    if "rot90" in augment:
        k = int(rng.integers(0, 4))
        if k:
            arrays = [np.rot90(a, k, axes=(0, 1)) for a in arrays]
    if "flip" in augment and rng.random() < 0.5:
        arrays = [a[:, ::-1] for a in arrays]
    return [np.ascontiguousarray(a) for a in arrays]


def _crop_box(h: int, w: int, size: int, rng: np.random.Generator | None) -> tuple[int, int]:
    if rng is None:
        return (h - size) // 2, (w - size) // 2
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def _chw(a: np.ndarray) -> torch.Tensor:
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))


# --------------------------------------------------------------------------- saliency


class SaliencySource:
    """Saliency targets: a folder of precomputed maps (by file stem), else computed and cached on disk."""

    def __init__(self, maps_dir: str | Path | None, cache_dir: str | Path | None):
        self.maps_dir = Path(maps_dir) if maps_dir else None
        if self.maps_dir is not None and not self.maps_dir.is_dir():
            raise InputError("saliency folder does not exist", path=self.maps_dir, hint="check --saliency")
        self.cache = SaliencyCache(cache_dir) if cache_dir and self.maps_dir is None else None

    def get(self, stem_source: Path, rgb: np.ndarray, own_map: Path | None = None) -> np.ndarray:
        """(H, W) float32 [0, 1] map for the picture ``rgb`` read from ``stem_source``."""
        size = tuple(rgb.shape[:2])
        if own_map is not None:  # the RAW2RGB-GAN layout's own saliency folder
            m = load_saliency_map(own_map.parent, own_map.stem, size)
            if m is not None:
                return m
        if self.maps_dir is not None:
            m = load_saliency_map(self.maps_dir, stem_source.stem, size)
            if m is None:
                raise InputError(f"no saliency map named {stem_source.stem}.*", path=self.maps_dir,
                                 hint="--saliency needs one map per target, named like it")
            return m
        if self.cache is None:
            raise UsageError("no saliency source configured")
        return self.cache.get(stem_source, rgb)


# --------------------------------------------------------------------------- datasets


class _SeededDataset(Dataset):
    """Per-sample generators from (seed, epoch key, index).

    Items are asked for as ``(epoch_key, index)`` pairs (what the training sampler yields, so
    persistent DataLoader workers need no epoch message) or as a plain index (epoch key 0, or the
    fixed validation key).
    """

    def __init__(self, seed: int, train: bool):
        self.seed = int(seed)
        self.train = train

    def _key_index(self, item: int | tuple[int, int]) -> tuple[np.random.Generator, int]:
        key, index = (int(item[0]), int(item[1])) if isinstance(item, (tuple, list)) else (0, int(item))
        return np.random.default_rng([self.seed, key if self.train else _VAL_KEY, index]), index


class _PhotoDataset(_SeededDataset):
    def __init__(self, photos: PhotoIndex, seed: int, train: bool):
        super().__init__(seed, train)
        self.photos = photos

    def __len__(self) -> int:
        return len(self.photos.paths)

    def photo(self, index: int) -> tuple[Path, np.ndarray]:
        p = self.photos.paths[index]
        rgb = self.photos.cache.get(p)
        if rgb is None:
            rgb = data.read_image(p).pixels
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        return p, rgb


class ColouriseDataset(_PhotoDataset):
    """Colour photos -> {"rgb": (3, S, S) float32 [0, 1]}: short side resized, cropped, flipped."""

    def __init__(self, photos: PhotoIndex, crop: int, augment: tuple[str, ...], seed: int, train: bool):
        super().__init__(photos, seed, train)
        self.crop, self.augment = crop, augment

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        rng, index = self._key_index(item)
        _, rgb = self.photo(index)
        short = round(self.crop * 286 / 256) if self.train and "resize286" in self.augment else self.crop
        img = data.to_float(data.resize_short_side(rgb, short))
        y, x = _crop_box(img.shape[0], img.shape[1], self.crop, rng if self.train else None)
        img = img[y:y + self.crop, x:x + self.crop]
        if self.train:
            (img,) = _augment_hwc([img], self.augment, rng)
        return {"rgb": _chw(img)}

    def small_photos(self, short: int) -> Iterator[torch.Tensor]:
        """Every photo whole, resized to ``short`` pixels on its short side: (3, h, w) in [0, 1]."""
        for index in range(len(self)):
            yield _chw(data.to_float(data.resize_short_side(self.photo(index)[1], short)))


class _RawFromPhotoDataset(_PhotoDataset):
    """Photos cut into sensor-size crops (twice the packed crop) with their saliency maps, for raw2rgb."""

    def __init__(self, photos: PhotoIndex, crop: int, augment: tuple[str, ...], seed: int, train: bool,
                 saliency: SaliencySource | None = None):
        super().__init__(photos, seed, train)
        self.crop, self.augment, self.saliency = crop, augment, saliency

    def sensor_crop(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """(2S, 2S, 3) photo crop and its (2S, 2S) saliency map (None without a saliency source),
        cropped (randomly when training) and augmented together."""
        path, rgb = self.photo(index)
        full = 2 * self.crop
        if min(rgb.shape[:2]) < full:
            rgb = data.resize_short_side(rgb, full)
        sal = self.saliency.get(path, rgb) if self.saliency is not None else None
        y, x = _crop_box(rgb.shape[0], rgb.shape[1], full, rng if self.train else None)
        arrays = [rgb[y:y + full, x:x + full]]
        if sal is not None:
            arrays.append(sal[y:y + full, x:x + full])
        if self.train:
            arrays = _augment_hwc(arrays, self.augment, rng)
        return arrays[0], (arrays[1] if sal is not None else None)


class SyntheticRawDataset(_RawFromPhotoDataset):
    """Colour photos -> unprocessed packed RAW crops (fresh random camera per sample)."""

    def __init__(self, photos: PhotoIndex, crop: int, augment: tuple[str, ...], seed: int, train: bool,
                 saliency: SaliencySource | None = None, gains: str = "brooks"):
        super().__init__(photos, crop, augment, seed, train, saliency)
        self.gains = gains

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        rng, index = self._key_index(item)
        photo, sal = self.sensor_crop(index, rng)
        camera = unprocess.random_params(rng, gains=self.gains)
        packed, target, _ = data.synthetic_raw_sample(photo, rng, params=camera)
        out = {"raw": torch.from_numpy(packed), "rgb": torch.from_numpy(target)}
        if sal is not None:
            out["saliency"] = _chw(unprocess.area_half(sal))
        return out


class DeveloperDataset(_RawFromPhotoDataset):
    """Colour photos -> shots through real camera models (rawcolour.data.camera_sim), for the learned
    developer: ``{"raw": (4, S, S) balanced input, "rgb": (3, 2S, 2S) linear sRGB truth[, "saliency": (1, 2S, 2S)]}``.

    Training draws a camera, light, exposure, ISO, bit depth and black level per sample; validation
    samples draw theirs from the fixed validation key, so they are the same in every run.
    """

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        from rawcolour.data.camera_sim import developer_sample, draw_shot

        rng, index = self._key_index(item)
        photo, sal = self.sensor_crop(index, rng)
        model_input, truth = developer_sample(photo, draw_shot(rng), rng)
        out = {"raw": torch.from_numpy(model_input), "rgb": torch.from_numpy(truth)}
        if sal is not None:
            out["saliency"] = _chw(sal)
        return out


class PairedRawDataset(_SeededDataset):
    """Zurich / RAW2RGB-GAN pairs -> packed crops, targets at packed resolution, saliency."""

    def __init__(self, pairs: list[data.RawPair], crop: int, augment: tuple[str, ...], seed: int, train: bool,
                 saliency: SaliencySource | None = None, cfa: str = "RGGB", black: float = 0.0, white: float = ZURICH_WHITE):
        super().__init__(seed, train)
        self.pairs, self.crop, self.augment, self.saliency = pairs, crop, augment, saliency
        self.levels = {"cfa": cfa, "black": black, "white": white}

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        rng, index = self._key_index(item)
        pair = self.pairs[index]
        packed, target = data.load_raw_pair(pair, **self.levels)
        h, w = packed.shape[1:]
        if min(h, w) < self.crop:
            raise InputError(f"packed raw is {w}x{h}, smaller than --crop-size {self.crop}", path=pair.raw,
                             hint="lower --crop-size")
        arrays = [packed.transpose(1, 2, 0), target.transpose(1, 2, 0)]
        if self.saliency is not None:
            arrays.append(self.saliency.get(pair.target, arrays[1], own_map=pair.saliency))
        y, x = _crop_box(h, w, self.crop, rng if self.train else None)
        arrays = [a[y:y + self.crop, x:x + self.crop] for a in arrays]
        if self.train:
            # rot90/flip of the packed planes, as the reference code does: the planes stay R, G, B, G;
            # only their sub-pixel offsets change (a half-pixel shift at packed resolution).
            arrays = _augment_hwc(arrays, self.augment, rng)
        out = {"raw": _chw(arrays[0]), "rgb": _chw(arrays[1])}
        if self.saliency is not None:
            out["saliency"] = _chw(arrays[2])
        return out


# --------------------------------------------------------------------------- building


def dataset_name(folder: str | Path) -> str:
    """How a run's metadata names a data folder: its own name, never the machine's path to it
    (checkpoints are shared; "/tmp/ship/train" says nothing and leaks a local path)."""
    return Path(folder).resolve().name or str(folder)


class ResumableSampler(DistributedSampler):
    """torch's DistributedSampler (order from seed + epoch, one shard per rank) that can start mid-epoch.

    Yields ``(epoch, index)`` pairs: the datasets seed each sample from them (see the module docstring).
    """

    def __init__(self, dataset: Any, info: Ranks, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=info.world, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.start = 0

    def set_start(self, n: int) -> None:
        self.start = int(n)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        return iter([(self.epoch, i) for i in list(super().__iter__())[self.start:]])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.start)


def train_loader(dataset: Dataset, sampler: ResumableSampler, batch_size: int, num_workers: int | None,
                 device: torch.device) -> DataLoader:
    """The run's DataLoader: ``num_workers`` None means 0 on a CPU, 4 on CUDA; workers are spawned
    (rawpy/LibRaw's OpenMP may deadlock in forked ones) and persist across epochs."""
    workers = num_workers
    if workers is None:
        workers = 4 if device.type == "cuda" else 0
    kw: dict[str, Any] = {}
    if workers > 0:
        # rawpy/LibRaw (OpenMP) may deadlock in forked workers: spawn them instead
        kw = {"multiprocessing_context": "spawn", "persistent_workers": True}
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=workers,
                      pin_memory=device.type == "cuda", **kw)


@dataclass
class DataBundle:
    train: Dataset
    val: Dataset
    summary: dict[str, Any]


def build_datasets(cfg: Any, crop: int, augment: tuple[str, ...], *, need_saliency: bool,
                   saliency_cache: Path | None, input_space: str = "") -> DataBundle:
    """Training and validation datasets for a TrainConfig (see its fields) and resolved crop/augment.

    ``input_space`` is the model's (IOSpec.input_space): "raw-balanced-srgb" models (the learned
    developer) train on photos shot through simulated real cameras.
    """
    developer = input_space == "raw-balanced-srgb"
    if developer and not cfg.synthetic_raw:
        raise UsageError(f"{cfg.model} learns from photos shot through simulated cameras, not from paired RAW data",
                         hint="pass --synthetic-raw with a folder of colour photos")
    if cfg.synthetic_raw or not get_task(cfg.task).reads_raw:
        return _photo_datasets(cfg, crop, augment, need_saliency, saliency_cache, developer)
    return _paired_datasets(cfg, crop, augment, need_saliency, saliency_cache)


def _train_val(items: list, cfg: Any, list_val: Any) -> tuple[list, list, str]:
    """(training items, validation items, where the latter came from): --val's, else a held-out split."""
    if cfg.val:
        return items, list_val(cfg.val)[: cfg.val_max], "folder"
    train, val = split_items(items, cfg.val_split, cfg.val_max, cfg.seed)
    return train, val, "held-out split"


def _sources(cfg: Any, val_source: str) -> dict[str, Any]:
    return {"data": dataset_name(cfg.data), "val": dataset_name(cfg.val) if cfg.val else None, "val_source": val_source}


def _photo_datasets(cfg: Any, crop: int, augment: tuple[str, ...], need_saliency: bool, saliency_cache: Path | None,
                    developer: bool) -> DataBundle:
    """Colourise, synthetic raw or the learned developer's camera shots: all from colour photos."""
    all_paths = data.list_photos(cfg.data)
    if not all_paths:
        raise InputError("no photos found", path=cfg.data,
                         hint=f"--data needs image files ({', '.join(sorted(data.IMAGE_EXTENSIONS))})")
    train_paths, val_paths, val_source = _train_val(all_paths, cfg, data.list_photos)
    train_ix = scan_photos(train_paths, limit=cfg.max_samples, cache=cfg.cache_photos)
    val_ix = scan_photos(val_paths, cache=cfg.cache_photos)
    if not train_ix.paths:
        raise InputError("no colour photos to train on", path=cfg.data,
                         hint=f"of the {len(train_paths)} files for training"
                              + (" (the rest are held out for validation)" if len(train_paths) < len(all_paths) else "")
                              + f", {len(train_ix.grey_skipped)} are greyscale and {len(train_ix.unreadable)} unreadable")
    colourise = not get_task(cfg.task).reads_raw
    kind = "photos" if colourise else "camera-shots" if developer else "synthetic-raw"
    summary = {"kind": kind, **_sources(cfg, val_source), "train": train_ix.summary(), "val_set": val_ix.summary()}
    if colourise:
        return DataBundle(ColouriseDataset(train_ix, crop, augment, cfg.seed, True),
                          ColouriseDataset(val_ix, crop, (), cfg.seed, False), summary)
    sal = SaliencySource(cfg.saliency, saliency_cache) if need_saliency else None
    if developer:
        return DataBundle(DeveloperDataset(train_ix, crop, augment, cfg.seed, True, sal),
                          DeveloperDataset(val_ix, crop, (), cfg.seed, False, None), summary)
    train = SyntheticRawDataset(train_ix, crop, augment, cfg.seed, True, sal, gains=cfg.synthetic_gains)
    val = SyntheticRawDataset(val_ix, crop, (), cfg.seed, False, None)  # the paper's cameras, comparable across runs
    return DataBundle(train, val, summary)


def _paired_datasets(cfg: Any, crop: int, augment: tuple[str, ...], need_saliency: bool,
                     saliency_cache: Path | None) -> DataBundle:
    """Zurich / RAW2RGB-GAN pairs of a raw and its target picture."""
    pairs = data.list_raw_pairs(cfg.data, cfg.layout)
    train_pairs, val_pairs, val_source = _train_val(pairs, cfg, lambda folder: data.list_raw_pairs(folder, cfg.layout))
    if cfg.max_samples:
        train_pairs = train_pairs[: cfg.max_samples]
    sal = None
    if need_saliency:
        has_own = all(p.saliency is not None for p in train_pairs)
        sal = SaliencySource(cfg.saliency, None if has_own and not cfg.saliency else saliency_cache)
    lv = {"cfa": cfg.cfa, "black": cfg.black, "white": cfg.white}
    train = PairedRawDataset(train_pairs, crop, augment, cfg.seed, True, sal, **lv)
    val = PairedRawDataset(val_pairs, crop, (), cfg.seed, False, None, **lv)
    summary = {"kind": f"paired-{pairs[0].layout}", **_sources(cfg, val_source),
               "train": {"pairs": len(train_pairs)}, "val_set": {"pairs": len(val_pairs)}}
    return DataBundle(train, val, summary)


__all__ = [
    "ColouriseDataset",
    "DataBundle",
    "DeveloperDataset",
    "PairedRawDataset",
    "PhotoIndex",
    "ResumableSampler",
    "SaliencySource",
    "SyntheticRawDataset",
    "build_datasets",
    "dataset_name",
    "scan_photos",
    "split_items",
    "train_loader",
]
