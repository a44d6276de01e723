"""Sliding-window inference: geometry, blending, frozen norm statistics, automatic tile size, memory."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from rawcolour.inference import tiling
from rawcolour.inference.device import prepare_net
from rawcolour.registry import create_model
from rawcolour.inference.tiling import run_tiled
from rawcolour.inference.tile_geometry import axis_weights, mirror_indices, padded_size, tile_starts
from rawcolour.inference.tile_memory import _LiveBytes, bytes_per_pixel, choose_tile, forget_tile_memory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from tile_stats import RESEARCH  # noqa: E402 (the research sources of norm statistics live beside their benchmark)

CPU = torch.device("cpu")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def smooth_picture(c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A photo-like (C, H, W) picture in [0, 1]: smooth gradients plus mild noise and an edge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = []
    for k in range(c):
        p = 0.5 + 0.3 * np.sin(xx / (9 + 3 * k) + k) * np.cos(yy / (13 + k))
        p += 0.2 * (xx > w * (0.3 + 0.1 * k))
        p += 0.03 * rng.standard_normal((h, w))
        planes.append(np.clip(p, 0, 1))
    return torch.from_numpy(np.stack(planes).astype(np.float32))


@pytest.fixture(scope="module")
def sgan_tiny() -> nn.Module:
    torch.manual_seed(0)
    return prepare_net(create_model("sgan-tiny"), CPU)


@pytest.fixture(scope="module")
def sgan_narrow() -> nn.Module:
    """sgan-tiny's architecture at half its width: the same instance norms, a quarter of the work."""
    torch.manual_seed(0)
    return prepare_net(create_model("sgan-tiny", width=8), CPU)


