"""How a picture goes through a model: the options every pipeline takes, free of torch (the batch
plans, and the classic baseline runs, without loading it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rawcolour.camera_colour import parse_wb
from rawcolour.errors import UsageError
from rawcolour.io.raw import EXPOSURE_RANGE


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
    # Called with (tiles done, tiles) as the network works through a picture (tiling.run_tiled);
    # how the picture is made does not depend on it.
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
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


__all__ = ["InferenceOptions"]
