"""A contact sheet of the shipped models on pictures they never saw in training.

    python examples/contact_sheet.py [-o docs/contact_sheet.jpg] [--raw FILE ...]

Rows of scikit-image's bundled photos (public domain / CC0; needs the test extra):
- colourise: the photo's CIE L (what the model sees) | colorgan-tiny | the original photo;
- raw2rgb: each photo shot through a held-out real camera model at high ISO (rawcolour.data.camera_sim)
  into a Bayer DNG, then developed by `classic` (LibRaw) | the default developer | a 100% crop of each
  | the original photo.
`--raw FILE` adds rows for real camera RAW files: classic | the default developer (no ground truth exists).
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
from rawcolour.cameras import EVAL_CAMERAS
from rawcolour.checkpoint import load_model
from rawcolour.data.camera_sim import shot_for, write_shot_dng
from rawcolour.inference.pipelines import InferenceOptions, colourise_image, raw_to_rgb
from rawcolour.io import images
from rawcolour.tasks import COLOURISE, RAW2RGB

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


def crop100(picture: np.ndarray, size: int = CELL) -> np.ndarray:
    """A size x size crop at 100% from the middle of a picture (detail and noise as they are)."""
    h, w = picture.shape[:2]
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return picture[y:y + size, x:x + size]


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
    colouriser, classic = load_model(COLOURISE.default_model), load_model("classic")
    developer = load_model(RAW2RGB.default_model)
    ours_name = RAW2RGB.default_model
    rows: list[tuple[str, list[Image.Image]]] = []
    for name in COLOURISE_PHOTOS:
        rgb = getattr(data, name)()
        grey = grey_of(rgb)
        out = colourise_image(colouriser, grey, options).rgb
        rows.append((f"{name}: L only (input)|{COLOURISE.default_model}|original", [cell(grey), cell(out), cell(rgb)]))

    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(RAW_PHOTOS):
            rgb = getattr(data, name)()
            camera = EVAL_CAMERAS[i % len(EVAL_CAMERAS)]
            path, truth = write_shot_dng(Path(tmp) / f"{name}.dng", rgb, shot_for(camera, "high", kelvin=4200.0),
                                         "GRBG", np.random.default_rng(SEED + i))
            ours = raw_to_rgb(developer, path, options).rgb
            theirs = raw_to_rgb(classic, path, options).rgb
            rows.append((f"{name}, {camera.name} ISO high: classic|{ours_name}|classic 100%|{ours_name} 100%|original",
                         [cell(theirs), cell(ours), cell(crop100(theirs)), cell(crop100(ours)), cell(truth)]))
    for path in args.raw:
        theirs, ours = raw_to_rgb(classic, path, options).rgb, raw_to_rgb(developer, path, options).rgb
        rows.append((f"{path.name}: classic (LibRaw)|{ours_name}|classic 100%|{ours_name} 100%",
                     [cell(theirs), cell(ours), cell(crop100(theirs)), cell(crop100(ours))]))

    picture = np.asarray(sheet(rows, []))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    images.write_image(args.out, picture, "jpeg", bit_depth=8, quality=85)
    print(args.out, args.out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