@pytest.fixture()
def cpu_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the CPU batch tiles as a GPU does (it runs them one by one by default), to test batching."""
    monkeypatch.setattr(tiling, "CPU_TILE_BATCH", 8)


def _raw_kwargs(net: nn.Module) -> dict:
    return dict(out_channels=3, size_multiple=8, min_size=16, device=CPU,
                preprocess=lambda b: b * 2 - 1, postprocess=lambda y: (y + 1) * 0.5)


# ------------------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("tile", [None, 32])
@pytest.mark.parametrize("scaled", [True, False])
def test_the_output_is_never_the_callers_picture(tile: int | None, scaled: bool) -> None:
    """A net that hands back its input (here the picture itself when it needs no padding): neither
    an in-place postprocess nor a caller changing the output may write into the picture."""
    x = smooth_picture(3, 64, 96)
    before = x.clone()
    res = run_tiled(nn.Identity(), x, out_channels=3, tile=tile, overlap=8, size_multiple=8, device=CPU,
                    postprocess=(lambda y: y.mul_(0.5)) if scaled else None)
    assert torch.equal(x, before)
    np.testing.assert_allclose(res.output, (0.5 if scaled else 1.0) * before.permute(1, 2, 0).numpy(), atol=1e-6)
    res.output[...] = 7.0
    assert torch.equal(x, before)


class _KeepsOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 3, padding=1)
        self.last: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last = self.conv(x)
        return self.last


def test_a_whole_picture_pass_hands_over_the_networks_output_without_a_copy() -> None:
    """One pass over a whole 12 MP picture makes a 144 MB output: the result is a channel-last view
    of it (a copy into fresh memory took 0.3 s of every picture of a folder)."""
    net = _KeepsOutput().eval()
    res = run_tiled(net, smooth_picture(4, 40, 56), out_channels=3, tile=None, size_multiple=8, device=CPU)
    assert res.tile is None and res.output.shape == (40, 56, 3)
    assert np.shares_memory(res.output, net.last.numpy())


@pytest.mark.parametrize("tile", [None, 32])
def test_a_net_with_the_wrong_number_of_channels_is_refused(tile: int | None) -> None:
    """Whole or in tiles: a 1-channel output is not spread over 3 channels."""
    net = nn.Conv2d(3, 1, 3, padding=1).eval()
    with pytest.raises(ValueError, match=r"the network gave \(1, 1, "):
        run_tiled(net, smooth_picture(3, 64, 96), out_channels=3, tile=tile, overlap=8, size_multiple=8, device=CPU)


@pytest.mark.parametrize("n,start,count", [(5, -3, 11), (7, 0, 10), (4, -2, 8), (9, 3, 4)])
def test_mirror_indices_match_numpy_reflect(n: int, start: int, count: int) -> None:
    base = np.arange(n)
    padded = np.pad(base, (10, 10), mode="reflect")  # index i of padded <-> i - 10 of base
    expect = padded[start + 10:start + 10 + count]
    assert np.array_equal(mirror_indices(n, start, count), expect)


def test_mirror_indices_far_outside_and_single_sample() -> None:
    idx = mirror_indices(3, 0, 17)  # more padding than the picture is wide
    assert idx.min() >= 0 and idx.max() <= 2
    assert list(idx[:7]) == [0, 1, 2, 1, 0, 1, 2]
    assert np.array_equal(mirror_indices(1, -4, 9), np.zeros(9, dtype=np.int64))


@pytest.mark.parametrize("length,tile,overlap,m", [(512, 128, 16, 8), (1000, 256, 32, 8), (768, 256, 64, 128),
                                                   (136, 128, 8, 8), (64, 128, 16, 8)])
def test_tile_starts_cover_align_and_overlap(length: int, tile: int, overlap: int, m: int) -> None:
    length = padded_size(length, m)
    tile = min(tile, length)
    starts = tile_starts(length, tile, overlap, m)
    assert starts[0] == 0 and starts[-1] + tile == length
    assert all(s % m == 0 for s in starts)
    for a, b in zip(starts, starts[1:]):
        assert a < b and a + tile - b >= 2 * overlap  # neighbours share at least 2 * overlap pixels


def test_tile_too_small_for_overlap_is_a_clear_error() -> None:
    from rawcolour.errors import UsageError

    with pytest.raises(UsageError, match="overlap"):
        tile_starts(512, 64, 32, 8)


@pytest.mark.parametrize("feather", [0.25, 0.5, 1.0])
def test_blending_weights_are_a_partition_of_unity(feather: float) -> None:
    length, tile = padded_size(1000, 8), 256
    starts = tile_starts(length, tile, 32, 8)
    weights = axis_weights(starts, tile, length, feather)
    total = np.zeros(length)
    for s, w in zip(starts, weights):
        assert w.min() >= 0 and w.max() <= 1 + 1e-12
        total[s:s + tile] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    # picture edges belong to the edge tiles alone; each cross-fade is a smooth, monotone ramp
    assert weights[0][0] == 1 and weights[-1][-1] == 1
    rise = weights[1][: starts[0] + tile - starts[1]]
    assert np.all(np.diff(rise) >= -1e-12)
    # separable 2-D weights sum to one as well
    ys = tile_starts(600, 256, 32, 8)
    wy = axis_weights(ys, 256, 600, feather)
    grid = np.zeros((600, length))
    for sy, a in zip(ys, wy):
        for sx, b in zip(starts, weights):
            grid[sy:sy + 256, sx:sx + tile] += np.outer(a, b)
    np.testing.assert_allclose(grid, 1.0, atol=1e-12)


# ------------------------------------------------------------------------------------------ exactness


class PointwiseNet(nn.Module):
    """A 1x1 conv that insists on the size multiple: tiling must pad, and blending must be exact."""

    def __init__(self, multiple: int = 8) -> None:
        super().__init__()
        self.multiple = multiple
        self.conv = nn.Conv2d(4, 3, 1)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] % self.multiple == 0 and x.shape[-2] % self.multiple == 0, x.shape
        self.calls.append(tuple(x.shape))
        return self.conv(x)


@pytest.mark.parametrize("h,w,tile", [(37, 53, 16), (5, 300, 32), (64, 64, 64), (3, 3, 16), (101, 77, 40)])
def test_any_size_crops_back_exactly(h: int, w: int, tile: int, cpu_batches: None) -> None:
    torch.manual_seed(0)
    net = PointwiseNet(8)
    x = torch.rand(4, h, w)
    res = run_tiled(net, x, out_channels=3, tile=tile, overlap=4, size_multiple=8, batch=3, device=CPU,
                    whole_if_fits=False)
    with torch.no_grad():
        expect = net.conv(x[None])[0].permute(1, 2, 0).numpy()
    assert res.output.shape == (h, w, 3)
    np.testing.assert_allclose(res.output, expect, atol=1e-5)
    untiled = run_tiled(net, x, out_channels=3, tile=None, size_multiple=8, device=CPU)
    assert untiled.tile is None and untiled.output.shape == (h, w, 3)
    np.testing.assert_allclose(untiled.output, expect, atol=1e-5)


def test_min_size_is_respected(sgan_tiny: nn.Module) -> None:
    x = smooth_picture(4, 5, 9)
    res = run_tiled(sgan_tiny, x, tile=None, **_raw_kwargs(sgan_tiny))
    assert res.output.shape == (5, 9, 3) and np.isfinite(res.output).all()


# ------------------------------------------------------------------------------------------ frozen statistics


def test_tiled_matches_untiled_with_frozen_stats_and_live_stats_are_worse(sgan_narrow: nn.Module,
                                                                          cpu_batches: None) -> None:
    net = sgan_narrow
    x = smooth_picture(4, 128, 200)
    kw = _raw_kwargs(net)
    whole = run_tiled(net, x, tile=None, **kw).output
    common = dict(tile=96, overlap=32, batch=2, whole_if_fits=False, **kw)
    full = run_tiled(net, x, stats=RESEARCH["full"], **common)
    live = run_tiled(net, x, stats=RESEARCH["live"], **common)
    assert full.tile == 96 and full.stats == "full" and live.stats == "live"
    p_full, p_live = psnr(whole, full.output), psnr(whole, live.output)
    assert p_full > 40, p_full
    assert p_live < p_full - 10, (p_live, p_full)  # per-tile statistics visibly change the colours


def test_exact_statistics_pooled_over_tiles_match_the_whole_picture(sgan_narrow: nn.Module) -> None:
    net = sgan_narrow
    x = smooth_picture(4, 96, 200, seed=1)
    kw = _raw_kwargs(net)
    whole = run_tiled(net, x, tile=None, **kw).output
    common = dict(tile=96, overlap=32, whole_if_fits=False, **kw)
    exact = run_tiled(net, x, stats="exact", **common)
    reduced = run_tiled(net, x, stats="auto", **common)
    assert exact.stats.startswith("exact") and reduced.stats.startswith("downscale")
    assert psnr(whole, exact.output) > 40
    assert psnr(whole, exact.output) > psnr(whole, reduced.output)


def test_recorded_statistics_do_not_leak_into_later_calls(sgan_tiny: nn.Module) -> None:
    x = smooth_picture(4, 64, 96)
    kw = _raw_kwargs(sgan_tiny)
    before = run_tiled(sgan_tiny, x, tile=None, **kw).output
    run_tiled(sgan_tiny, smooth_picture(4, 96, 96, seed=3), tile=48, overlap=8, whole_if_fits=False, **kw)
    after = run_tiled(sgan_tiny, x, tile=None, **kw).output
    np.testing.assert_array_equal(before, after)
    from rawcolour.nets.norms import InstanceNorm

    assert all(m.stats_mode == "live" and m.frozen_mean is None
               for m in sgan_tiny.modules() if isinstance(m, InstanceNorm))


# ------------------------------------------------------------------------------------------ auto tile, OOM


class BudgetNet(PointwiseNet):
    """Raises torch.OutOfMemoryError when one call holds more than `limit` pixels (simulated device)."""

    def __init__(self, limit: int) -> None:
        super().__init__(8)
        self.limit = limit
        self.ooms = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] * x.shape[-1] * x.shape[-2] > self.limit:
            self.ooms += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().forward(x)


def test_auto_tile_halves_on_oom_and_remembers(cpu_batches: None) -> None:
    forget_tile_memory()
    torch.manual_seed(0)
    net = BudgetNet(limit=130 * 130)
    x = torch.rand(4, 300, 420)
    huge = lambda: 1e15  # the estimate says everything fits: only the simulated OOM limits it  # noqa: E731
    first = run_tiled(net, x, out_channels=3, tile="auto", overlap=8, size_multiple=8, batch=4, device=CPU,
                      budget=huge)
    assert net.ooms >= 2  # the whole picture, then half of it, failed
    assert first.tile is not None and first.tile * first.tile * first.batch <= net.limit
    assert any("out of memory" in n for n in first.notes)
    with torch.no_grad():
        expect = net.conv(x[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(first.output, expect, atol=1e-5)
    # the next picture starts from what worked: no further out-of-memory
    net.ooms = 0
    second = run_tiled(net, torch.rand(4, 310, 400), out_channels=3, tile="auto", overlap=8, size_multiple=8,
                       batch=4, device=CPU, budget=huge)
    assert net.ooms == 0 and second.tile == first.tile
    forget_tile_memory()


def test_oom_halves_the_batch_before_the_tile(cpu_batches: None) -> None:
    forget_tile_memory()
    net = BudgetNet(limit=2 * 64 * 64)
    x = torch.rand(4, 200, 200)
    res = run_tiled(net, x, out_channels=3, tile=64, overlap=8, size_multiple=8, batch=8, device=CPU)
    assert (res.tile, res.batch) == (64, 2) and net.ooms == 2  # 8 -> 4 -> 2 tiles per call
    forget_tile_memory()


def test_cpu_runs_tiles_one_at_a_time() -> None:
    net = PointwiseNet(8)
    res = run_tiled(net, torch.rand(4, 100, 100), out_channels=3, tile=32, overlap=4, size_multiple=8, batch=4,
                    device=CPU)
    assert res.batch == 1 and {c[0] for c in net.calls} == {1}


def test_auto_tile_follows_the_memory_budget(sgan_narrow: nn.Module) -> None:
    forget_tile_memory()
    bpp = bytes_per_pixel(sgan_narrow, 4, CPU, torch.float32, 8, 16)
    assert 50 < bpp < 100_000
    x = smooth_picture(4, 150, 200)
    kw = _raw_kwargs(sgan_narrow)
    roomy = run_tiled(sgan_narrow, x, tile="auto", budget=lambda: bpp * 1e6, **kw)
    assert roomy.tile is None  # fits: one whole-picture pass
    tight = run_tiled(sgan_narrow, x, tile="auto", overlap=8, budget=lambda: bpp * 100 * 100, **kw)
    assert tight.tile == 96 and tight.batch == 1  # the largest candidate whose activations fit
    assert tight.output.shape == (150, 200, 3)


def test_choose_tile() -> None:
    assert choose_tile(100, 100, 10.0, 1e9, 8, 32, 4) == (None, 1)
    tile, batch = choose_tile(4000, 3000, 1000.0, 1000.0 * 600 * 600, 8, 64, 4)
    assert tile == 512 and batch == 1  # 768^2 does not fit, 512^2 does; two would not
    tile, batch = choose_tile(4000, 3000, 1000.0, 1000.0 * 600 * 600, 8, 64, 4, limit_pixels=200 * 200)
    assert tile == 200  # exactly the side that worked


# ------------------------------------------------------------------------------------------ memory


def test_peak_tensor_memory_does_not_grow_with_picture_size(sgan_narrow: nn.Module) -> None:
    """Apart from the input and the numpy output, tensors alive at once depend on the tile only."""
    kw = _raw_kwargs(sgan_narrow)
    peaks = []
    for h, w in ((80, 112), (160, 224)):
        x = smooth_picture(4, h, w)
        tracker = _LiveBytes()
        with tracker:
            run_tiled(sgan_narrow, x, tile=64, overlap=8, batch=1, whole_if_fits=False, **kw)
        peaks.append(tracker.peak)
    assert peaks[1] <= peaks[0] * 1.1, peaks  # 4x the pixels, same peak


def test_the_memory_probe_does_not_import_the_compiler() -> None:
    """The probe runs before every learned model's first picture; importing torch._dynamo (which a
    dispatch mode does by default) made that picture 0.9 s slower. Fresh interpreter: the modules
    this test file imports would hide it."""
    import subprocess

    code = ("import sys, torch\n"
            "from rawcolour.inference.tile_memory import bytes_per_pixel\n"
            "from rawcolour.registry import create_model\n"
            "net = create_model('sgan-isp-tiny').eval()\n"
            "bpp = bytes_per_pixel(net, 4, torch.device('cpu'), torch.float32, 8, 16)\n"
            "print(bpp > 0, 'torch._dynamo' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.split() == ["True", "False"], proc.stderr
