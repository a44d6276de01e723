"""Whole pictures through a model: decode dispatch, colourisation and RAW development.

Used by the CLI, eval and tests, so every caller gets the same scaling, tiling, precision and
orientation handling.

- ``colourise_image``: by default the chroma (ab) is predicted at the model's render size (short
  side ``render_size`` rounded to the size multiple), upsampled bilinearly and merged with the
  input's own full-resolution L, so the output has the input's size and luminance. ``tile=N``
  predicts at native resolution through the tiler instead.
- ``raw_to_rgb``: the packed picture goes through the tiler (``rawcolour.inference.tiling``): only tiles go
  to the device, blended with raised-cosine weights, instance-norm statistics frozen per picture.
  Learned models output RGB at the packed resolution; ``classic`` renders camera files at full
  resolution with LibRaw.
- Precision: fp16/bf16 outputs are checked for NaN/inf and the picture is redone in fp32 when
  any appear (``Result.notes`` says so). Everything runs under ``torch.inference_mode`` on an
  inference copy of the net (``rawcolour.inference.device.prepare_net``), or, where
  ``options.backend`` takes it, through an onnxruntime session of the same net
  (``rawcolour.inference.onnx_backend``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rawcolour.camera_colour import CameraColour, auto_brightness, balance_packed, picture_colour, srgb_decode
from rawcolour.checkpoint import LoadedModel
from rawcolour.colour_spaces import encode_linear_srgb
from rawcolour.colour import AB_SCALE, l_to_model, lab_to_rgb, model_to_ab, rgb_to_grey_l
from rawcolour.errors import InputError, RawcolourError, UsageError
from rawcolour.inference.classic import develop_classic, renders_camera_file
from rawcolour.inference.device import (
    default_channels_last,
    precision_name,
    prepare_net,
    resolve_device,
    resolve_precision,
)
from rawcolour.inference.inputs import RAW_FORMATS, load_input  # noqa: F401 (part of this module's API)
from rawcolour.inference.options import InferenceOptions
from rawcolour.inference.result import Result
from rawcolour.io.images import Picture
from rawcolour.io.mosaic import flip_image, halve_mosaic, rggb_flips, to_rggb
from rawcolour.io.pixels import dtype_for, from_float, to_float
from rawcolour.io.raw import RawPicture, apply_orientation
from rawcolour.registry import get_spec
from rawcolour.tasks import check_model_task
from rawcolour.inference.tile_geometry import padded_size
from rawcolour.inference.tiling import NonFiniteOutput, TiledResult, run_tiled

# Rows per strip when merging L and ab: bounds the float temporaries of the Lab -> RGB step.
_MERGE_PIXELS = 1 << 20


__all__ = [
    "InferenceOptions",
    "RAW_FORMATS",
    "Result",
    "check_development",
    "colourise_image",
    "load_input",
    "raw_to_rgb",
    "render_shape",
    "resolve_device",
]


# ------------------------------------------------------------------------------------------- running


def _check_task(model: LoadedModel, task: str) -> None:
    check_model_task(model.name, model.task or None, task, hint=f"pick a {task} model (`rawcolour models list`)",
                     path=model.source)


@dataclass
class _Run:
    device: torch.device
    dtype: torch.dtype
    channels_last: bool
    notes: list[str]
    backend: str = "torch"
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # the onnxruntime session; None: the net


def _backend(model: LoadedModel, options: InferenceOptions, run: _Run) -> None:
    """Set ``run``'s backend (options.backend; onnx_backend.choose_backend): onnxruntime's session,
    or torch with a note when the session cannot be made and onnxruntime was not asked for by name."""
    from rawcolour.inference import onnx_backend

    run.backend = onnx_backend.choose_backend(options.backend, model, run.device, run.dtype)
    if run.backend != "onnxruntime":
        return
    try:
        run.forward = onnx_backend.onnx_net(model)
    except RawcolourError as err:
        if options.backend == "onnxruntime":
            raise
        run.notes.append(f"onnxruntime could not run {model.name} ({err}); ran in torch")
        run.backend = "torch"
        return
    run.channels_last = False  # the session takes NCHW arrays


def _run_with_fp32_retry(model: LoadedModel, options: InferenceOptions,
                         fn: Callable[[torch.nn.Module, _Run, bool], TiledResult]) -> tuple[TiledResult, _Run]:
    """Run fn on the inference copy of the net in the requested precision; redo in fp32 on NaN/inf."""
    device = resolve_device(options.device)
    dtype, notes = resolve_precision(options.precision, device)
    if dtype is not torch.float32 and not model.policy.supports_half:
        notes.append(f"{model.name} does not support {precision_name(dtype)}; ran in fp32")
        dtype = torch.float32
    cl = default_channels_last(device, model.net) if options.channels_last is None else bool(options.channels_last)
    run = _Run(device, dtype, cl, notes)
    _backend(model, options, run)
    net = prepare_net(model.net, device, dtype, channels_last=run.channels_last)
    if dtype is torch.float32:
        return fn(net, run, False), run
    try:
        return fn(net, run, True), run
    except NonFiniteOutput:
        notes.append(f"{precision_name(dtype)} gave non-finite values; reran in fp32")
        run.dtype = torch.float32
        return fn(prepare_net(model.net, device, torch.float32, channels_last=run.channels_last), run, False), run


def _finish(rgb: np.ndarray, tile: int | None, start: float, notes: list[str], run: _Run | None,
            white_balance: str = "", colour_space: str = "srgb") -> Result:
    return Result(rgb=rgb, tile=tile, seconds=time.perf_counter() - start, notes=notes,
                  device=str(run.device) if run else "", precision=precision_name(run.dtype) if run else "",
                  backend=run.backend if run else "",
                  white_balance=white_balance, colour_space=colour_space)


# ------------------------------------------------------------------------------------------- raw2rgb


def check_development(model: LoadedModel, options: InferenceOptions) -> None:
    """Refuse, in one line, the development controls ``model`` cannot honour (before any file).

    ``classic`` (LibRaw) honours them all. Learned developers demosaic with their network and clip
    highlights before it (their training's input), so ``--demosaic`` and ``--highlights blend``
    / ``reconstruct`` are LibRaw's only; ``--half``, ``--colour-space`` and ``--exposure`` work
    for every developer.
    """
    if model.net is None:
        return
    if options.demosaic is not None:
        raise UsageError(f"--demosaic picks LibRaw's algorithm; {model.name} demosaics with its network",
                         hint="drop --demosaic, or use --model classic")
    if options.highlights != "clip":
        raise UsageError(f"{model.name} clips highlights (its training's input); --highlights {options.highlights} "
                         "is LibRaw's", hint="drop --highlights, or use --model classic")


def raw_to_rgb(model: LoadedModel, raw: RawPicture | str | Path,
               options: InferenceOptions | None = None, bit_depth: int | None = None) -> Result:
    """Develop a packed RAW picture (or a file) to an upright picture (H, W, 3) float32 in [0, 1],
    in the primaries and curve of ``options.colour_space`` (default sRGB); ``bit_depth`` 8 or 16:
    uint8 / uint16 codes instead, the ones io.pixels.from_float makes of the float picture (a
    writer's; no full-size float picture is made for them).

    - ``classic``: LibRaw's full-resolution render for camera files (linear DNGs included),
      :func:`~rawcolour.io.classic.classic_linear_packed` (packed resolution) for packed inputs;
      white balance, exposure, highlights, demosaic and half size from the options.
    - Learned models whose input space is ``raw-balanced-srgb`` (our developer): colour from the
      file (``options.wb``, see rawcolour.camera_colour), the mosaic mirrored to RGGB (binned to a
      half-size mosaic for ``options.half``), the net (tiled) writes linear sRGB at sensor
      resolution, mirrored back; automatic brightness and ``options.exposure``; orientation.
    - Learned models on ``raw-packed`` input (the paper's): packed (4, h, w) -> 2v - 1 -> net ->
      (y + 1) / 2 at packed resolution (half the sensor's size, so ``half`` changes nothing) ->
      orientation; they judge colour from the picture, so an explicit ``options.wb`` is refused;
      exposure is applied in linear light.
    Every path ends in linear sRGB-primary light, encoded by rawcolour.colour_spaces.
    """
    start = time.perf_counter()
    options = options or InferenceOptions()
    if bit_depth is not None:
        dtype_for(bit_depth)  # 8 or 16, refused before the network runs
    _check_task(model, "raw2rgb")
    check_development(model, options)
    if model.net is None:
        if not isinstance(raw, RawPicture) and not renders_camera_file(raw):
            raw = load_input("raw2rgb", Path(raw))
        classic = develop_classic(raw, options, bit_depth=bit_depth)
        return _finish(classic.pixels, None, start, classic.notes, None, classic.white_balance, options.colour_space)
    if isinstance(raw, (str, Path)):
        raw = load_input("raw2rgb", Path(raw))
    if not isinstance(raw, RawPicture):
        raise UsageError(f"raw_to_rgb needs a RawPicture or a file path, got {type(raw).__name__}")

    x, colour = _network_input(model, raw, options)
    policy, io = model.policy, model.io
    overlap = options.tile_overlap(policy.default_overlap)
    tile = None if policy.tiling == "none" else options.tile

    def fn(net: torch.nn.Module, run: _Run, check: bool) -> TiledResult:
        return run_tiled(net, x, out_channels=3, tile=tile or None, overlap=overlap,
                         size_multiple=policy.size_multiple, min_size=policy.min_size, batch=options.tile_batch,
                         device=run.device, dtype=run.dtype, channels_last=run.channels_last,
                         preprocess=_raw_in, postprocess=_rgb_out, stats=options.tile_stats, check_finite=check,
                         scale=io.output_scale if io is not None else 1, progress=options.progress,
                         forward=run.forward)

    res, run = _run_with_fp32_retry(model, options, fn)
    notes = run.notes + res.notes
    if res.stats is not None and res.tile is not None:
        notes.append(f"tiles {res.tile}, norm statistics: {res.stats}")
    rgb = _encoded(res.output, raw, colour, options, bit_depth)
    notes += list(colour.notes) if colour is not None else []
    return _finish(apply_orientation(rgb, raw.flip), res.tile, start, notes, run,
                   colour.wb if colour is not None else "model", options.colour_space)


def _network_input(model: LoadedModel, raw: RawPicture, options: InferenceOptions) -> tuple[torch.Tensor, CameraColour | None]:
    """The (4, h, w) float32 planes the developer takes, and the picture's colour (None for models
    that judge colour from the picture): white-balanced RGGB (half-size for ``options.half``) for
    ``raw-balanced-srgb`` input, the packed planes as they are for ``raw-packed``."""
    packed = np.asarray(raw.packed)
    if packed.ndim != 3 or packed.shape[0] != 4:
        raise InputError(f"packed RAW must have shape (4, h, w), got {packed.shape}", path=raw.path)
    balanced = model.io is not None and model.io.input_space == "raw-balanced-srgb"
    if not balanced and options.wb != "camera":
        raise UsageError(f"{model.name} judges colour from the picture itself and cannot use --wb",
                         hint="use the default developer (its colour comes from the file) or --model classic")
    colour = picture_colour(raw, options.wb) if balanced else None
    if colour is not None:
        packed = balance_packed(to_rggb(packed, raw.cfa), colour)
        if options.half:
            packed = halve_mosaic(packed)
    return torch.from_numpy(np.ascontiguousarray(packed, dtype=np.float32)), colour  # no copy when float32


def _encoded(output: np.ndarray, raw: RawPicture, colour: CameraColour | None, options: InferenceOptions,
             bit_depth: int | None = None) -> np.ndarray:
    """The network's output in ``options.colour_space`` (``bit_depth`` codes, or float): for a
    balanced developer (``colour``) its linear light mirrored back from RGGB, brightened; for the
    paper's models their sRGB, clipped."""
    space = options.colour_space
    if colour is not None:
        linear = flip_image(output, rggb_flips(raw.cfa))
        gain = auto_brightness(linear) * 2.0 ** options.exposure  # folded into the conversion: no full-size copy
        return encode_linear_srgb(linear, space, to_srgb=gain * np.eye(3), bit_depth=bit_depth)
    np.clip(output, 0.0, 1.0, out=output)
    if options.exposure or space != "srgb":
        return encode_linear_srgb(srgb_decode(output) * np.float32(2.0 ** options.exposure), space, bit_depth=bit_depth)
    return output if bit_depth is None else from_float(output, bit_depth)


def _raw_in(packed: torch.Tensor) -> torch.Tensor:
    return packed.mul(2.0).sub_(1.0)  # packed level v in [0, 1] -> network range 2v - 1 (one new tensor)


def _rgb_out(y: torch.Tensor) -> torch.Tensor:
    # network range -> [0, 1] values (clipped after blending), in place: a 12 MP output is 144 MB, and
    # its two fresh copies cost 0.45 s a picture in a folder (measured; mostly faulting new memory in)
    return y.add_(1.0).mul_(0.5)


MAX_RENDER_ASPECT = 16  # a render's long side is at most this many times its short side


def render_shape(height: int, width: int, render_size: int, multiple: int, min_size: int = 1) -> tuple[int, int]:
    """(h, w) the chroma is predicted at: short side ``render_size``, but no larger than the picture's
    own short side (or the minimum side, when that is larger), rounded to the size multiple (at least
    one multiple and the minimum side); long side scaled alike and rounded, at most
    ``MAX_RENDER_ASPECT`` times the short side (a 1 x 512 strip is rendered 256 x 4096, not
    256 x 131072). A render larger than the picture would only predict interpolated pixels."""
    if render_size < 1:
        raise UsageError(f"render size must be positive, got {render_size}")
    smallest = padded_size(max(1, min_size), multiple)
    target = min(render_size, max(min(height, width), smallest))
    short = max(smallest, int(round(target / multiple)) * multiple)
    scale = short / min(height, width)
    longest = MAX_RENDER_ASPECT * short
    h = min(longest, max(smallest, int(round(height * scale / multiple)) * multiple))
    w = min(longest, max(smallest, int(round(width * scale / multiple)) * multiple))
    return h, w


def _as_pixels(picture: Picture | np.ndarray) -> np.ndarray:
    pixels = picture.pixels if isinstance(picture, Picture) else np.asarray(picture)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise InputError(f"a picture must be (H, W) grey or (H, W, 3) RGB, got shape {pixels.shape}",
                         path=getattr(picture, "path", None))
    if pixels.dtype not in (np.uint8, np.uint16) and not np.issubdtype(pixels.dtype, np.floating):
        raise InputError(f"pixels must be uint8, uint16 or float in [0, 1], got {pixels.dtype}",
                         path=getattr(picture, "path", None))
    return pixels


def _lightness(pixels: np.ndarray) -> torch.Tensor:
    """(H, W[, 3]) pixels -> CIE L (0..100) as a (1, 1, H, W) float32 tensor."""
    rgb = torch.from_numpy(np.ascontiguousarray(to_float(pixels)))
    rgb = rgb[None, None] if rgb.dim() == 2 else rgb.permute(2, 0, 1)[None]
    return rgb_to_grey_l(rgb)


def colourise_image(model: LoadedModel, picture: Picture | np.ndarray,
                    options: InferenceOptions | None = None) -> Result:
    """Colourise a grey (or colour: only its L is used) picture; output (H, W, 3) float32 in [0, 1].

    The output keeps the input's size and its CIE L channel (up to gamut clipping): only a and b
    come from the model. ``options.tile`` 0 or "auto": ab predicted at the render size and
    upsampled bilinearly; N: ab predicted at native resolution in N x N tiles.
    """
    start = time.perf_counter()
    options = options or InferenceOptions()
    _check_task(model, "colourise")
    pixels = _as_pixels(picture)
    read_notes = list(picture.notes) if isinstance(picture, Picture) else []
    height, width = pixels.shape[:2]
    policy = model.policy
    tile = options.tile
    if model.net is None:  # a constant-chroma baseline: `grey` (the luminance alone) or `sepia`
        a, b = get_spec(model.name).constant_ab or (0.0, 0.0)
        ab = torch.tensor([a, b], dtype=torch.float32).view(2, 1, 1) if (a, b) != (0.0, 0.0) else None
        return _finish(_merge(pixels, ab, None), None, start, read_notes, None)

    if tile in (0, "auto"):
        render = options.render_size or policy.render_size or 256
        hr, wr = render_shape(height, width, int(render), policy.size_multiple, policy.min_size)
        small = pixels if (hr, wr) == (height, width) else _area_resize(pixels, hr, wr)
        l_small = l_to_model(_lightness(small))[0]  # (1, hr, wr)

        def fn(net: torch.nn.Module, run: _Run, check: bool) -> TiledResult:
            return run_tiled(net, l_small, out_channels=2, tile=None, size_multiple=policy.size_multiple,
                             min_size=policy.min_size, device=run.device, dtype=run.dtype,
                             channels_last=run.channels_last, check_finite=check, progress=options.progress,
                             forward=run.forward)

        res, run = _run_with_fp32_retry(model, options, fn)
        ab_small = model_to_ab(torch.from_numpy(res.output))  # (hr, wr, 2)
        rgb = _merge(pixels, ab_small.permute(2, 0, 1).contiguous(), None)
        return _finish(rgb, None, start, read_notes + run.notes + res.notes, run)

    # native resolution in tiles
    l_model = torch.empty((1, height, width), dtype=torch.float32)
    for r0, r1 in _strips(height, width):
        l_model[0, r0:r1] = l_to_model(_lightness(pixels[r0:r1]))[0, 0]
    overlap = options.tile_overlap(policy.default_overlap)
    notes: list[str] = []
    if policy.tiling != "supported":
        notes.append("native-resolution tiles see only local context: colours can differ from tile to tile "
                     "(the default render-size mode sees the whole picture)")

    def fn_tiled(net: torch.nn.Module, run: _Run, check: bool) -> TiledResult:
        return run_tiled(net, l_model, out_channels=2, tile=tile, overlap=overlap, size_multiple=policy.size_multiple,
                         min_size=policy.min_size, batch=options.tile_batch, device=run.device, dtype=run.dtype,
                         channels_last=run.channels_last, stats=options.tile_stats, check_finite=check,
                         progress=options.progress, forward=run.forward)

    res, run = _run_with_fp32_retry(model, options, fn_tiled)
    del l_model
    ab = res.output  # (H, W, 2) model units
    ab *= np.float32(AB_SCALE)  # model_to_ab, in place
    rgb = _merge(pixels, None, ab)
    return _finish(rgb, res.tile, start, read_notes + run.notes + notes + res.notes, run)


def _area_resize(pixels: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    interp = cv2.INTER_AREA if h <= pixels.shape[0] and w <= pixels.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(pixels, (w, h), interpolation=interp)


def _strips(height: int, width: int) -> list[tuple[int, int]]:
    rows = max(1, _MERGE_PIXELS // max(1, width))
    return [(r, min(height, r + rows)) for r in range(0, height, rows)]


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear resampling taps as F.interpolate(align_corners=False): (i0, i1, frac) per output index."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def _merge(pixels: np.ndarray, ab_small: torch.Tensor | None, ab_full: np.ndarray | None) -> np.ndarray:
    """The input's L with ab (low-res (2, hr, wr) upsampled bilinearly, full-res (H, W, 2), or zero)
    -> sRGB (H, W, 3) float32, in row strips so no full-size float temporaries pile up."""
    height, width = pixels.shape[:2]
    out = np.empty((height, width, 3), dtype=np.float32)
    wide = None
    if ab_small is not None:
        c0, c1, cf = _linear_taps(ab_small.shape[2], width)
        cf_t = torch.from_numpy(cf)
        wide = ab_small[:, :, c0] * (1 - cf_t) + ab_small[:, :, c1] * cf_t  # (2, hr, W)
        r0_, r1_, rf = _linear_taps(ab_small.shape[1], height)
    for r0, r1 in _strips(height, width):
        light = _lightness(pixels[r0:r1])  # (1, 1, h, W)
        if wide is not None:
            g = torch.from_numpy(rf[r0:r1]).view(1, -1, 1)
            ab = wide[:, r0_[r0:r1]] * (1 - g) + wide[:, r1_[r0:r1]] * g  # (2, h, W)
        elif ab_full is not None:
            ab = torch.from_numpy(ab_full[r0:r1]).permute(2, 0, 1)
        else:
            ab = torch.zeros((2, r1 - r0, width), dtype=torch.float32)
        lab = torch.cat([light[0], ab], dim=0)  # (3, h, W)
        out[r0:r1] = lab_to_rgb(lab, clip=True).permute(1, 2, 0).numpy()
    return out
