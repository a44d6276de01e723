"""Saliency targets: what the map highlights, its range, the disk cache and precomputed maps."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from skimage import data

import rawcolour.data.saliency as sal
from rawcolour.errors import InputError, UsageError
from rawcolour.data.saliency import SaliencyCache, compute_saliency, load_saliency_map


def _object_scene(dtype=np.uint8) -> tuple[np.ndarray, np.ndarray]:
    """Flat grey background with one bright disc off-centre; returns (image, object mask)."""
    img = np.full((120, 160, 3), 90, np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    cv2.circle(mask, (110, 45), 14, 1, -1)
    img[mask.astype(bool)] = (250, 240, 60)
    if dtype != np.uint8:
        img = img.astype(np.float32) / 255
    return img, mask.astype(bool)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_salient_object_beats_flat_background(dtype):
    img, obj = _object_scene(dtype)
    m = compute_saliency(img)
    assert m.shape == obj.shape and m.dtype == np.float32
    far = cv2.dilate(obj.astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert m[obj].mean() > 3 * m[far].mean()
    peak = np.unravel_index(np.argmax(m), m.shape)
    assert abs(peak[0] - 45) <= 20 and abs(peak[1] - 110) <= 20


def test_colour_only_object_is_found():
    # Same luminance as the background, differs only in hue: invisible to grey-only saliency.
    img = np.full((96, 96, 3), 0.5, np.float32)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
    lab[20:40, 55:75, 1] = 60.0  # push a* (red-green) only, keep L
    img = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)
    obj = np.zeros((96, 96), bool)
    obj[20:40, 55:75] = True
    m = compute_saliency(img)
    assert m[obj].mean() > 2 * m[~obj].mean()


def test_range_on_a_photo_and_degenerate_inputs():
    m = compute_saliency(data.astronaut())
    assert m.shape == (512, 512) and m.dtype == np.float32
    assert m.min() == 0.0 and m.max() == pytest.approx(1.0) and m.std() > 0.05
    assert np.all(compute_saliency(np.full((33, 17, 3), 128, np.uint8)) == 0)  # no contrast
    assert compute_saliency(data.camera()).shape == (512, 512)  # greyscale 2-D input
    tiny = compute_saliency(np.random.default_rng(0).uniform(size=(1, 5, 3)))
    assert tiny.shape == (1, 5) and 0 <= tiny.min() and tiny.max() <= 1
    with pytest.raises(InputError):
        compute_saliency(np.zeros((8, 8, 2), np.uint8))


def test_cache_computes_once_and_returns_identical_maps(tmp_path, monkeypatch):
    img, _ = _object_scene()
    calls = []
    real = sal.compute_saliency

    def counting(rgb):
        calls.append(1)
        return real(rgb)

    monkeypatch.setattr(sal, "compute_saliency", counting)
    cache = SaliencyCache(tmp_path / "cache")
    first = cache.get(None, img)
    files = list((tmp_path / "cache").rglob("*.png"))
    assert len(files) == 1 and len(calls) == 1
    mtime = files[0].stat().st_mtime_ns

    second = cache.get(None, img)
    assert len(calls) == 1 and cache.hits == 1 and cache.misses == 1
    assert np.array_equal(first, second) and first.dtype == np.float32
    assert files[0].stat().st_mtime_ns == mtime
    assert list((tmp_path / "cache").rglob(".tmp-*")) == []  # no temporary left behind
    # the 8-bit map is the computed one, quantised
    assert np.abs(first - real(img)).max() <= 0.5 / 255 + 1e-6

    # a fresh cache object on the same folder (another worker, a later run) hits too
    assert np.array_equal(SaliencyCache(tmp_path / "cache").get(None, img), first)
    assert len(calls) == 1
    # a different version is a different key
    SaliencyCache(tmp_path / "cache", version="other").get(None, img)
    assert len(calls) == 2


def test_cache_keyed_by_file_decodes_only_on_a_miss(tmp_path, monkeypatch):
    img, _ = _object_scene()
    src = tmp_path / "pic.png"
    cv2.imwrite(str(src), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cache = SaliencyCache(tmp_path / "cache")
    a = cache.get(src)
    assert a.shape == img.shape[:2]
    assert np.abs(a - compute_saliency(img)).max() <= 0.5 / 255 + 1e-6
    monkeypatch.setattr(sal, "compute_saliency", lambda rgb: pytest.fail("recomputed"))
    assert np.array_equal(cache.get(str(src)), a)
    # touching the file changes the key
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    monkeypatch.undo()
    cache.get(src)
    assert cache.misses == 2


def test_cache_recovers_from_a_damaged_entry(tmp_path):
    img, _ = _object_scene()
    cache = SaliencyCache(tmp_path)
    good = cache.get("scene-1", img)
    cache.path_for(cache.key("scene-1")).write_bytes(b"\x89PNG truncated")
    assert np.array_equal(cache.get("scene-1", img), good)
    assert cache.misses == 2
    with pytest.raises(UsageError):
        cache.get("scene-2")  # neither a file nor an image given


def test_load_precomputed_map_by_stem_and_resize(tmp_path):
    grad = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    cv2.imwrite(str(tmp_path / "0001.png"), grad)
    cv2.imwrite(str(tmp_path / "0002.JPG"), np.full((10, 10), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "0003.png"), (np.full((8, 8), 65535)).astype(np.uint16))

    m = load_saliency_map(tmp_path, "0001", (24, 32))
    assert m.shape == (24, 32) and m.dtype == np.float32
    assert m[:, 0].max() < 0.05 and m[:, -1].min() > 0.95
    assert np.all(np.diff(m[0]) >= 0)  # the gradient survives resizing
    same = load_saliency_map(tmp_path, "0001", (48, 64))
    assert np.allclose(same, grad / 255.0)

    assert np.allclose(load_saliency_map(tmp_path, "0002", (5, 7)), 1.0, atol=2 / 255)
    assert np.allclose(load_saliency_map(tmp_path, "0003", (8, 8)), 1.0)
    assert load_saliency_map(tmp_path, "missing", (8, 8)) is None

    (tmp_path / "0004.png").write_bytes(b"not an image")
    with pytest.raises(InputError):
        load_saliency_map(tmp_path, "0004", (8, 8))
    with pytest.raises(InputError):
        load_saliency_map(tmp_path / "nope", "0001", (8, 8))
    with pytest.raises(UsageError):
        load_saliency_map(tmp_path, "0001", (0, 8))
