"""The eval report: one HTML page with the table, a grid of pictures and plots, beside its files.

Layout of a report folder (every file referenced relatively from index.html, so the folder can
be moved or zipped)::

    index.html
    results.json                 the EvalResult summary (rows, settings, per-picture figures)
    images/NN_<picture>_input.png, NN_<picture>_<model>.png, NN_<picture>_truth.png
    crops/NN_<picture>_<where>_<column>.png   100% crops of each sample (see crop_windows)
    plots/ab_histograms.png      colourise: log-scale a and b histograms, real vs each model (Fig. 4)
    plots/training_curves.png    with a training run: every numeric series of its log.jsonl

Each sample row shows the input, each model's output with its figures for that picture, and the
truth; a column whose pictures are all the same as the input's (the ``grey`` baseline's output, or
the truth when the input is the photo itself) is left out and named in a note. Under each row,
100% crops of the same places in every column: where the truth's edges are strongest (detail,
demosaicking and colour bleeding) and where it is darkest without being black (noise, shadows).
A table of every picture's figures per model closes the page.

Pictures and plots are written with :func:`rawcolour.io.images.write_image` (PNG, atomic); plots are
drawn with matplotlib's Agg canvas (no display, no global pyplot state). Sample pictures are
shown at full size up to ``PREVIEW_MAX_SIDE`` (1024) pixels on the long side, area-downscaled
beyond it.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rawcolour.eval import metrics
from rawcolour.errors import OutputError
from rawcolour.io.files import atomic_write_bytes
from rawcolour.io.images import write_image
from rawcolour.train.run_folder import read_log

__all__ = ["plot_ab_histograms", "plot_training_curves", "write_report"]

PREVIEW_MAX_SIDE = 1024  # long side of the sample pictures in the report (Kodak's 768 stays as is)
CROP_SIDE = 160  # side of the 100% crops (smaller pictures get crops of half their short side)
SAME_AS_INPUT = 1  # 8-bit levels: a column at most this far from the input everywhere shows nothing new


def _slug(text: str) -> str:
    """A file-name-safe version of a model or picture name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return s or "x"


# ------------------------------------------------------------------------------------ plots


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _figure_pixels(fig: Any) -> np.ndarray:
    """Render a figure to an (H, W, 3) uint8 array."""
    fig.canvas.draw()
    return np.ascontiguousarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])


