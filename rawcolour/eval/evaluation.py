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

import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rawcolour.eval import metrics
from rawcolour.checkpoint import LoadedModel, load_model
from rawcolour.colour import lab_to_rgb
from rawcolour.errors import InputError, RawcolourError, UsageError
from rawcolour.io.mosaic import packed_rgb
from rawcolour.io.raw import RawPicture
from rawcolour.registry import is_model
from rawcolour.tasks import TASK_SPECS, get_task

if TYPE_CHECKING:
    from rawcolour.inference.pipelines import InferenceOptions, Result

__all__ = [
    "BASELINES",
    "COLUMNS",
    "EvalModel",
    "EvalResult",
    "Sample",
    "evaluate_colourise",
    "evaluate_raw2rgb",
    "load_models",
]

# The rows every eval starts with: grey (zero ab) and a uniform sepia tone for colourise (the
# floor a colouriser must clear on colour and on hue), LibRaw's rendering for raw2rgb.
BASELINES: dict[str, tuple[str, ...]] = {name: t.baselines for name, t in TASK_SPECS.items()}
RANDOM_INIT_SEED = 0

# (key, header, format, which way is better) of each figure a row may carry, in table order.
COLUMNS: dict[str, list[tuple[str, str, str, str]]] = {
    "colourise": [
        ("psnr", "PSNR RGB [dB]", "{:.2f}", "higher"),
        ("ssim", "SSIM", "{:.4f}", "higher"),
        ("ab_l1", "ab L1", "{:.2f}", "lower"),
        ("ab_psnr", "ab PSNR [dB]", "{:.2f}", "higher"),
        ("perceptual", "L_perc", "{:.4f}", "lower"),
        ("colourfulness", "colourfulness", "{:.1f}", "closer to ground truth"),
        ("colourfulness_ratio", "colour ratio", "{:.2f}", "closer to 1"),
        ("overlap_a", "a overlap", "{:.3f}", "higher"),
        ("overlap_b", "b overlap", "{:.3f}", "higher"),
        ("hue_accuracy", "hue acc.", "{:.3f}", "higher"),
        ("seconds", "s/image", "{:.3f}", "lower"),
    ],
    "raw2rgb": [
        ("psnr", "PSNR [dB]", "{:.2f}", "higher"),
        ("ssim", "SSIM", "{:.4f}", "higher"),
        ("seconds", "s/image", "{:.3f}", "lower"),
    ],
    # the realistic protocol (rawcolour.eval.cameras): after a global tone fit
    "raw2rgb-cameras": [
        ("psnr_gain", "PSNR gain fit [dB]", "{:.2f}", "higher"),
        ("psnr", "PSNR curve fit [dB]", "{:.2f}", "higher"),
        ("ssim", "SSIM", "{:.4f}", "higher"),
        ("de2000", "CIEDE2000", "{:.2f}", "lower"),
        ("output", "output", "{}", "sensor size"),
        ("seconds", "s/image", "{:.3f}", "lower"),
    ],
}

Progress = Callable[[int, int, str], None]  # (index from 1, total, picture name)


@dataclass
class EvalModel:
    """One row of the table: a loaded model and how to name it."""

    label: str  # unique row label
    model: LoadedModel
    weights: str  # "baseline" | "random-init" | checkpoint file name + short hash


@dataclass
class Sample:
    """One picture kept for the report: 8-bit (H, W, 3) images."""

    name: str
    input: np.ndarray  # what the model saw, as a picture (grey L, or the packed raw made visible)
    outputs: dict[str, np.ndarray]  # row label -> output
    truth: np.ndarray


