"""Run models over a dataset and collect the papers' metrics: the library side of `rawcolour eval`.

Every model sees exactly the same inputs: each picture is decoded (or synthesised) once and fed to
all models in turn, through the same pipelines as `rawcolour colourise` / `raw2rgb`, so the
figures describe what a user gets. Outputs and ground truth are scored as the 8-bit images a user
would save (``metrics.to_uint8``). Dataset figures are means of per-picture figures (as both
papers average per image), except the histogram overlaps, which compare histograms pooled over
the whole dataset (Fig. 4 of the colourisation paper).

Policies (also recorded in :attr:`EvalResult.settings`):

- colourise: colour photos of the folder at full size (e.g. Kodak's 768x512), greyscale ones
  skipped and counted. The model sees only the photo's Lab L channel (``colour.rgb_to_grey_l``
  in the pipeline) and runs at its default render mode (chroma predicted at the policy's render
  size, upsampled, merged with the full-resolution L), compared with the original photo.
- raw2rgb, paired (``--layout``): ``data.load_raw_pair``; outputs and targets at packed resolution.
- raw2rgb, synthetic (``synthetic=True``): each whole photo (even sides) is unprocessed with a
  random camera drawn from ``numpy.random.default_rng([seed, crc32(file name)])``, so a picture's
  raw is the same in every run, for every model, whatever ``limit`` or the folder's other files.
  The synthetic camera's white balance and colour matrix go into the RawPicture, as a DNG would
  carry them, so `classic` can use them.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rawcolour.checkpoint import load_model
from rawcolour.colour import lab_to_rgb
from rawcolour.errors import InputError, RawcolourError, UsageError
from rawcolour.eval import metrics
from rawcolour.eval.scoring import (
    SSIM_SETTING,
    EvalModel,
    EvalResult,
    Progress,
    Scoreboard,
    checked_options,
    display_name,
    mean,
)
from rawcolour.io.packed_png import ZURICH_WHITE
from rawcolour.io.raw import RawPicture
from rawcolour.registry import is_model
from rawcolour.tasks import check_model_task, get_task

if TYPE_CHECKING:
    from rawcolour.inference.pipelines import InferenceOptions, Result

__all__ = ["RANDOM_INIT_SEED", "evaluate_colourise", "evaluate_raw2rgb", "load_models", "synthetic_seed"]

RANDOM_INIT_SEED = 0


# ----------------------------------------------------------------------------------- models


def load_models(names: Sequence[str], task: str, *, baseline: bool = True,
                allow_random: bool = False) -> list[EvalModel]:
    """Load each name or checkpoint for `task` (on the CPU; the pipelines move an inference copy to
    the device of the options), the task's baseline first (unless `baseline` is False).

    `allow_random` evaluates a freshly initialised network when a registry model has no weights
    (smoke tests and demos; its row says "random-init"; the initialisation is seeded with
    RANDOM_INIT_SEED, so such a row is reproducible). A model of the other task is a UsageError.
    """
    spec = get_task(task)
    wanted = list(names)
    if baseline:  # the baselines first, in their own order, even when named
        wanted = list(spec.baselines) + [n for n in wanted if n not in spec.baselines]
    if not wanted:
        raise UsageError("no model to evaluate", hint="pass --model NAME|FILE (or keep the baseline row)")
    out: list[EvalModel] = []
    seen: dict[str, int] = {}
    for name in wanted:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)  # a random-init row is the same network in every run
            loaded = load_model(name, device="cpu", allow_random=allow_random)
        check_model_task(name, loaded.task or "unknown-task", task,
                         hint=f"list {task} models with `rawcolour models list --task {task}`")
        if loaded.net is None:
            weights = "baseline"
        elif loaded.source is None:
            weights = "random-init"
        else:
            weights = f"{loaded.source.name} ({(loaded.sha256 or '')[:12]})"
        label = loaded.name if is_model(str(name)) else Path(str(name)).stem  # a file: its stem
        if label in seen:  # the same model twice, or two checkpoints with one name
            seen[label] += 1
            label = f"{label}#{seen[label]}"
        else:
            seen[label] = 1
        out.append(EvalModel(label=label, model=loaded, weights=weights))
    return out


def _scored_output(board: Scoreboard, label: str, image: str, convert: Callable[[], Result], truth8: np.ndarray,
                   truth_name: str) -> tuple[np.ndarray, Result] | None:
    """Run one model on one picture: (8-bit output, result), or None with the failure recorded."""
    result = board.run(label, image, convert)
    if result is None:
        return None
    out8 = metrics.to_uint8(result.rgb)
    if out8.shape[:2] == (2 * truth8.shape[0], 2 * truth8.shape[1]):  # a developer writing the sensor's size
        out8 = metrics.half_size(out8)
        board.note(f"{label}: writes the sensor's size; scored area-downscaled by 2 to the {truth_name}")
    if out8.shape != truth8.shape:
        board.fail(image, label, f"output is {out8.shape[1]}x{out8.shape[0]}, the {truth_name} "
                                 f"{truth8.shape[1]}x{truth8.shape[0]}")
        return None
    return out8, result


# -------------------------------------------------------------------------------- colourise


def _grey_view(l_channel: np.ndarray) -> np.ndarray:
    """L (H, W) in 0..100 -> the 8-bit neutral grey picture with that lightness (what the model sees)."""
    lab = np.stack([l_channel, np.zeros_like(l_channel), np.zeros_like(l_channel)], axis=-1)
    rgb = lab_to_rgb(torch.from_numpy(lab.transpose(2, 0, 1).copy())[None], clip=True)[0]
    return metrics.to_uint8(rgb.permute(1, 2, 0).numpy())


class _ChromaTally:
    """What colourise pools over the whole dataset: the a and b histograms (fine ones for the plot,
    coarse ones for the overlap) of the ground truth and each model, and each model's hue hits."""

    TRUTH = "ground truth"

    def __init__(self, labels: Sequence[str]):
        fine, coarse = len(metrics.AB_BIN_EDGES) - 1, len(metrics.OVERLAP_BIN_EDGES) - 1
        names = [self.TRUTH, *labels]
        self.fine = {name: [np.zeros(fine, np.int64), np.zeros(fine, np.int64)] for name in names}
        self.coarse = {name: [np.zeros(coarse, np.int64) for _ in range(2)] for name in names}
        self.hue = {label: [np.zeros(metrics.HUE_SECTORS, np.int64), np.zeros(metrics.HUE_SECTORS, np.int64)]
                    for label in labels}

    def add(self, name: str, lab: np.ndarray) -> None:
        """Add a picture's a and b values to the plot's fine histograms and the overlap's coarse ones."""
        for h, c in zip(self.fine[name], metrics.ab_histograms(lab)):
            h += c
        for h, c in zip(self.coarse[name], metrics.ab_histograms(lab, metrics.OVERLAP_BIN_EDGES)):
            h += c

    def add_hue(self, label: str, hits: np.ndarray, colourful: np.ndarray) -> None:
        self.hue[label][0] += hits
        self.hue[label][1] += colourful

    def pooled(self, label: str) -> dict[str, float]:
        """A model's figures over the whole dataset: histogram overlaps and hue accuracy."""
        real_a, real_b = self.coarse[self.TRUTH]
        return {"overlap_a": metrics.histogram_intersection(self.coarse[label][0], real_a),
                "overlap_b": metrics.histogram_intersection(self.coarse[label][1], real_b),
                "hue_accuracy": metrics.balanced_hue_accuracy(*self.hue[label])}

    def histograms(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {k: (v[0], v[1]) for k, v in self.fine.items()}


def _colourise_figures(out8: np.ndarray, truth8: np.ndarray, lab_truth: np.ndarray, seconds: float,
                       perceptual: metrics.PerceptualDistance | None, chroma: _ChromaTally,
                       label: str) -> dict[str, float]:
    """One colourised picture's figures (its histograms and hue hits go to `chroma`)."""
    lab_out = metrics.rgb_to_lab_8bit(out8)
    ab = metrics.ab_errors_lab(lab_out, lab_truth)
    hits, colourful = metrics.hue_hits(lab_out, lab_truth)
    figures = {
        "psnr": metrics.psnr(out8, truth8),
        "ssim": metrics.ssim(out8, truth8),
        "ab_l1": ab.l1,
        "ab_psnr": ab.psnr,
        "colourfulness": metrics.colourfulness(out8),
        "hue_accuracy": metrics.balanced_hue_accuracy(hits, colourful),
        "seconds": float(seconds),
    }
    if perceptual is not None:
        figures["perceptual"] = perceptual(out8, truth8)
    chroma.add(label, lab_out)
    chroma.add_hue(label, hits, colourful)
    return figures


def _colourise_settings(opts: InferenceOptions, used: int, limit: int | None,
                        vgg_weights: str | Path | None) -> dict[str, Any]:
    return {
        "images": used,
        "image_size": "full size (as stored); colourisers predict chroma at their render size",
        "render_size": getattr(opts, "render_size", None),
        "tile": getattr(opts, "tile", None),
        "device": getattr(opts, "device", None),
        "precision": getattr(opts, "precision", None),
        "limit": limit,
        "ab_histogram_bins": f"plot: {len(metrics.AB_BIN_EDGES) - 1} bins of 1 Lab unit over [-110, 110]; "
                             f"overlap: {len(metrics.OVERLAP_BIN_EDGES) - 1} bins over [-110, 110]",
        "hue_accuracy": f"true C*ab > {metrics.HUE_TRUE_CHROMA:g}, {metrics.HUE_SECTORS} hue sectors, hit = "
                        f"predicted C*ab > {metrics.HUE_PRED_CHROMA:g} and hue within "
                        f"{metrics.HUE_TOLERANCE:g} degrees, mean over sectors with >= "
                        f"{metrics.HUE_MIN_FRACTION * 100:g}% of the colourful pixels; pooled over the dataset",
        "ssim": SSIM_SETTING,
        "vgg_weights": str(vgg_weights) if vgg_weights else None,
    }


def _colourise_rows(board: Scoreboard, chroma: _ChromaTally, truth_colourfulness: list[float]) -> list[dict]:
    rows = []
    truth_mean = mean(truth_colourfulness)
    for m in board.models:
        row = board.row(m)
        if board.counts[m.label]:
            # Pooled over the dataset (the per-picture hue accuracies are in per_image).
            row.update(chroma.pooled(m.label))
            row["colourfulness_ratio"] = row["colourfulness"] / truth_mean if truth_mean else None
        rows.append(row)
    return rows


def evaluate_colourise(data: str | Path, models: Sequence[EvalModel], *, options: InferenceOptions | None = None,
                       limit: int | None = None, samples: int = 0, vgg_weights: str | Path | None = None,
                       progress: Progress | None = None) -> EvalResult:
    """Colourise every colour photo of `data` with each model and score it against the photo.

    Figures per row: PSNR and SSIM on 8-bit RGB, ab-L1 / ab-PSNR (the paper's round trip),
    colourfulness, overlap of the dataset's a and b histograms with the ground truth's, and the VGG19
    perceptual distance when `vgg_weights` is given. `samples` keeps the first N pictures for a report.
    """
    from rawcolour.data.samples import is_greyscale, list_photos, read_photo
    from rawcolour.inference.pipelines import colourise_image

    opts = checked_options(options)
    photos = list_photos(data)
    if not photos:
        raise InputError("no image files in the data folder", path=data,
                         hint="point --data at a folder of colour photos (png, jpg, tif ...)")
    perceptual = metrics.PerceptualDistance(vgg_weights) if vgg_weights is not None else None
    keys = ["psnr", "ssim", "ab_l1", "ab_psnr", "colourfulness", "hue_accuracy", "seconds"] + (["perceptual"] if perceptual else [])
    board, chroma = Scoreboard(models, keys, samples), _ChromaTally([m.label for m in models])
    truth_colourfulness: list[float] = []
    skipped: list[dict[str, str]] = []
    for index, path in enumerate(photos, start=1):
        if limit is not None and len(truth_colourfulness) >= limit:
            break
        name = display_name(path, data)
        if progress:
            progress(index, len(photos) if limit is None else min(len(photos), limit), name)
        try:
            photo = read_photo(path)
        except RawcolourError as err:
            board.fail(name, "", str(err))
            continue
        if is_greyscale(photo):
            skipped.append({"image": name, "reason": "greyscale"})
            continue
        too_small = metrics.too_small_for_ssim(*photo.shape[:2])
        if too_small:
            skipped.append({"image": name, "reason": too_small})
            continue
        truth8 = metrics.to_uint8(photo)
        lab_truth = metrics.rgb_to_lab_8bit(truth8)
        truth_colourfulness.append(metrics.colourfulness(truth8))
        chroma.add(chroma.TRUTH, lab_truth)
        sample = board.sample(name, _grey_view(lab_truth[..., 0]), truth8)
        for m in models:
            ran = _scored_output(board, m.label, name, lambda: colourise_image(m.model, truth8, opts), truth8, "photo")
            if ran is None:
                continue
            out8, result = ran
            board.add(m.label, name, _colourise_figures(out8, truth8, lab_truth, result.seconds, perceptual, chroma,
                                                        m.label))
            if sample is not None:
                sample.outputs[m.label] = out8
        board.keep(sample)
    used = len(truth_colourfulness)
    if used == 0:
        grey = sum(d["reason"] == "greyscale" for d in skipped)
        small = f", {len(skipped) - grey} {metrics.too_small_for_ssim(1, 1)}" if len(skipped) > grey else ""
        raise InputError(f"no colour photos to evaluate ({grey} greyscale{small}, {len(board.failed)} unreadable)",
                         path=data, hint="colourisation is scored against colour originals")
    reference = {"model": "ground truth", "images": used, "colourfulness": mean(truth_colourfulness),
                 "colourfulness_ratio": 1.0, "hue_accuracy": 1.0, "overlap_a": 1.0, "overlap_b": 1.0}
    return board.result("colourise", data, _colourise_rows(board, chroma, truth_colourfulness),
                        _colourise_settings(opts, used, limit, vgg_weights), reference=reference, skipped=skipped,
                        histograms=chroma.histograms())


# ---------------------------------------------------------------------------------- raw2rgb


def synthetic_seed(seed: int, name: str) -> list[int]:
    """The per-picture seed of synthetic raw: stable across runs, limits and folder contents."""
    return [int(seed), zlib.crc32(name.encode("utf-8"))]


def _packed_view(packed: np.ndarray) -> np.ndarray:
    """Packed (4, h, w) in [0, 1] -> 8-bit (h, w, 3): R, mean G, B with a 1/2.2 gamma, no white balance."""
    from rawcolour.io.mosaic import packed_preview

    return metrics.to_uint8(packed_preview(packed, auto_gain=False).transpose(1, 2, 0))


class _Skip(Exception):
    """A sample left out on purpose; the text is the reason."""


def _check_size(height: int, width: int) -> None:
    """_Skip for a raw2rgb sample (of this size at full resolution) too small to score at packed size."""
    too_small = metrics.too_small_for_ssim(height, width, 2)
    if too_small:
        raise _Skip(too_small)


def _raw2rgb_inputs(data: str | Path, *, synthetic: bool, layout: str, seed: int, cfa: str, black: float,
                    white: float) -> tuple[list[tuple[str, Callable[[], tuple[RawPicture, np.ndarray]]]], str]:
    """(name, loader) per sample; a loader returns (RawPicture, target (h, w, 3) float [0, 1])."""
    from rawcolour.data import samples as datasets

    items: list[tuple[str, Callable[[], tuple[RawPicture, np.ndarray]]]] = []
    if synthetic:
        photos = datasets.list_photos(data)
        for path in photos:
            name = display_name(path, data)

            def load(path: Path = path, name: str = name) -> tuple[RawPicture, np.ndarray]:
                photo = datasets.read_photo(path)
                _check_size(*photo.shape[:2])
                packed, target, params = datasets.synthetic_raw_sample(photo, np.random.default_rng(
                    synthetic_seed(seed, name)))
                wb = (params.red_gain, 1.0, params.blue_gain, 1.0)  # as-shot multipliers, green = 1
                raw = RawPicture(packed=packed, cfa="RGGB", white_level=1.0, camera_whitebalance=wb,
                                 rgb_xyz_matrix=np.asarray(params.xyz_to_cam), camera="synthetic (unprocess)",
                                 path=path)
                return raw, target.transpose(1, 2, 0)

            items.append((name, load))
        return items, "synthetic"
    pairs = datasets.list_raw_pairs(data, layout)
    for pair in pairs:
        def load_pair(pair: Any = pair) -> tuple[RawPicture, np.ndarray]:
            packed, target = datasets.load_raw_pair(pair, cfa=cfa, black=black, white=white)
            _check_size(2 * target.shape[1], 2 * target.shape[2])  # packed: half the sensor's size
            raw = RawPicture(packed=packed, cfa="RGGB", white_level=1.0, path=pair.raw)
            return raw, target.transpose(1, 2, 0)

        items.append((display_name(pair.raw, data), load_pair))
    return items, pairs[0].layout if pairs else layout


def _raw2rgb_settings(opts: InferenceOptions, used: int, *, synthetic: bool, layout: str, seed: int, cfa: str,
                      black: float, white: float, limit: int | None) -> dict[str, Any]:
    zurich = not synthetic and layout == "zurich"
    return {
        "images": used,
        "source": "synthetic raw (unprocessed photos)" if synthetic else f"paired, {layout} layout",
        "resolution": "packed (one RGB pixel per 2x2 Bayer quad)",
        "seed": seed if synthetic else None,
        "seed_rule": "numpy default_rng([seed, crc32(file name)]) per photo" if synthetic else None,
        "cfa": cfa if zurich else None,
        "black": black if zurich else None,
        "white": white if zurich else None,
        "tile": getattr(opts, "tile", None),
        "device": getattr(opts, "device", None),
        "precision": getattr(opts, "precision", None),
        "limit": limit,
        "ssim": SSIM_SETTING,
    }


def evaluate_raw2rgb(data: str | Path, models: Sequence[EvalModel], *, options: InferenceOptions | None = None,
                     synthetic: bool = False, layout: str = "auto", seed: int = 0, cfa: str = "RGGB",
                     black: float = 0.0, white: float = ZURICH_WHITE, limit: int | None = None, samples: int = 0,
                     progress: Progress | None = None) -> EvalResult:
    """Develop every raw sample of `data` with each model and score PSNR (eq. 7) and SSIM at packed resolution.

    Paired folders (Zurich or RAW2RGB-GAN layout) or, with `synthetic`, raw synthesised from the
    photos of the folder (see the module docstring for the seeds). `cfa`/`black`/`white` apply to
    Zurich mosaics.
    """
    from rawcolour.inference.pipelines import raw_to_rgb

    opts = checked_options(options)
    items, found_layout = _raw2rgb_inputs(data, synthetic=synthetic, layout=layout, seed=seed, cfa=cfa,
                                          black=black, white=white)
    if limit is not None:
        items = items[:limit]
    if not items:
        raise InputError("no samples in the data folder", path=data,
                         hint="paired folders need raw and target subfolders; photos need --synthetic-raw")
    board = Scoreboard(models, ("psnr", "ssim", "seconds"), samples)
    used = 0
    skipped: list[dict[str, str]] = []
    for index, (name, load) in enumerate(items, start=1):
        if progress:
            progress(index, len(items), name)
        try:
            raw, target = load()
        except RawcolourError as err:
            board.fail(name, "", str(err))
            continue
        except _Skip as why:
            skipped.append({"image": name, "reason": str(why)})
            continue
        used += 1
        truth8 = metrics.to_uint8(target)
        sample = board.sample(name, _packed_view(raw.packed), truth8)
        for m in models:
            start = time.perf_counter()
            ran = _scored_output(board, m.label, name, lambda: raw_to_rgb(m.model, raw, opts), truth8, "target")
            if ran is None:
                continue
            out8, result = ran
            seconds = float(getattr(result, "seconds", time.perf_counter() - start))
            board.add(m.label, name, {"psnr": metrics.psnr(out8, truth8), "ssim": metrics.ssim(out8, truth8),
                                      "seconds": seconds})
            if sample is not None:
                sample.outputs[m.label] = out8
        board.keep(sample)
    if used == 0 and skipped:
        raise InputError(f"no sample to evaluate ({len(skipped)} {skipped[0]['reason']}, {len(board.failed)} unreadable)",
                         path=data, hint="point --data at larger photos")
    if used == 0:
        raise InputError("no sample could be read", path=data, hint=board.failed[0]["error"] if board.failed else None)
    settings = _raw2rgb_settings(opts, used, synthetic=synthetic, layout=found_layout, seed=seed, cfa=cfa,
                                 black=black, white=white, limit=limit)
    return board.result("raw2rgb", data, [board.row(m) for m in models], settings, skipped=skipped)