def plot_ab_histograms(histograms: dict[str, tuple[np.ndarray, np.ndarray]],
                       edges: np.ndarray = metrics.AB_BIN_EDGES, real: str = "ground truth") -> np.ndarray:
    """Fig. 4 of the colourisation paper: normalised a and b histograms, log scale, real vs each model."""
    fig = _figure(11, 4)
    centres = 0.5 * (edges[:-1] + edges[1:])
    for i, channel in enumerate("ab"):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, pair in histograms.items():
            counts = np.asarray(pair[i], np.float64)
            total = counts.sum()
            if total <= 0:
                continue
            p = counts / total
            p = np.where(p > 0, p, np.nan)  # empty bins leave gaps on a log axis
            style = {"color": "black", "linewidth": 2.2, "zorder": 3} if name == real else {"linewidth": 1.3}
            ax.plot(centres, p, label=name, **style)
        ax.set_yscale("log")
        ax.set_xlabel(f"{channel} (CIE Lab)")
        ax.set_ylabel("fraction of pixels")
        ax.set_xlim(edges[0], edges[-1])
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{channel} values over the dataset")
        if i == 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_pixels(fig)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _series(records: Sequence[dict[str, Any]], x_key: str) -> dict[str, tuple[list[float], list[float]]]:
    """Numeric series of a training log: name -> (x, y). Records with a "kind" (step, val ...) name
    their series "kind: key", so a training loss and a validation figure of the same key stay apart."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for j, rec in enumerate(records):
        kind = rec.get("kind")
        x = rec.get(x_key)
        x = x if _is_number(x) else j
        for k, v in rec.items():
            if k in (x_key, "epoch") or not _is_number(v):
                continue
            name = f"{kind}: {k}" if isinstance(kind, str) and kind else k
            xs, ys = out.setdefault(name, ([], []))
            xs.append(x)
            ys.append(v)
    curves = {k: v for k, v in out.items() if len(v[0]) >= 2}  # one point is not a curve (e.g. start/end records)
    return curves or out


def plot_training_curves(records: Sequence[dict[str, Any]], x_key: str = "step") -> np.ndarray | None:
    """One small plot per numeric series of a training log (against `x_key`, else the record index); None if none."""
    series = _series(records, x_key)
    if not series:
        return None
    cols = min(4, len(series))
    rows = math.ceil(len(series) / cols)
    fig = _figure(3.6 * cols, 2.6 * rows)
    x_label = x_key if any(_is_number(r.get(x_key)) for r in records) else "record"
    for i, (name, (xs, ys)) in enumerate(series.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(xs, ys, marker="." if len(xs) < 40 else None, linewidth=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _figure_pixels(fig)


# ------------------------------------------------------------------------------------- HTML


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "nan"
    return fmt.format(value)


def _table_html(result: Any) -> str:
    cols = result.columns
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in cols)
    body = []
    for r in result.table_rows():
        cells = "".join(f"<td>{_fmt(r.get(k), f)}</td>" for k, _, f, _ in cols)
        name, weights = html.escape(str(r.get("model", ""))), html.escape(str(r.get("weights", "")))
        body.append(f"<tr><th>{name}</th><td class=l>{weights}</td><td>{r.get('images', '')}</td>{cells}</tr>")
    better = ", ".join(f"{h}: {b}" for _, h, _, b in cols)
    return (f"<table><tr><th>model</th><th>weights</th><th>images</th>{head}</tr>{''.join(body)}</table>"
            f"<p class=note>Better: {html.escape(better)}.</p>")


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1600px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}tr th:first-child{text-align:left}
.grid{display:grid;gap:6px;align-items:start}.grid figure{margin:0}.grid img{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#555;overflow-wrap:anywhere}.note{font-size:13px;color:#555}
img.plot{max-width:100%;height:auto}td.l{text-align:left}
.crops{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:10px}.crops figure{margin:0}
img.crop{image-rendering:pixelated;display:block}
"""


