"""How a picture goes through a model: the options every pipeline takes, free of torch (the batch
plans, and the classic baseline runs, without loading it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rawcolour.camera_colour import parse_wb
from rawcolour.colour_spaces import COLOUR_SPACES
from rawcolour.errors import UsageError
from rawcolour.io.classic import DEMOSAIC_ALGORITHMS, EXPOSURE_RANGE, HIGHLIGHT_MODES


@dataclass
class InferenceOptions:
    """How a picture goes through a model (the CLI's --device, --precision, --tile, ...)."""

    device: str = "auto"  # auto|cpu|cuda|cuda:N|mps
    precision: str = "fp32"  # fp32|fp16|bf16 (automatic fp32 retry on non-finite output)
    tile: int | str = "auto"  # raw2rgb: "auto" | N network-input (packed) pixels | 0 untiled; colourise: 0 = render-size mode (default), N = native-resolution tiles
    overlap: int | None = None  # None: model policy default
    render_size: int | None = None  # colourise: short side the chroma is predicted at (None: policy render_size)
    tile_batch: int = 4  # tiles per device call (at most; "auto" may use fewer)
    tile_stats: str = "auto"  # where frozen instance-norm statistics come from when tiling (tiling.STATS_MODES)
    channels_last: bool | None = None  # NHWC activations; None: the measured default of the device type
    wb: str | tuple[float, float, float] = "camera"  # raw2rgb: camera|auto|daylight or gains "R,G,B" (see camera_colour)
    exposure: float = 0.0  # raw2rgb: EV on top of the automatic brightness, within EXPOSURE_RANGE
    colour_space: str = "srgb"  # raw2rgb: output primaries and curve, a name of rawcolour.colour_spaces
    highlights: str = "clip"  # raw2rgb: clip|blend|reconstruct (LibRaw's modes; learned developers clip)
    demosaic: str | None = None  # raw2rgb, classic only: LibRaw's algorithm (None: AHD)
    half: bool = False  # raw2rgb: half the sensor's size in each direction, a fast preview
    # Called with (tiles done, tiles) as the network works through a picture (tiling.run_tiled);
    # how the picture is made does not depend on it.
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_development()
        if isinstance(self.wb, str):
            try:
                self.wb = parse_wb(self.wb)
            except ValueError as err:
                raise UsageError(str(err)) from None
        elif len(self.wb) != 3 or not all(float(g) > 0 for g in self.wb):
            raise UsageError(f"white-balance gains must be three positive numbers, got {self.wb!r}")
        else:
            self.wb = tuple(float(g) / float(self.wb[1]) for g in self.wb)  # type: ignore[assignment]
        lo, hi = EXPOSURE_RANGE
        if not (isinstance(self.exposure, (int, float)) and lo <= float(self.exposure) <= hi):
            raise UsageError(f"exposure {self.exposure!r} EV is outside {lo:g}..{hi:g}",
                             hint="LibRaw's exposure range; brighten further in an editor")
        self.exposure = float(self.exposure)

    def _check_development(self) -> None:
        self.colour_space = str(self.colour_space).strip().lower()
        if self.colour_space not in COLOUR_SPACES:
            raise UsageError(f"unknown colour space {self.colour_space!r}", hint=f"use one of {', '.join(COLOUR_SPACES)}")
        if self.highlights not in HIGHLIGHT_MODES:
            raise UsageError(f"unknown highlight mode {self.highlights!r}", hint=f"use one of {', '.join(HIGHLIGHT_MODES)}")
        if self.demosaic is not None:
            self.demosaic = str(self.demosaic).lower()
            if self.demosaic not in DEMOSAIC_ALGORITHMS:
                raise UsageError(f"unknown demosaic algorithm {self.demosaic!r}",
                                 hint=f"use one of {', '.join(DEMOSAIC_ALGORITHMS)}")
        self.half = bool(self.half)


__all__ = ["InferenceOptions"]
