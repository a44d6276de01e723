"""The model step of a batch: decode one input, run the model (or LibRaw's ``classic``) on it, and
hand the batch its :class:`~rawcolour.inference.result.Result` to encode and write.

:class:`ModelConverter` is what :class:`~rawcolour.batch.run.BatchRunner` calls for each file; it
loads the model on first need, so a re-run where every output exists loads nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawcolour.batch.provenance import pixel_settings, settings_text
from rawcolour.colour_spaces import get_colour_space, icc_profile
from rawcolour.inference.classic import ClassicPicture, develop_classic, renders_camera_file
from rawcolour.inference.inputs import check_raw_format, load_input
from rawcolour.inference.options import InferenceOptions
from rawcolour.inference.tile_geometry import check_tile_room
from rawcolour.inference.result import Result
from rawcolour.io import images
from rawcolour.io.metadata import camera_exif
from rawcolour.io.mosaic import check_cfa
from rawcolour.io.packed_png import ZURICH_WHITE, check_levels
from rawcolour.io.raw import is_raw_path
from rawcolour.registry import get_spec, is_model
from rawcolour.tasks import check_model_task, get_task



class PassedOver(Exception):
    """A file the batch passes over on purpose (``--only-grey`` on a colour picture): a skipped
    record with this note, not a failure."""

    def __init__(self, note: str, *, in_colour: bool | None = None):
        super().__init__(note)
        self.note, self.in_colour = note, in_colour


@dataclass
class LoadSettings:
    """How input files are decoded (see pipelines.load_input)."""

    max_pixels: int = images.DEFAULT_MAX_PIXELS
    raw_format: str = "auto"
    cfa: str = "RGGB"
    black: float = 0.0
    white: float = ZURICH_WHITE

    def __post_init__(self) -> None:  # checked before any file is read
        self.raw_format = check_raw_format(self.raw_format)
        self.cfa = check_cfa(self.cfa)
        check_levels(self.black, self.white)


Progress = Callable[[str, float], None]  # (what is happening, share of the current file done, 0..1)


class ModelConverter:
    """The conversion step of the CLI: a registry name or checkpoint file run by rawcolour.inference.pipelines.

    ``options``: how pictures go through the model (device, precision, tile, ...; a copy is kept);
    the model is loaded in ``prepare``, on the first file that needs it. ``bit_depth``,
    ``quality``: the output depth and JPEG quality asked for (the writer's; recorded with the
    settings). ``output_depth``: the depth every output is written at
    (8 or 16; None when it varies), so the developers hand over codes of that depth (no full-size
    float picture between the network and the writer). ``only_grey``
    (colourise): pass over pictures that already have colour instead of replacing their colours.
    ``progress(stage, done)``: what is happening to the current file (loading the model, decoding,
    tiles, encoding) and how much of it is done.
    The ``classic`` baseline runs without torch: LibRaw develops each camera file in ``load`` (a
    worker thread), straight to the output's codes in its colour space (``output_depth``).
    ``overlapped``: the batch decodes one file while it develops and encodes others, so decoding keeps
    to one thread (LibRaw's OpenMP, numpy's BLAS): on this project's 2-core machine a classic folder
    ran 17% faster so (benchmarks/throughput.py), where extra threads only fight the encoder's.
    """

    def __init__(self, task: str, model: str, options: InferenceOptions | None = None,
                 load: LoadSettings | None = None, *, bit_depth: int | None = None, quality: int | None = None,
                 output_depth: int | None = None, only_grey: bool = False, progress: Progress | None = None,
                 overlapped: bool = False):
        self.task = get_task(task).name
        self.reads_raw = get_task(task).reads_raw  # camera RAW / packed RAW in, else ordinary pictures
        self.model_ref = model
        self.options = copy.copy(options) if options is not None else InferenceOptions()
        self.load_settings = load or LoadSettings()
        self.settings = settings_text(pixel_settings(self.task, self.options.offered(self.task),
                                                     vars(self.load_settings), bit_depth, quality))
        self.output_depth = output_depth
        self.only_grey = only_grey
        self.overlapped = overlapped
        self.progress = progress or (lambda stage, done: None)
        self.model: Any = None
        self._identity: tuple[str | None, str | None] | None = None
        spec = get_spec(model) if is_model(model) else None
        self.classic = spec is not None and spec.task == self.task and self.reads_raw and not spec.learned

    def prepare(self) -> None:
        if self.classic:
            return  # no network, no device: nothing to load
        from rawcolour.checkpoint import load_model
        from rawcolour.inference.device import resolve_device, resolve_precision
        from rawcolour.inference.onnx_backend import choose_backend

        self.progress("loading model", 0.0)
        # Device, precision and backend problems would fail every file: find them before the first one.
        device = resolve_device(self.options.device)
        dtype, _notes = resolve_precision(self.options.precision, device)
        model = load_model(self.model_ref, device=device)
        named_file = None if is_model(self.model_ref) else model.source  # a file given by its path is named
        check_model_task(model.name, model.task or None, self.task, path=named_file,
                         hint=f"use `rawcolour {model.task}`, or pick one from `rawcolour models list --task {self.task}`")
        if model.net is not None:  # --backend onnxruntime where it cannot run
            choose_backend(self.options.backend, model, device, dtype)
        if self.reads_raw:
            from rawcolour.inference import pipelines

            pipelines.check_development(model, self.options)  # e.g. --demosaic for a learned model
        tile, policy = self.options.tile, model.policy
        if isinstance(tile, int) and tile > 0 and model.net is not None:
            check_tile_room(tile, self.options.tile_overlap(policy.default_overlap), policy.size_multiple)
        self.model = model

    def describe(self) -> dict[str, str | None]:
        if self.model is None:
            return {"model": self.model_ref, "model_sha256": None}
        return {"model": self.model.name, "model_sha256": self.model.sha256}

    def provenance(self) -> dict[str, str | None]:
        """What an output made now records: the model's name and checkpoint SHA-256 (from its file,
        without loading it, when it is not loaded yet) and the settings that change pixels."""
        if self.model is not None:
            name, sha = self.model.name, self.model.sha256
        else:
            if self._identity is None:
                self._identity = _model_identity(self.model_ref)
            name, sha = self._identity
        return {"model": name, "model_sha256": sha, "settings": self.settings}

    def load(self, path: Path) -> Any:
        """A worker thread: the decoded file (for ``classic``, LibRaw's development of it) and, for
        raw2rgb, the camera's EXIF."""
        if not self.overlapped:
            return self._load(path)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # OpenMP's limit holds for this thread only
            return self._load(path)

    def _load(self, path: Path) -> Any:
        s = self.load_settings
        if not self.reads_raw:
            return load_input(self.task, path, max_pixels=s.max_pixels)
        camera_file = s.raw_format == "camera" or (s.raw_format == "auto" and is_raw_path(path))
        if self.classic and camera_file and renders_camera_file(path):
            source: Any = develop_classic(path, self.options, self.output_depth)  # LibRaw decodes and develops
        else:
            source = load_input(self.task, path, max_pixels=s.max_pixels, raw_format=s.raw_format,
                                cfa=s.cfa, black=s.black, white=s.white)
            if self.classic:
                source = develop_classic(source, self.options, self.output_depth)
        space = get_colour_space(self.options.colour_space)
        exif = camera_exif(path, colour_space_tag=space.exif_colour_space) if camera_file else None
        return _RawFile(source, exif)

    def develop(self, loaded: Any) -> Result:
        self.options.progress = lambda done, total: self.progress(
            f"tile {done}/{total}" if total > 1 else "running", 0.1 + 0.8 * done / max(1, total))
        converted = self._develop(loaded) if self.reads_raw else self._colourise(loaded)
        self.progress("encoding", 0.9)
        return converted

    def _colourise(self, picture: images.Picture) -> Result:
        from rawcolour.data.samples import is_greyscale
        from rawcolour.inference import pipelines

        in_colour = not is_greyscale(picture.pixels)
        if in_colour and self.only_grey:
            raise PassedOver("already in colour (--only-grey)", in_colour=True)
        self.progress("running", 0.1)
        result = pipelines.colourise_image(self.model, picture, self.options)
        if in_colour:
            result.notes.append("the input already had colour: its colours were replaced (--only-grey passes such "
                                "pictures over)")
        result.in_colour = in_colour
        result.input_bit_depth, result.exif, result.icc_profile = picture.bit_depth, picture.exif, picture.icc_profile
        return result

    def _develop(self, loaded: _RawFile) -> Result:
        profile = icc_profile(self.options.colour_space)
        if isinstance(loaded.source, ClassicPicture):
            classic = loaded.source
            return Result(classic.pixels, notes=list(classic.notes), white_balance=classic.white_balance,
                          colour_space=classic.colour_space, exif=loaded.exif, colour_profile=profile)
        from rawcolour.inference import pipelines

        self.progress("running", 0.1)
        result = pipelines.raw_to_rgb(self.model, loaded.source, self.options, bit_depth=self.output_depth)
        result.exif, result.colour_profile = loaded.exif, profile
        return result


@dataclass
class _RawFile:
    """What ``ModelConverter.load`` gives ``develop`` for raw2rgb."""

    source: Any  # RawPicture, or classic's ClassicPicture
    exif: bytes | None  # the camera's EXIF (camera files), ColorSpace set for the output's colour space


def _model_identity(ref: str) -> tuple[str | None, str | None]:
    """(registry name or None for a file, SHA-256 of its weights file or None) without loading the model."""
    from rawcolour.io.files import file_sha256
    from rawcolour.registry import weights_path

    if is_model(ref):
        found = weights_path(ref) if get_spec(ref).learned else None
        return get_spec(ref).name, (file_sha256(found) if found is not None else None)
    path = Path(ref)
    return None, (file_sha256(path) if path.is_file() else None)
