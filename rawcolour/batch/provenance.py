"""Whether an existing output is what this run would write, from the provenance it records.

Every output records the rawcolour version, the task, the model's name and checkpoint SHA-256, and
the settings that change its pixels (``settings``: one JSON object, e.g. ``{"exposure": 0.0, "wb":
"camera", ...}``); see :func:`rawcolour.io.images.read_metadata_provenance`. ``--on-exist skip``
keeps an existing output only when that record matches this run: the same model (by SHA-256 when
both sides know it, else by name) and the same settings. Anything else is a conflict, described in
a few words for the one-line failure ("exists, made by sgan-tiny").

Torch-free: the model's hash is the hash of its file, known without loading it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rawcolour.tasks import get_task

# Options that decide how a picture is computed, not what it shows: an output made with other values
# of them is the same result. For RAW developers the tiling too (tiles are seam-free, within 40 dB
# of the whole picture, exact for sgan-isp-tiny); a colouriser's tiles change its method
# (native-resolution tiles instead of the whole picture at --render-size), so they count there.
NOT_PIXELS = frozenset({"device", "precision", "backend", "tile_batch", "channels_last", "progress", "max_pixels"})
NOT_PIXELS_RAW = frozenset({"tile", "overlap", "tile_stats"})


def pixel_settings(task: str, options: Mapping[str, Any], load: Mapping[str, Any] | None = None,
                   bit_depth: int | None = None, quality: int | None = None) -> dict[str, Any]:
    """The settings that change an output's pixels, as JSON-ready values (for provenance).

    ``options``: InferenceOptions keywords; ``load``: LoadSettings fields (RAW decoding; colourise
    reads pictures as they are); ``bit_depth`` and ``quality`` (JPEG): the writer's, as asked for
    (None: the default).
    Every option not known to leave the pixels alone counts, so a new option is safe by default.
    """
    reads_raw = get_task(task).reads_raw
    dropped = NOT_PIXELS | (NOT_PIXELS_RAW if reads_raw else frozenset())
    settings = {k: _plain(v) for k, v in options.items() if k not in dropped}
    if reads_raw:
        settings.update({k: _plain(v) for k, v in (load or {}).items() if k not in dropped})
    else:
        if settings.get("tile") in ("auto", None):
            settings["tile"] = 0  # a colouriser's "auto" is the whole picture at its render size
        if not settings.get("tile"):
            settings.pop("overlap", None)  # context of tiles that are not used
    settings["bit_depth"] = bit_depth
    settings["quality"] = quality
    return settings


def _plain(value: Any) -> Any:
    """A value as JSON holds it (tuples as lists, enums by value), so records compare equal."""
    value = getattr(value, "value", value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def settings_text(settings: Mapping[str, Any]) -> str:
    """The ``settings`` provenance field: compact JSON with sorted keys."""
    return json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)


def conflict(existing: Mapping[str, str], wanted: Mapping[str, str | None]) -> str | None:
    """Why an existing output is not what this run would write, in a few words; None when it is.

    ``existing``: the output's provenance ({} when it has none: another program made it);
    ``wanted``: what this run records (input, model, model_sha256, settings; a None is not compared).
    """
    if "rawcolour" not in existing:
        return "exists, not made by rawcolour (it has no rawcolour provenance)"
    if existing.get("input") and wanted.get("input") and existing["input"] != wanted["input"]:
        return f"exists, made from another input ({existing['input']})"
    made_by = existing.get("model") or "an unnamed model"
    old_sha, new_sha = existing.get("model_sha256"), wanted.get("model_sha256")
    if old_sha and new_sha:
        if old_sha != new_sha:  # other weights; under the same name (or a file's, unknown until loaded) say so
            same_name = wanted.get("model") in (None, made_by)
            return f"exists, made by {made_by}" + (f" with other weights (sha256 {old_sha[:12]})" if same_name else "")
    elif wanted.get("model") is not None and made_by != wanted.get("model"):
        return f"exists, made by {made_by}"
    if wanted.get("settings") is None:
        return None
    if "settings" not in existing:
        return (f"exists, made by {made_by} with rawcolour {existing.get('rawcolour', '?')}, which did not record "
                "its settings")
    try:
        old = json.loads(existing["settings"])
    except ValueError:
        old = None
    new = json.loads(wanted["settings"] or "{}")
    if not isinstance(old, dict):
        return f"exists, made by {made_by} with settings this version cannot read"
    differ = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if not differ:
        return None
    return f"exists, made by {made_by} with " + ", ".join(_option(k, old.get(k)) for k in differ)


def _option(key: str, value: Any) -> str:
    """A setting as the option that gives it: ``--wb auto``, ``--bit-depth default``."""
    if value is None:
        shown = "default"
    elif isinstance(value, list):
        shown = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    elif isinstance(value, float):
        shown = f"{value:g}"
    else:
        shown = str(value)
    return f"--{key.replace('_', '-')} {shown}"


__all__ = ["NOT_PIXELS", "NOT_PIXELS_RAW", "conflict", "pixel_settings", "settings_text"]