@dataclass
class EvalResult:
    """Everything an eval produced: table rows, per-picture figures, report material."""

    task: str
    data: str
    rows: list[dict[str, Any]]  # one per model: model, weights, images, figures (see COLUMNS)
    reference: dict[str, Any]  # ground-truth figures (colourfulness)
    per_image: list[dict[str, Any]]  # {"image", "model", figures...}
    skipped: list[dict[str, str]]  # pictures left out on purpose (e.g. greyscale) with the reason
    failed: list[dict[str, str]]  # pictures or model runs that raised, with the one-line error
    settings: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)
    histograms: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # "ground truth" + labels
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[tuple[str, str, str, str]]:
        """The COLUMNS of this task that at least one row fills."""
        return [c for c in COLUMNS[self.task] if any(r.get(c[0]) is not None for r in self.rows)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no pixels; non-finite numbers become None)."""
        return _finite({
            "task": self.task,
            "data": self.data,
            "settings": self.settings,
            "rows": self.rows,
            "reference": self.reference,
            "skipped": self.skipped,
            "failed": self.failed,
            "notes": self.notes,
            "per_image": self.per_image,
        })


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


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
        if loaded.task != task:
            raise UsageError(f"model {name!r} is a {loaded.task or 'unknown-task'} model, not {task}",
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


def _options(options: InferenceOptions | None) -> InferenceOptions:
    """The inference options, checked once up front: a device or precision that cannot work here
    is one clear error, not the same failure for every picture."""
    from rawcolour.inference.device import resolve_device, resolve_precision
    from rawcolour.inference.pipelines import InferenceOptions

    opts = options if options is not None else InferenceOptions()
    resolve_precision(opts.precision, resolve_device(opts.device))
    return opts


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _row(m: EvalModel, figures: dict[str, list[float]], n: int, runs: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": m.label, "weights": m.weights, "images": n}
    for key, values in figures.items():
        row[key] = _mean(values)
    row["ran_on"] = runs.get(m.label, "")
    return row


def _note_run(runs: dict[str, str], notes: list[str], label: str, result: Result) -> None:
    """Remember where a model ran (device and precision) and keep each distinct pipeline note once."""
    device, precision = getattr(result, "device", ""), getattr(result, "precision", "")
    runs[label] = f"{device} {precision}".strip() if device else "cpu (no network)"
    for note in getattr(result, "notes", []) or []:
        text = f"{label}: {note}"
        if text not in notes and not note.startswith("tiles "):
            notes.append(text)


def _run_model(convert: Callable[[], Result], label: str, image: str, truth8: np.ndarray, truth_name: str,
               failed: list[dict], runs: dict[str, str], notes: list[str]) -> tuple[np.ndarray, Result] | None:
    """Run one model on one picture: (8-bit output, result), or None with the failure recorded."""
    try:
        result = convert()
    except RawcolourError as err:
        failed.append({"image": image, "model": label, "error": str(err)})
        return None
    _note_run(runs, notes, label, result)
    out8 = metrics.to_uint8(result.rgb)
    if out8.shape[:2] == (2 * truth8.shape[0], 2 * truth8.shape[1]):  # a developer writing the sensor's size
        out8 = metrics.half_size(out8)
        note = f"{label}: writes the sensor's size; scored area-downscaled by 2 to the {truth_name}"
        if note not in notes:
            notes.append(note)
    if out8.shape != truth8.shape:
        failed.append({"image": image, "model": label,
                       "error": f"output is {out8.shape[1]}x{out8.shape[0]}, the {truth_name} "
                                f"{truth8.shape[1]}x{truth8.shape[0]}"})
        return None
    return out8, result


# -------------------------------------------------------------------------------- colourise


def _grey_view(l_channel: np.ndarray) -> np.ndarray:
    """L (H, W) in 0..100 -> the 8-bit neutral grey picture with that lightness (what the model sees)."""
    lab = np.stack([l_channel, np.zeros_like(l_channel), np.zeros_like(l_channel)], axis=-1)
    rgb = lab_to_rgb(torch.from_numpy(lab.transpose(2, 0, 1).copy())[None], clip=True)[0]
    return metrics.to_uint8(rgb.permute(1, 2, 0).numpy())


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

    opts = _options(options)
    photos = list_photos(data)
    if not photos:
        raise InputError("no image files in the data folder", path=data,
                         hint="point --data at a folder of colour photos (png, jpg, tif ...)")
    perceptual = metrics.PerceptualDistance(vgg_weights) if vgg_weights is not None else None
    keys = ["psnr", "ssim", "ab_l1", "ab_psnr", "colourfulness", "hue_accuracy", "seconds"] + (["perceptual"] if perceptual else [])
    figures = {m.label: {k: [] for k in keys} for m in models}
    counts = {m.label: 0 for m in models}
    nbins = len(metrics.AB_BIN_EDGES) - 1
    hists = {name: [np.zeros(nbins, np.int64), np.zeros(nbins, np.int64)]
             for name in ["ground truth", *figures]}
    coarse = {name: [np.zeros(len(metrics.OVERLAP_BIN_EDGES) - 1, np.int64) for _ in range(2)]
              for name in ["ground truth", *figures]}
    hue = {m.label: [np.zeros(metrics.HUE_SECTORS, np.int64), np.zeros(metrics.HUE_SECTORS, np.int64)]
           for m in models}
    truth_colourfulness: list[float] = []
    per_image: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    kept: list[Sample] = []
    runs: dict[str, str] = {}
    notes: list[str] = []
    used = 0
    for index, path in enumerate(photos, start=1):
        if limit is not None and used >= limit:
            break
        name = _display_name(path, data)
        if progress:
            progress(index, len(photos) if limit is None else min(len(photos), limit), name)
        try:
            photo = read_photo(path)
        except RawcolourError as err:
            failed.append({"image": name, "model": "", "error": str(err)})
            continue
        if is_greyscale(photo):
            skipped.append({"image": name, "reason": "greyscale"})
            continue
        used += 1
        truth8 = metrics.to_uint8(photo)
        lab_truth = metrics.rgb_to_lab_8bit(truth8)
        truth_colourfulness.append(metrics.colourfulness(truth8))
        _add_histograms(hists["ground truth"], coarse["ground truth"], lab_truth)
        sample = Sample(name, _grey_view(lab_truth[..., 0]), {}, truth8) if len(kept) < samples else None
        for m in models:
            ran = _run_model(lambda: colourise_image(m.model, truth8, opts), m.label, name, truth8, "photo",
                             failed, runs, notes)
            if ran is None:
                continue
            out8, result = ran
            lab_out = metrics.rgb_to_lab_8bit(out8)
            ab = metrics.ab_errors_lab(lab_out, lab_truth)
            hits, colourful = metrics.hue_hits(lab_out, lab_truth)
            rec = {
                "psnr": metrics.psnr(out8, truth8),
                "ssim": metrics.ssim(out8, truth8),
                "ab_l1": ab.l1,
                "ab_psnr": ab.psnr,
                "colourfulness": metrics.colourfulness(out8),
                "hue_accuracy": metrics.balanced_hue_accuracy(hits, colourful),
                "seconds": float(result.seconds),
            }
            if perceptual is not None:
                rec["perceptual"] = perceptual(out8, truth8)
            for k, v in rec.items():
                figures[m.label][k].append(v)
            counts[m.label] += 1
            _add_histograms(hists[m.label], coarse[m.label], lab_out)
            hue[m.label][0] += hits
            hue[m.label][1] += colourful
            per_image.append({"image": name, "model": m.label, **rec})
            if sample is not None:
                sample.outputs[m.label] = out8
        if sample is not None:
            kept.append(sample)
    if used == 0:
        raise InputError(f"no colour photos to evaluate ({len(skipped)} greyscale, {len(failed)} unreadable)",
                         path=data, hint="colourisation is scored against colour originals")
    rows = []
    for m in models:
        row = _row(m, figures[m.label], counts[m.label], runs)
        if counts[m.label]:
            real_a, real_b = coarse["ground truth"]
            row["overlap_a"] = metrics.histogram_intersection(coarse[m.label][0], real_a)
            row["overlap_b"] = metrics.histogram_intersection(coarse[m.label][1], real_b)
            # Pooled over the dataset like the overlaps (the per-picture figures are in per_image).
            row["hue_accuracy"] = metrics.balanced_hue_accuracy(*hue[m.label])
            truth_mean = _mean(truth_colourfulness)
            row["colourfulness_ratio"] = row["colourfulness"] / truth_mean if truth_mean else None
        rows.append(row)
    settings = {
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
                        f"{metrics.HUE_MIN_FRACTION:.0%} of the colourful pixels; pooled over the dataset",
        "ssim": "Gaussian 11x11, sigma 1.5, population covariance, valid window positions (Wang et al.)",
        "vgg_weights": str(vgg_weights) if vgg_weights else None,
    }
    return EvalResult(
        task="colourise", data=str(data), rows=rows,
        reference={"model": "ground truth", "images": used, "colourfulness": _mean(truth_colourfulness),
                   "colourfulness_ratio": 1.0, "hue_accuracy": 1.0,
                   "overlap_a": 1.0, "overlap_b": 1.0},
        per_image=per_image, skipped=skipped, failed=failed, settings=settings, samples=kept,
        histograms={k: (v[0], v[1]) for k, v in hists.items()}, notes=notes,
    )


def _add_histograms(fine: list[np.ndarray], coarse: list[np.ndarray], lab: np.ndarray) -> None:
    """Add a picture's a and b values to the plot's fine histograms and the overlap's coarse ones."""
    for h, c in zip(fine, metrics.ab_histograms(lab)):
        h += c
    for h, c in zip(coarse, metrics.ab_histograms(lab, metrics.OVERLAP_BIN_EDGES)):
        h += c


