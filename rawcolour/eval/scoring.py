"""What every eval protocol shares: its records (EvalModel, Sample, EvalResult, the table's
COLUMNS) and the :class:`Scoreboard` that gathers figures, failures and notes as models run.

The protocols themselves are :mod:`rawcolour.eval.evaluation` (colourise; raw2rgb on paired or
synthetic raw) and :mod:`rawcolour.eval.cameras` (raw2rgb through held-out real cameras).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rawcolour.checkpoint import LoadedModel
from rawcolour.errors import RawcolourError

if TYPE_CHECKING:
    from rawcolour.inference.pipelines import InferenceOptions, Result

__all__ = ["COLUMNS", "EvalModel", "EvalResult", "Progress", "Sample", "Scoreboard", "checked_options",
           "display_name"]

Progress = Callable[[int, int, str], None]  # (index from 1, total, picture name)

# (key, header, format, which way is better) of each figure a row may carry, in table order.
_SSIM = ("ssim", "SSIM", "{:.4f}", "higher")
_SECONDS = ("seconds", "s/image", "{:.3f}", "lower")
COLUMNS: dict[str, list[tuple[str, str, str, str]]] = {
    "colourise": [
        ("psnr", "PSNR RGB [dB]", "{:.2f}", "higher"),
        _SSIM,
        ("ab_l1", "ab L1", "{:.2f}", "lower"),
        ("ab_psnr", "ab PSNR [dB]", "{:.2f}", "higher"),
        ("perceptual", "L_perc", "{:.4f}", "lower"),
        ("colourfulness", "colourfulness", "{:.1f}", "closer to ground truth"),
        ("colourfulness_ratio", "colour ratio", "{:.2f}", "closer to 1"),
        ("overlap_a", "a overlap", "{:.3f}", "higher"),
        ("overlap_b", "b overlap", "{:.3f}", "higher"),
        ("hue_accuracy", "hue acc.", "{:.3f}", "higher"),
        _SECONDS,
    ],
    "raw2rgb": [("psnr", "PSNR [dB]", "{:.2f}", "higher"), _SSIM, _SECONDS],
    # the realistic protocol (rawcolour.eval.cameras): after a global tone fit
    "raw2rgb-cameras": [
        ("psnr_gain", "PSNR gain fit [dB]", "{:.2f}", "higher"),
        ("psnr", "PSNR curve fit [dB]", "{:.2f}", "higher"),
        _SSIM,
        ("de2000", "CIEDE2000", "{:.2f}", "lower"),
        ("output", "output", "{}", "sensor size"),
        _SECONDS,
    ],
}
SSIM_SETTING = "Gaussian 11x11, sigma 1.5, population covariance, valid window positions (Wang et al.)"


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

    def table_rows(self) -> list[dict[str, Any]]:
        """The table's rows: one per model, then the ground truth's own figures when there are any."""
        return list(self.rows) + ([{"weights": "", **self.reference}] if self.reference else [])

    def to_csv(self) -> str:
        """The table as CSV: model, weights, images and the filled columns (non-finite figures empty)."""
        keys = ["model", "weights", "images"] + [key for key, _, _, _ in self.columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in _finite(self.table_rows()):
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in keys})
        return buf.getvalue()

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


def display_name(path: Path, root: str | Path) -> str:
    """How a picture is named in the table and records: its path below the data folder."""
    try:
        return str(Path(path).relative_to(root)) if Path(root).is_dir() else Path(path).name
    except ValueError:
        return Path(path).name


def checked_options(options: InferenceOptions | None) -> InferenceOptions:
    """The inference options, checked once up front: a device or precision that cannot work here
    is one clear error, not the same failure for every picture."""
    from rawcolour.inference.device import resolve_device, resolve_precision
    from rawcolour.inference.pipelines import InferenceOptions

    opts = options if options is not None else InferenceOptions()
    resolve_precision(opts.precision, resolve_device(opts.device))
    return opts


def mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


class Scoreboard:
    """What an eval gathers while every model runs on every picture: the figures of each row, one
    record per picture and model, failures, where each model ran, notes, and the report's samples."""

    def __init__(self, models: Sequence[EvalModel], keys: Sequence[str], samples: int = 0):
        self.models = list(models)
        self.figures = {m.label: {k: [] for k in keys} for m in models}  # label -> key -> values
        self.counts = {m.label: 0 for m in models}
        self.per_image: list[dict[str, Any]] = []
        self.failed: list[dict[str, str]] = []
        self.kept: list[Sample] = []
        self.runs: dict[str, str] = {}  # label -> "device precision" it ran at
        self.notes: list[str] = []
        self._samples = samples

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def fail(self, image: str, model: str, error: str) -> None:
        self.failed.append({"image": image, "model": model, "error": error})

    def run(self, label: str, image: str, convert: Callable[[], Result]) -> Result | None:
        """One model on one picture: its Result, or None with the failure recorded. Remembers where
        the model ran (device and precision) and keeps each distinct pipeline note once."""
        try:
            result = convert()
        except RawcolourError as err:
            self.fail(image, label, str(err))
            return None
        device, precision = getattr(result, "device", ""), getattr(result, "precision", "")
        self.runs[label] = f"{device} {precision}".strip() if device else "cpu (no network)"
        for note in getattr(result, "notes", []) or []:
            if not note.startswith("tiles "):
                self.note(f"{label}: {note}")
        return result

    def add(self, label: str, image: str, figures: dict[str, float], **about: Any) -> None:
        """Score one picture of one model: `figures` join the row's means and the per-picture record."""
        for k, v in figures.items():
            self.figures[label][k].append(v)
        self.counts[label] += 1
        self.per_image.append({"image": image, "model": label, **about, **figures})

    def sample(self, name: str, shown: np.ndarray, truth8: np.ndarray) -> Sample | None:
        """A Sample to fill with each model's output, while the report wants more; else None."""
        return Sample(name, shown, {}, truth8) if len(self.kept) < self._samples else None

    def keep(self, sample: Sample | None) -> None:
        if sample is not None:
            self.kept.append(sample)

    def row(self, m: EvalModel) -> dict[str, Any]:
        """The table row of a model: the means of its figures."""
        row: dict[str, Any] = {"model": m.label, "weights": m.weights, "images": self.counts[m.label]}
        for key, values in self.figures[m.label].items():
            row[key] = mean(values)
        row["ran_on"] = self.runs.get(m.label, "")
        return row

    def result(self, task: str, data: str | Path, rows: list[dict[str, Any]], settings: dict[str, Any],
               **more: Any) -> EvalResult:
        """The EvalResult of this board (`more`: reference, skipped, histograms)."""
        more.setdefault("reference", {})
        more.setdefault("skipped", [])
        return EvalResult(task=task, data=str(data), rows=rows, per_image=self.per_image, failed=self.failed,
                          settings=settings, samples=self.kept, notes=self.notes, **more)
