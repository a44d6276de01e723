"""The RAW developers' realistic protocol: photos shot through held-out real cameras, as DNG files.

Each photo of the folder becomes three DNG files (one per noise level of
:data:`rawcolour.data.camera_sim.NOISE_LEVELS`), written by :func:`camera_sim.write_shot_dng`
through one of the held-out :data:`rawcolour.cameras.EVAL_CAMERAS`, in one of the four Bayer
phases, under one of four illuminants. Over 24 photos (Kodak24) every camera x phase pair
appears once per noise level: 6 x 4 x 3 = 72 files. The files go through the same decode path
as a user's (``raw_to_rgb(model, path)``), so the figures describe what a photographer gets.

Each output is scored against the photo (exactly the pixels the DNG holds) after a global tone
fit, because how bright and how contrasty to render is a choice a developer makes (LibRaw's
automatic brightness, a camera's tone curve), not an error:

- ``psnr_gain``: PSNR after one exposure gain in linear light (:func:`metrics.fit_exposure`);
- ``psnr``, ``ssim``, ``de2000``: after one non-decreasing curve shared by R, G and B
  (:func:`metrics.fit_tone_curve`), which forgives a tone look but not colour, detail or noise;
  ``de2000`` is the mean CIEDE2000.

A model that writes half the sensor's size (the paper's ``sgan``) is scored against the photo
area-downscaled by 2, and its row says so in ``output``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rawcolour.errors import InputError, RawcolourError
from rawcolour.eval import metrics
from rawcolour.eval.evaluation import EvalModel, EvalResult, Progress, Sample, _display_name, _note_run

if TYPE_CHECKING:
    from rawcolour.inference.pipelines import InferenceOptions

__all__ = ["KELVINS", "PHASES", "camera_plan", "evaluate_raw2rgb_cameras"]

PHASES = ("RGGB", "BGGR", "GRBG", "GBRG")
KELVINS = (3000.0, 4200.0, 5500.0, 7000.0)


def camera_plan(index: int) -> tuple[int, str, float]:
    """(camera index, Bayer phase, illuminant K) of the photo at ``index`` (see the module docstring)."""
    from rawcolour.cameras import EVAL_CAMERAS

    n = len(EVAL_CAMERAS)
    return index % n, PHASES[(index // n) % len(PHASES)], KELVINS[index % len(KELVINS)]


def _score(out8: np.ndarray, truth8: np.ndarray) -> dict[str, float]:
    curve = metrics.to_uint8(metrics.fit_tone_curve(out8, truth8))
    return {
        "psnr_gain": metrics.psnr(metrics.to_uint8(metrics.fit_exposure(out8, truth8)), truth8),
        "psnr": metrics.psnr(curve, truth8),
        "ssim": metrics.ssim(curve, truth8),
        "de2000": metrics.mean_ciede2000(curve, truth8),
    }


def evaluate_raw2rgb_cameras(data: str | Path, models: Sequence[EvalModel], *, options: InferenceOptions | None = None,
                             noise: Sequence[str] = ("low", "mid", "high"), seed: int = 0,
                             limit: int | None = None, samples: int = 0,
                             progress: Progress | None = None) -> EvalResult:
    """Shoot each photo of ``data`` through held-out cameras as DNG files and score every model on them."""
    from rawcolour.cameras import EVAL_CAMERAS
    from rawcolour.data import samples as datasets
    from rawcolour.data.camera_sim import shot_for, write_shot_dng
    from rawcolour.eval.evaluation import _options, _row
    from rawcolour.inference.pipelines import raw_to_rgb

    opts = _options(options)
    photos = datasets.list_photos(data)[:limit] if limit else datasets.list_photos(data)
    if not photos:
        raise InputError("no photos in the data folder", path=data, hint="point --data at colour photos (e.g. Kodak24)")
    keys = ("psnr_gain", "psnr", "ssim", "de2000", "seconds")
    figures = {m.label: {k: [] for k in keys} for m in models}
    counts = {m.label: 0 for m in models}
    sizes: dict[str, str] = {}
    per_image: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    kept: list[Sample] = []
    runs: dict[str, str] = {}
    notes: list[str] = []
    total = len(photos) * len(noise)
    done = 0
    with tempfile.TemporaryDirectory(prefix="rawcolour-eval-") as tmp:
        for index, path in enumerate(photos):
            name = _display_name(path, data)
            try:
                photo = datasets.read_photo(path)
            except RawcolourError as err:
                failed.append({"image": name, "model": "", "error": str(err)})
                continue
            cam_index, phase, kelvin = camera_plan(index)
            camera = EVAL_CAMERAS[cam_index]
            for level in noise:
                done += 1
                shot_name = f"{Path(name).stem}-{camera.name.replace(' ', '_')}-{phase}-{level}"
                if progress:
                    progress(done, total, shot_name)
                rng = np.random.default_rng([seed, index, list(noise).index(level)])
                dng, truth = write_shot_dng(Path(tmp) / f"{shot_name}.dng", metrics.to_uint8(photo),
                                            shot_for(camera, level, kelvin=kelvin), phase, rng)
                truth8 = metrics.to_uint8(truth)
                sample = Sample(shot_name, truth8, {}, truth8) if len(kept) < samples else None
                for m in models:
                    start = time.perf_counter()
                    try:
                        result = raw_to_rgb(m.model, dng, opts)
                        seconds = float(time.perf_counter() - start)
                    except RawcolourError as err:
                        failed.append({"image": shot_name, "model": m.label, "error": str(err)})
                        continue
                    _note_run(runs, notes, m.label, result)
                    out8 = metrics.to_uint8(result.rgb)
                    target = truth8
                    if out8.shape[:2] != truth8.shape[:2]:
                        half = metrics.half_size(truth8)
                        if out8.shape[:2] != half.shape[:2]:
                            failed.append({"image": shot_name, "model": m.label,
                                           "error": f"output is {out8.shape[1]}x{out8.shape[0]}, the photo "
                                                    f"{truth8.shape[1]}x{truth8.shape[0]}"})
                            continue
                        target = half
                    sizes[m.label] = "sensor" if target is truth8 else "half sensor"
                    rec = {**_score(out8, target), "seconds": seconds}
                    for k, v in rec.items():
                        figures[m.label][k].append(v)
                    counts[m.label] += 1
                    per_image.append({"image": shot_name, "model": m.label, "camera": camera.name, "phase": phase,
                                      "noise": level, "kelvin": kelvin, "output": sizes[m.label], **rec})
                    if sample is not None:
                        sample.outputs[m.label] = out8 if target is truth8 else np.repeat(np.repeat(out8, 2, 0), 2, 1)
                if sample is not None:
                    kept.append(sample)
    rows = []
    for m in models:
        row = _row(m, figures[m.label], counts[m.label], runs)
        row["output"] = sizes.get(m.label)
        rows.append(row)
    settings = {
        "images": done,
        "source": "DNG files shot through held-out real cameras (rawcolour.data.camera_sim)",
        "cameras": [c.name for c in EVAL_CAMERAS],
        "phases": list(PHASES),
        "noise": {level: f"shot variance {shot_for(EVAL_CAMERAS[0], level).shot_noise:g}" for level in noise},
        "illuminants_K": list(KELVINS),
        "tone_fit": "psnr_gain: one linear-light gain; psnr, ssim, de2000: one curve shared by R, G, B",
        "seed": seed,
        "limit": limit,
        "tile": getattr(opts, "tile", None),
        "device": getattr(opts, "device", None),
    }
    return EvalResult(task="raw2rgb-cameras", data=str(data), rows=rows, reference={}, per_image=per_image,
                      skipped=[], failed=failed, settings=settings, samples=kept, notes=notes)