def _display_name(path: Path, root: str | Path) -> str:
    try:
        return str(Path(path).relative_to(root)) if Path(root).is_dir() else Path(path).name
    except ValueError:
        return Path(path).name


# ---------------------------------------------------------------------------------- raw2rgb


def synthetic_seed(seed: int, name: str) -> list[int]:
    """The per-picture seed of synthetic raw: stable across runs, limits and folder contents."""
    return [int(seed), zlib.crc32(name.encode("utf-8"))]


def _packed_view(packed: np.ndarray) -> np.ndarray:
    """Packed (4, h, w) in [0, 1] -> 8-bit (h, w, 3): R, mean G, B with a 1/2.2 gamma, no white balance."""
    rgb = packed_rgb(packed).transpose(1, 2, 0)
    return metrics.to_uint8(np.power(np.clip(rgb, 0.0, 1.0), 1.0 / 2.2))


def _raw2rgb_inputs(data: str | Path, *, synthetic: bool, layout: str, seed: int, cfa: str, black: float,
                    white: float) -> tuple[list[tuple[str, Callable[[], tuple[RawPicture, np.ndarray]]]], str]:
    """(name, loader) per sample; a loader returns (RawPicture, target (h, w, 3) float [0, 1])."""
    from rawcolour.data import samples as datasets

    items: list[tuple[str, Callable[[], tuple[RawPicture, np.ndarray]]]] = []
    if synthetic:
        photos = datasets.list_photos(data)
        for path in photos:
            name = _display_name(path, data)

            def load(path: Path = path, name: str = name) -> tuple[RawPicture, np.ndarray]:
                packed, target, params = datasets.synthetic_raw_sample(path, np.random.default_rng(
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
            raw = RawPicture(packed=packed, cfa="RGGB", white_level=1.0, path=pair.raw)
            return raw, target.transpose(1, 2, 0)

        items.append((_display_name(pair.raw, data), load_pair))
    return items, pairs[0].layout if pairs else layout


def evaluate_raw2rgb(data: str | Path, models: Sequence[EvalModel], *, options: InferenceOptions | None = None,
                     synthetic: bool = False, layout: str = "auto", seed: int = 0, cfa: str = "RGGB",
                     black: float = 0.0, white: float = 1020.0, limit: int | None = None, samples: int = 0,
                     progress: Progress | None = None) -> EvalResult:
    """Develop every raw sample of `data` with each model and score PSNR (eq. 7) and SSIM at packed resolution.

    Paired folders (Zurich or RAW2RGB-GAN layout) or, with `synthetic`, raw synthesised from the
    photos of the folder (see the module docstring for the seeds). `cfa`/`black`/`white` apply to
    Zurich mosaics.
    """
    from rawcolour.inference.pipelines import raw_to_rgb

    opts = _options(options)
    items, found_layout = _raw2rgb_inputs(data, synthetic=synthetic, layout=layout, seed=seed, cfa=cfa,
                                          black=black, white=white)
    if limit is not None:
        items = items[:limit]
    if not items:
        raise InputError("no samples in the data folder", path=data,
                         hint="paired folders need raw and target subfolders; photos need --synthetic-raw")
    figures = {m.label: {"psnr": [], "ssim": [], "seconds": []} for m in models}
    counts = {m.label: 0 for m in models}
    per_image: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    kept: list[Sample] = []
    runs: dict[str, str] = {}
    notes: list[str] = []
    used = 0
    for index, (name, load) in enumerate(items, start=1):
        if progress:
            progress(index, len(items), name)
        try:
            raw, target = load()
        except RawcolourError as err:
            failed.append({"image": name, "model": "", "error": str(err)})
            continue
        used += 1
        truth8 = metrics.to_uint8(target)
        sample = Sample(name, _packed_view(raw.packed), {}, truth8) if len(kept) < samples else None
        for m in models:
            start = time.perf_counter()
            ran = _run_model(lambda: raw_to_rgb(m.model, raw, opts), m.label, name, truth8, "target",
                             failed, runs, notes)
            if ran is None:
                continue
            out8, result = ran
            seconds = float(getattr(result, "seconds", time.perf_counter() - start))
            rec = {"psnr": metrics.psnr(out8, truth8), "ssim": metrics.ssim(out8, truth8), "seconds": seconds}
            for k, v in rec.items():
                figures[m.label][k].append(v)
            counts[m.label] += 1
            per_image.append({"image": name, "model": m.label, **rec})
            if sample is not None:
                sample.outputs[m.label] = out8
        if sample is not None:
            kept.append(sample)
    if used == 0:
        raise InputError("no sample could be read", path=data, hint=failed[0]["error"] if failed else None)
    settings = {
        "images": used,
        "source": "synthetic raw (unprocessed photos)" if synthetic else f"paired, {found_layout} layout",
        "resolution": "packed (one RGB pixel per 2x2 Bayer quad)",
        "seed": seed if synthetic else None,
        "seed_rule": "numpy default_rng([seed, crc32(file name)]) per photo" if synthetic else None,
        "cfa": cfa if not synthetic and found_layout == "zurich" else None,
        "black": black if not synthetic and found_layout == "zurich" else None,
        "white": white if not synthetic and found_layout == "zurich" else None,
        "tile": getattr(opts, "tile", None),
        "device": getattr(opts, "device", None),
        "precision": getattr(opts, "precision", None),
        "limit": limit,
        "ssim": "Gaussian 11x11, sigma 1.5, population covariance, valid window positions (Wang et al.)",
    }
    rows = [_row(m, figures[m.label], counts[m.label], runs) for m in models]
    return EvalResult(task="raw2rgb", data=str(data), rows=rows, reference={}, per_image=per_image,
                      skipped=[], failed=failed, settings=settings, samples=kept, notes=notes)
