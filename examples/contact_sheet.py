"""A contact sheet of the shipped models on pictures they never saw in training.

    python examples/contact_sheet.py [-o docs/contact_sheet.jpg] [--raw FILE ...]

Rows of scikit-image's bundled photos (public domain / CC0; needs the test extra):
- colourise: the photo's CIE L (what the model sees) | colorgan-tiny | the original photo;
- raw2rgb: each photo run backwards through a random synthetic camera (rawcolour.data.unprocess) into a
  Bayer DNG (rawcolour.io.dng), then developed by `classic` (LibRaw) | sgan-tiny | the original photo.
`--raw FILE` adds rows for real camera RAW files: classic | sgan-tiny (no ground truth exists).
Every output goes through the same library calls as `rawcolour colourise` / `rawcolour raw2rgb`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage import data

from rawcolour import colour
from rawcolour.io import dng
from rawcolour.io import images
from rawcolour.data import unprocess
from rawcolour.checkpoint import load_model
from rawcolour.inference.pipelines import InferenceOptions, colourise_image, raw_to_rgb

ROOT = Path(__file__).resolve().parent.parent
COLOURISE_PHOTOS = ("chelsea", "astronaut", "rocket", "coffee")
RAW_PHOTOS = ("coffee", "astronaut", "chelsea", "rocket")
CELL = 200  # height of one picture on the sheet
SEED = 7


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) float in [0, 1] with the photo's CIE L and no chroma."""
    lab = colour.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    lab[1:] = 0
    return colour.lab_to_rgb(lab).permute(1, 2, 0).clamp(0, 1).numpy()


def synthetic_dng(rgb: np.ndarray, path: Path, rng: np.random.Generator) -> Path:
    black, white = 64, 4095
    params = unprocess.random_params(rng)
    params = unprocess.UnprocessParams(params.rgb_to_cam, params.red_gain, params.blue_gain,
                                       params.brightness_gain, shot_noise=1e-4, read_noise=1e-6)
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    mosaic, cfa = unprocess.unprocess_to_mosaic(rgb[:h, :w], params, rng=rng, noise=True)
    levels = np.round(black + mosaic * (white - black)).astype(np.uint16)
    dng.write_bayer_dng(path, levels, cfa, black=black, white=white, camera="contact sheet",
                        color_matrix=params.xyz_to_cam, as_shot_neutral=tuple(params.as_shot_neutral))
    return path


def cell(picture: np.ndarray) -> Image.Image:
    """Float [0, 1] or uint8 (H, W, 3) -> a PIL image CELL pixels high."""
    if picture.dtype != np.uint8:
        picture = (np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8)
    im = Image.fromarray(picture)
    return im.resize((max(1, round(im.width * CELL / im.height)), CELL), Image.Resampling.LANCZOS)


def sheet(rows: list[tuple[str, list[Image.Image]]], header: list[str]) -> Image.Image:
    label_h, gap = 18, 4
    width = max(sum(c.width for c in cells) + gap * (len(cells) - 1) for _, cells in rows)
    height = sum(CELL + label_h + gap for _ in rows)
    out = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(out)
    y = 0
    for title, cells in rows:
        x = 0
        for name, c in zip(header if title == "" else title.split("|"), cells):
            draw.text((x + 2, y + 3), name, fill="black")
            out.paste(c, (x, y + label_h))
            x += c.width + gap
        y += CELL + label_h + gap
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "contact_sheet.jpg")
    parser.add_argument("--raw", type=Path, action="append", default=[], help="a real camera RAW file")
    args = parser.parse_args()

    options = InferenceOptions(device="cpu")
    colouriser, developer, classic = load_model("colorgan-tiny"), load_model("sgan-tiny"), load_model("classic")
    rows: list[tuple[str, list[Image.Image]]] = []
    for name in COLOURISE_PHOTOS:
        rgb = getattr(data, name)()
        grey = grey_of(rgb)
        out = colourise_image(colouriser, grey, options).rgb
        rows.append((f"{name}: L only (input)|colorgan-tiny|original", [cell(grey), cell(out), cell(rgb)]))

    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        for name in RAW_PHOTOS:
            rgb = getattr(data, name)()
            path = synthetic_dng(rgb, Path(tmp) / f"{name}.dng", rng)
            ours = raw_to_rgb(developer, path, options).rgb
            theirs = raw_to_rgb(classic, path, options).rgb
            rows.append((f"{name} DNG: classic (LibRaw)|sgan-tiny|original",
                         [cell(theirs), cell(ours), cell(rgb)]))
    for path in args.raw:
        rows.append((f"{path.name}: classic (LibRaw)|sgan-tiny",
                     [cell(raw_to_rgb(classic, path, options).rgb), cell(raw_to_rgb(developer, path, options).rgb)]))

    picture = np.asarray(sheet(rows, []))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    images.write_image(args.out, picture, "jpeg", bit_depth=8, quality=85)
    print(args.out, args.out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