def _preview(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Area-downscale so the long side is at most `max_side` (a report of 24 MP pictures stays small)."""
    h, w = pixels.shape[:2]
    if max(h, w) <= max_side:
        return pixels
    import cv2

    f = max_side / max(h, w)
    return cv2.resize(pixels, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def crop_windows(truth8: np.ndarray, side: int = CROP_SIDE) -> list[tuple[str, int, int, int]]:
    """(what, top, left, side) of two square windows of a (H, W, 3) 8-bit picture: where its edges
    are strongest, and its darkest area that is not black (mean luma at least 2%, under a tenth of
    its pixels black; the darkest other window if none is). Windows step by a quarter of their side;
    the second differs from the first when the picture has room for two."""
    h, w = truth8.shape[:2]
    side = int(min(side, max(1, min(h, w) // 2)))
    luma = truth8[..., :3].astype(np.float32) @ np.float32([0.2126, 0.7152, 0.0722]) / 255.0
    gy, gx = np.gradient(luma)
    step = max(1, side // 4)
    tops = np.array(sorted({*range(0, h - side + 1, step), h - side}))
    lefts = np.array(sorted({*range(0, w - side + 1, step), w - side}))

    def means(a: np.ndarray) -> np.ndarray:
        """Mean of ``a`` over every window (len(tops), len(lefts)), from its summed-area table."""
        table = np.pad(a.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        t, l = tops[:, None], lefts[None, :]
        return (table[t + side, l + side] - table[t, l + side] - table[t + side, l] + table[t, l]) / side ** 2

    edges, light, black = means(np.hypot(gx, gy)), means(luma), means(luma < 0.02)
    edge = np.unravel_index(int(np.argmax(edges)), edges.shape)
    dark_score = np.where((light >= 0.02) & (black < 0.1), light, np.inf)
    dark_score[edge] = np.inf
    if not np.isfinite(dark_score).any():  # no such area: the darkest other window
        dark_score = light.copy()
        if dark_score.size > 1:
            dark_score[edge] = np.inf
    dark = np.unravel_index(int(np.argmin(dark_score)), dark_score.shape)
    return [("edges", int(tops[edge[0]]), int(lefts[edge[1]]), side),
            ("shadows", int(tops[dark[0]]), int(lefts[dark[1]]), side)]


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None or a.shape != b.shape:
        return False
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) <= SAME_AS_INPUT


def _columns(result: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """(key, caption) of the sample columns worth showing, and notes on the ones left out."""
    samples = result.samples
    labels = [r["model"] for r in result.rows]
    columns: list[tuple[str, str]] = [("input", "input")] + [(label, label) for label in labels] + [("truth", "ground truth")]
    dropped: list[str] = []
    if samples and all(_same(s.input, s.truth) for s in samples):
        columns = columns[1:]
        dropped.append("the input is the ground truth itself (the models saw it as raw data), shown once")
    else:
        for label in labels:
            if samples and all(_same(s.outputs.get(label), s.input) for s in samples):
                columns.remove((label, label))
                dropped.append(f"{label}: its output is the same as the input (within {SAME_AS_INPUT} level), "
                               "not shown")
    return columns, dropped


def _pixels(sample: Any, key: str) -> np.ndarray | None:
    return {"input": sample.input, "truth": sample.truth}.get(key, sample.outputs.get(key))


def _figures(result: Any, image: str, model: str) -> str:
    """One picture's figures for one model, short ("PSNR 22.1 dB, SSIM 0.931")."""
    record = next((p for p in result.per_image if p.get("image") == image and p.get("model") == model), None)
    if record is None:
        return ""
    parts = []
    for key, header, fmt, _ in result.columns:
        if key != "seconds" and isinstance(record.get(key), (int, float)):
            parts.append(f"{header.replace(' [dB]', '')} {_fmt(record[key], fmt)}")
    return ", ".join(parts)


def _per_picture_html(result: Any) -> str:
    """Every picture's figures per model, one row each (the JSON's per_image, as a table)."""
    if not result.per_image:
        return ""
    cols = [c for c in result.columns if any(c[0] in p for p in result.per_image)]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in cols)
    body = "".join(
        f"<tr><td class=l>{html.escape(str(p.get('image', '')))}</td><td class=l>{html.escape(str(p.get('model', '')))}"
        "</td>" + "".join(f"<td>{_fmt(p.get(k), f)}</td>" for k, _, f, _ in cols) + "</tr>"
        for p in result.per_image)
    return (f"<h2>Per picture</h2><details><summary>{len(result.per_image)} rows</summary><table>"
            f"<tr><th>picture</th><th>model</th>{head}</tr>{body}</table></details>")


def _samples_html(result: Any, out: Path, max_side: int) -> str:
    columns, dropped = _columns(result)
    cells = ["<div class=grid style='grid-template-columns:repeat(%d,1fr)'>" % len(columns)]
    crops: list[str] = []
    for i, s in enumerate(result.samples):
        stem = f"{i:02d}_{_slug(Path(s.name).stem)}"
        for key, caption in columns:
            pixels = _pixels(s, key)
            if pixels is None:
                cells.append(f"<figure><figcaption>{html.escape(caption)}: failed</figcaption></figure>")
                continue
            rel = f"images/{stem}_{_slug(key)}.png"
            write_image(out / rel, _preview(pixels, max_side))
            figures = _figures(result, s.name, key) if key not in ("input", "truth") else ""
            text = f"{s.name}: {caption}" + (f" ({figures})" if figures else "")
            cells.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}' loading=lazy>"
                         f"<figcaption>{html.escape(text)}</figcaption></figure>")
        crops.append(_crops_html(s, stem, columns, out))
    cells.append("</div>")
    note = "".join(f"<p class=note>{html.escape(d)}.</p>" for d in dropped)
    return ("<h2>Samples</h2><p class=note>" + html.escape(" / ".join(c for _, c in columns)) + "</p>" + note
            + "".join(cells) + "<h2>100% crops</h2><p class=note>The same places of every column at full "
            "size: where the truth's edges are strongest, and its darkest area that is not black.</p>"
            + "".join(crops))


