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
from rawcolour.eval.scoring import EvalModel, EvalResult, Progress, Sample, Scoreboard, checked_options, display_name
from rawcolour.io.mosaic import BAYER_PATTERNS

if TYPE_CHECKING:
    from rawcolour.inference.pipelines import InferenceOptions

__all__ = ["KELVINS", "camera_plan", "evaluate_raw2rgb_cameras"]

KELVINS = (3000.0, 4200.0, 5500.0, 7000.0)


def camera_plan(index: int) -> tuple[int, str, float]:
    """(camera index, Bayer phase, illuminant K) of the photo at ``index`` (see the module docstring)."""
    from rawcolour.cameras import EVAL_CAMERAS

    n = len(EVAL_CAMERAS)
    return index % n, BAYER_PATTERNS[(index // n) % len(BAYER_PATTERNS)], KELVINS[index % len(KELVINS)]


def _score(out8: np.ndarray, truth8: np.ndarray) -> dict[str, float]:
    curve = metrics.to_uint8(metrics.fit_tone_curve(out8, truth8))
    return {
        "psnr_gain": metrics.psnr(metrics.to_uint8(metrics.fit_exposure(out8, truth8)), truth8),
        "psnr": metrics.psnr(curve, truth8),
        "ssim": metrics.ssim(curve, truth8),
        "de2000": metrics.mean_ciede2000(curve, truth8),
    }


def _score_shot(board: Scoreboard, models: Sequence[EvalModel], dng: Path, truth8: np.ndarray, shot_name: str,
                sample: Sample | None, opts: InferenceOptions, about: dict[str, Any], sizes: dict[str, str]) -> None:
    """Develop one DNG file with every model and score each output against the photo it holds."""
    from rawcolour.inference.pipelines import raw_to_rgb

    for m in models:
        start = time.perf_counter()
        result = board.run(m.label, shot_name, lambda: raw_to_rgb(m.model, dng, opts))
        if result is None:
            continue
        seconds = float(time.perf_counter() - start)
        out8 = metrics.to_uint8(result.rgb)
        target = truth8
        if out8.shape[:2] != truth8.shape[:2]:
            half = metrics.half_size(truth8)
            if out8.shape[:2] != half.shape[:2]:
                board.fail(shot_name, m.label, f"output is {out8.shape[1]}x{out8.shape[0]}, the photo "
                                               f"{truth8.shape[1]}x{truth8.shape[0]}")
                continue
            target = half
        sizes[m.label] = "sensor" if target is truth8 else "half sensor"
        board.add(m.label, shot_name, {**_score(out8, target), "seconds": seconds}, **about,
                  output=sizes[m.label])
        if sample is not None:
            sample.outputs[m.label] = out8 if target is truth8 else np.repeat(np.repeat(out8, 2, 0), 2, 1)


def _settings(noise: Sequence[str], shots: int, seed: int, limit: int | None, opts: InferenceOptions) -> dict[str, Any]:
    from rawcolour.cameras import EVAL_CAMERAS
    from rawcolour.data.camera_sim import shot_for

    return {
        "images": shots,
        "source": "DNG files shot through held-out real cameras (rawcolour.data.camera_sim)",
        "cameras": [c.name for c in EVAL_CAMERAS],
        "phases": list(BAYER_PATTERNS),
        "noise": {level: f"shot variance {shot_for(EVAL_CAMERAS[0], level).shot_noise:g}" for level in noise},
        "illuminants_K": list(KELVINS),
        "tone_fit": "psnr_gain: one linear-light gain; psnr, ssim, de2000: one curve shared by R, G, B",
        "seed": seed,
        "limit": limit,
        "tile": getattr(opts, "tile", None),
        "device": getattr(opts, "device", None),
    }


def evaluate_raw2rgb_cameras(data: str | Path, models: Sequence[EvalModel], *, options: InferenceOptions | None = None,
                             noise: Sequence[str] = ("low", "mid", "high"), seed: int = 0,
                             limit: int | None = None, samples: int = 0,
                             progress: Progress | None = None) -> EvalResult:
    """Shoot each photo of ``data`` through held-out cameras as DNG files and score every model on them."""
    from rawcolour.cameras import EVAL_CAMERAS
    from rawcolour.data import samples as datasets
    from rawcolour.data.camera_sim import shot_for, write_shot_dng

    opts = checked_options(options)
    photos = datasets.list_photos(data)[:limit] if limit else datasets.list_photos(data)
    if not photos:
        raise InputError("no photos in the data folder", path=data, hint="point --data at colour photos (e.g. Kodak24)")
    board = Scoreboard(models, ("psnr_gain", "psnr", "ssim", "de2000", "seconds"), samples)
    sizes: dict[str, str] = {}  # label -> "sensor" | "half sensor": what size it writes
    total = len(photos) * len(noise)
    done = 0
    skipped: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="rawcolour-eval-") as tmp:
        for index, path in enumerate(photos):
            name = display_name(path, data)
            try:
                photo = datasets.read_photo(path)
            except RawcolourError as err:
                board.fail(name, "", str(err))
                continue
            too_small = metrics.too_small_for_ssim(*photo.shape[:2], 2)  # a developer may write half size
            if too_small:
                skipped.append({"image": name, "reason": too_small})
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
                sample = board.sample(shot_name, truth8, truth8)
                about = {"camera": camera.name, "phase": phase, "noise": level, "kelvin": kelvin}
                _score_shot(board, models, dng, truth8, shot_name, sample, opts, about, sizes)
                board.keep(sample)
    if done == 0 and skipped:
        raise InputError(f"no photo to evaluate ({len(skipped)} {skipped[0]['reason']}, {len(board.failed)} unreadable)",
                         path=data, hint="point --data at larger photos")
    rows = [{**board.row(m), "output": sizes.get(m.label)} for m in models]
    return board.result("raw2rgb-cameras", data, rows, _settings(noise, done, seed, limit, opts), skipped=skipped)
