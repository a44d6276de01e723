"""Regenerate the sample inputs in this folder from scikit-image's bundled photos.

    python examples/make_examples.py        # needs the test extra: pip install -e '.[test]'

- coffee.dng: a 12-bit Bayer (RGGB) DNG made from skimage's `coffee` photo by our own
  unprocessing (rawcolour.data.unprocess: random camera matrix, white-balance gains, tone and gamma
  inverted, mosaic, mild shot/read noise) and written by rawcolour.io.dng (pidng). The DNG carries
  the synthetic camera's ColorMatrix1 and AsShotNeutral, so LibRaw (the `classic` model) can
  render it with correct colour too.
- chelsea_grey.png: skimage's `chelsea` photo as an 8-bit greyscale PNG (CIE L), the input of
  `rawcolour colourise`.

The photos are public domain / CC0 (scikit-image's data/README); nothing else is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skimage import data

from rawcolour import colour
from rawcolour.io import dng
from rawcolour.io import images
from rawcolour.io.pixels import from_float
from rawcolour.data import unprocess

HERE = Path(__file__).resolve().parent
SEED = 2026
BLACK, WHITE = 64, 4095  # a 12-bit sensor with a black pedestal, like most cameras


def make_dng(path: Path) -> None:
    rgb = data.coffee()  # (400, 600, 3) uint8
    rng = np.random.default_rng(SEED)
    params = unprocess.random_params(rng)
    # Mild noise: a well-exposed base-ISO shot rather than the training distribution's extremes.
    params = unprocess.UnprocessParams(params.rgb_to_cam, params.red_gain, params.blue_gain,
                                       params.brightness_gain, shot_noise=1e-4, read_noise=1e-6)
    mosaic, cfa = unprocess.unprocess_to_mosaic(rgb, params, rng=rng, noise=True)
    levels = np.round(BLACK + mosaic * (WHITE - BLACK)).astype(np.uint16)
    dng.write_bayer_dng(path, levels, cfa, black=BLACK, white=WHITE, camera="rawcolour example (coffee)",
                        color_matrix=params.xyz_to_cam, as_shot_neutral=tuple(params.as_shot_neutral))


def make_grey(path: Path) -> None:
    rgb = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float() / 255  # (3, H, W)
    lightness = colour.rgb_to_lab(rgb)[0]  # (H, W), 0..100
    grey = colour.lab_to_rgb(torch.stack([lightness, torch.zeros_like(lightness), torch.zeros_like(lightness)]))
    images.write_image(path, from_float(grey[0].numpy(), 8), "png", bit_depth=8)


if __name__ == "__main__":
    make_dng(HERE / "coffee.dng")
    make_grey(HERE / "chelsea_grey.png")
    for name in ("coffee.dng", "chelsea_grey.png"):
        print(HERE / name, (HERE / name).stat().st_size, "bytes")
