"""Sample listing and decoding shared by training and eval (rawcolour.data.samples), on fixture folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from rawcolour.data import samples as data
from rawcolour.errors import InputError, UsageError
from rawcolour.io.mosaic import unpack_bayer


def _write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else Image.fromarray(rgb).save(path)
    return path


def _colour(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, 255 - xx * 255 // w], axis=2)
    return np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(np.uint8)


class TestPhotos:
    def test_list_photos_sorted_recursive(self, tmp_path: Path) -> None:
        for name in ("b/10.png", "b/2.PNG", "a.jpg", "notes.txt", ".hidden/x.png", "c/d/e.tif"):
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x")
        names = [str(p.relative_to(tmp_path)) for p in data.list_photos(tmp_path)]
        assert names == ["a.jpg", "b/2.PNG", "b/10.png", "c/d/e.tif"]
        assert [p.name for p in data.list_photos(tmp_path, recursive=False)] == ["a.jpg"]

    def test_list_photos_missing_folder(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="does not exist"):
            data.list_photos(tmp_path / "nope")

    def test_is_greyscale(self) -> None:
        rng = np.random.default_rng(1)
        grey = rng.integers(0, 256, (64, 64), dtype=np.uint8)
        assert data.is_greyscale(grey)
        assert data.is_greyscale(np.repeat(grey[..., None], 3, axis=2))
        # JPEG-like chroma noise of 2 levels is still grey
        noisy = np.repeat(grey[..., None], 3, axis=2).astype(int) + rng.integers(-2, 3, (64, 64, 3))
        assert data.is_greyscale(np.clip(noisy, 0, 255).astype(np.uint8))
        # a small coloured watermark (< 1% of the frame) on a grey photo
        marked = np.repeat(grey[..., None], 3, axis=2).copy()
        marked[:5, :5] = (255, 0, 0)
        assert data.is_greyscale(marked)
        assert not data.is_greyscale(_colour(64, 64))
        assert not data.is_greyscale(_colour(64, 64).astype(np.float32) / 255)

    def test_greyscale_jpeg_round_trip(self, tmp_path: Path) -> None:
        grey = np.repeat(_colour()[..., :1], 3, axis=2)
        p = _write_rgb(tmp_path / "g.jpg", grey)
        assert data.is_greyscale(data.read_photo(p))
        assert not data.is_greyscale(data.read_photo(_write_rgb(tmp_path / "c.jpg", _colour())))

    def test_fit_crop(self) -> None:
        rgb = _colour(100, 150)
        out = data.fit_crop(rgb, 50)
        assert out.shape == (50, 50, 3)
        out = data.fit_crop(rgb, 64, np.random.default_rng(0), scale_short_side=80)
        assert out.shape == (64, 64, 3)
        assert data.fit_crop(_colour(20, 30), 40).shape == (40, 40, 3)  # upscaled
        with pytest.raises(UsageError):
            data.fit_crop(rgb, 64, scale_short_side=32)


def _zurich(tmp: Path, n: int = 3, size: int = 16) -> Path:
    rng = np.random.default_rng(2)
    for i in range(n):
        mosaic = rng.integers(0, 1021, (2 * size, 2 * size)).astype(np.uint16)
        (tmp / "huawei_raw").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp / "huawei_raw" / f"{i}.png"), mosaic)
        _write_rgb(tmp / "canon" / f"{i}.jpg", _colour(2 * size, 2 * size, seed=i))
    return tmp


def _rawgan(tmp: Path, n: int = 3, size: int = 16, prefix: str = "Training") -> Path:
    rng = np.random.default_rng(3)
    for i in range(n):
        rgba = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
        (tmp / f"{prefix}PhoneRaw").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgba, "RGBA").save(tmp / f"{prefix}PhoneRaw" / f"{i}.png")
        _write_rgb(tmp / f"{prefix}CanonRGB" / f"{i}.jpg", _colour(size, size, seed=i))
        _write_rgb(tmp / f"{prefix}CanonRGB_saliency" / f"{i}.jpg", _colour(size, size, seed=i)[..., 0].copy())
    return tmp


class TestRawPairs:
    def test_zurich_layout(self, tmp_path: Path) -> None:
        d = _zurich(tmp_path, n=12)
        pairs = data.list_raw_pairs(d)
        assert [p.raw.name for p in pairs][:3] == ["0.png", "1.png", "2.png"]
        assert [p.raw.stem for p in pairs][-2:] == ["10", "11"]  # numeric, not lexical order
        assert all(p.layout == "zurich" and p.saliency is None for p in pairs)
        assert data.list_raw_pairs(d, layout="zurich") == pairs
        packed, target = data.load_raw_pair(pairs[0])
        assert packed.shape == (4, 16, 16) and target.shape == (3, 16, 16)
        assert packed.dtype == target.dtype == np.float32
        # packing and the 1020 white level
        mosaic = cv2.imread(str(pairs[0].raw), cv2.IMREAD_UNCHANGED)
        np.testing.assert_allclose(unpack_bayer(packed, "RGGB"), np.clip(mosaic / 1020.0, 0, 1), atol=1e-6)
        # the 2x target is area-downscaled to the packed size
        full = np.asarray(Image.open(pairs[0].target), dtype=np.float32) / 255
        np.testing.assert_allclose(target[:, 0, 0], full[:2, :2].mean(axis=(0, 1)), atol=1e-6)

    def test_rawgan_layout(self, tmp_path: Path) -> None:
        d = _rawgan(tmp_path)
        pairs = data.list_raw_pairs(d)
        assert len(pairs) == 3 and all(p.layout == "rawgan" for p in pairs)
        assert all(p.saliency is not None and p.saliency.parent.name == "TrainingCanonRGB_saliency" for p in pairs)
        packed, target = data.load_raw_pair(pairs[1])
        assert packed.shape == (4, 16, 16) and target.shape == (3, 16, 16)
        rgba = np.asarray(Image.open(pairs[1].raw))
        np.testing.assert_allclose(packed, rgba.transpose(2, 0, 1) / 256.0, atol=1e-7)
        full = np.asarray(Image.open(pairs[1].target), dtype=np.float32).transpose(2, 0, 1) / 255
        np.testing.assert_allclose(target, full, atol=1e-6)

    def test_wrong_or_missing_layout(self, tmp_path: Path) -> None:
        _write_rgb(tmp_path / "photos" / "a.jpg", _colour())
        with pytest.raises(InputError, match="not a paired RAW data folder") as err:
            data.list_raw_pairs(tmp_path / "photos")
        assert "--synthetic-raw" in str(err.value)
        z = _zurich(tmp_path / "z")
        with pytest.raises(InputError, match="rawgan layout"):
            data.list_raw_pairs(z, layout="rawgan")
        with pytest.raises(UsageError):
            data.list_raw_pairs(z, layout="pynet")

    def test_missing_target(self, tmp_path: Path) -> None:
        d = _zurich(tmp_path)
        (d / "canon" / "1.jpg").unlink()
        with pytest.raises(InputError, match="have no target, e.g. 1"):
            data.list_raw_pairs(d)

    def test_target_size_mismatch(self, tmp_path: Path) -> None:
        d = _rawgan(tmp_path, n=1)
        _write_rgb(d / "TrainingCanonRGB" / "0.jpg", _colour(10, 10))
        with pytest.raises(InputError, match="target is 10x10"):
            data.load_raw_pair(data.list_raw_pairs(d)[0])


class TestSynthetic:
    def test_shapes_and_determinism(self, tmp_path: Path) -> None:
        p = _write_rgb(tmp_path / "p.png", _colour(60, 90))
        a = data.synthetic_raw_sample(p, np.random.default_rng(5), size=16)
        b = data.synthetic_raw_sample(p, np.random.default_rng(5), size=16)
        assert a[0].shape == (4, 16, 16) and a[1].shape == (3, 16, 16)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        c = data.synthetic_raw_sample(p, np.random.default_rng(6), size=16)
        assert c[2] != a[2]  # a fresh camera per draw

    def test_small_photo_is_upscaled_and_whole_photo(self) -> None:
        rgb = _colour(20, 24)
        packed, target, _ = data.synthetic_raw_sample(rgb, 0, size=16, crop="centre")
        assert packed.shape == (4, 16, 16) and target.shape == (3, 16, 16)
        packed, target, _ = data.synthetic_raw_sample(rgb, 0)
        assert packed.shape == (4, 10, 12) and target.shape == (3, 10, 12)