def _crops_html(sample: Any, stem: str, columns: list[tuple[str, str]], out: Path) -> str:
    rows = []
    for where, top, left, side in crop_windows(sample.truth):
        figures = []
        for key, caption in columns:
            pixels = _pixels(sample, key)
            if pixels is None or pixels.shape[:2] != sample.truth.shape[:2]:
                continue
            rel = f"crops/{stem}_{where}_{_slug(key)}.png"
            write_image(out / rel, np.ascontiguousarray(pixels[top:top + side, left:left + side]))
            figures.append(f"<figure><img class=crop src='{html.escape(rel)}' width={side} height={side} "
                           f"alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption></figure>")
        rows.append(f"<p class=note>{html.escape(sample.name)}, {where} at ({left}, {top}):</p>"
                    f"<div class=crops>{''.join(figures)}</div>")
    return "".join(rows)


def _header_html(result: Any, title: str, command: str | None) -> str:
    """Title, command, data, the metrics table, notes and settings."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if command:
        parts.append(f"<p class=note><code>{html.escape(command)}</code></p>")
    parts.append(f"<p class=note>Data: {html.escape(result.data)}; {result.settings.get('images', 0)} pictures"
                 + (f", {len(result.skipped)} skipped" if result.skipped else "")
                 + (f", {len(result.failed)} failures" if result.failed else "") + ".</p>")
    parts.append("<h2>Metrics</h2>" + _table_html(result))
    if result.notes:
        parts.append("<p class=note>Notes: " + html.escape("; ".join(result.notes)) + "</p>")
    settings = "".join(f"<tr><th>{html.escape(str(k))}</th><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                       for k, v in result.settings.items() if v is not None)
    parts.append(f"<details><summary>Settings</summary><table>{settings}</table></details>")
    return "".join(parts)


def _histograms_html(result: Any, out: Path) -> str:
    rel = "plots/ab_histograms.png"
    write_image(out / rel, plot_ab_histograms(result.histograms))
    overlaps = ", ".join(
        f"{r['model']}: a {_fmt(r.get('overlap_a'), '{:.3f}')}, b {_fmt(r.get('overlap_b'), '{:.3f}')}"
        for r in result.rows)
    return ("<h2>a and b histograms (real vs generated)</h2>"
            f"<img class=plot src='{rel}' alt='a and b histograms'>"
            f"<p class=note>Histogram overlap with the ground truth: {html.escape(overlaps)}.</p>")


def _training_html(run_dir: str | Path, out: Path) -> str:
    records = read_log(run_dir)
    pixels = plot_training_curves(records)
    text = f"<h2>Training curves</h2><p class=note>{html.escape(str(run_dir))}: {len(records)} records</p>"
    if pixels is None:
        return text + "<p class=note>The log has no numeric series.</p>"
    rel = "plots/training_curves.png"
    write_image(out / rel, pixels)
    return text + f"<img class=plot src='{rel}' alt='training curves'>"


def _problems_html(result: Any) -> str:
    if not (result.skipped or result.failed):
        return ""
    lines = [f"<li>{html.escape(d['image'])}: skipped ({html.escape(d['reason'])})</li>" for d in result.skipped]
    lines += [f"<li>{html.escape(d['image'])} {html.escape(d.get('model', ''))}: {html.escape(d['error'])}</li>"
              for d in result.failed]
    return "<details><summary>Skipped and failed</summary><ul>" + "".join(lines) + "</ul></details>"


def write_report(result: Any, out_dir: str | Path, *, run_dir: str | Path | None = None,
                 command: str | None = None, max_side: int = PREVIEW_MAX_SIDE) -> Path:
    """Write the report folder for an :class:`rawcolour.eval.scoring.EvalResult`; returns index.html's path.

    Sample pictures larger than `max_side` on their long side are shown area-downscaled to it
    (metrics are always computed at full size).
    """
    out = Path(out_dir)
    try:
        for folder in ("images", "crops", "plots"):
            (out / folder).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the report folder ({err.strerror or err})", path=out) from err
    title = f"rawcolour eval {result.task}: {Path(result.data).name or result.data}"
    parts = [_header_html(result, title, command)]
    if result.samples:
        parts.append(_samples_html(result, out, max_side))
    if result.histograms:
        parts.append(_histograms_html(result, out))
    if run_dir is not None:
        parts.append(_training_html(run_dir, out))
    parts.append(_per_picture_html(result))
    parts.append(_problems_html(result))
    _write_text(out / "results.json", json.dumps(result.to_dict(), indent=1, default=str))
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    index = out / "index.html"
    _write_text(index, page)
    return index


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), what="report file")
