"""`rawcolour eval` and the report: rows, JSON/CSV, fixed synthetic seeds, report files referenced by the HTML."""

from __future__ import annotations

import csv
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from skimage import metrics as skmetrics
from typer.testing import CliRunner

from rawcolour import registry
from rawcolour.eval import evaluation
from rawcolour.eval import metrics
from rawcolour.eval import report
from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint
from rawcolour.cli.main import app
from rawcolour.io.images import write_image
from rawcolour.inference.classic import develop_classic
from rawcolour.io.packed_png import read_rawgan_png
from rawcolour.registry import get_spec
from rawcolour.train.run_folder import read_log

runner = CliRunner()


def _small(img: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


@pytest.fixture()
def no_shipped_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without the shipped weights: registry names find no weights file."""
    monkeypatch.setattr(registry, "models_dirs", lambda: [])


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three colour photos and one greyscale photo from scikit-image, small."""
    d = tmp_path_factory.mktemp("photos")
    write_image(d / "a_astronaut.png", _small(skdata.astronaut(), 192, 256))
    write_image(d / "b_coffee.png", _small(skdata.coffee(), 192, 256))
    write_image(d / "c_chelsea.png", _small(skdata.chelsea(), 160, 240))
    write_image(d / "d_camera.png", _small(skdata.camera(), 128, 128))  # greyscale: skipped
    return d


@pytest.fixture(scope="module")
def small_photos(tmp_path_factory) -> Path:
    """Two small colour photos for synthetic raw (packed 64x48)."""
    d = tmp_path_factory.mktemp("small")
    write_image(d / "a_astronaut.png", _small(skdata.astronaut(), 96, 128))
    write_image(d / "b_coffee.png", _small(skdata.coffee(), 96, 128))
    return d


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """colorgan-tiny with random weights, saved as a real checkpoint file."""
    torch.manual_seed(0)
    spec = get_spec("colorgan-tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny-random.safetensors"
    save_checkpoint(path, spec.build_generator(), checkpoint_metadata(spec))
    return path


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> Path:
    """A torchvision-layout VGG19 state dict with random weights, up to conv5_1 (what L_perc reads)."""
    from rawcolour.nets.vgg import conv_indices

    gen = torch.Generator().manual_seed(0)
    sd, cin = {}, 3
    for name, idx in conv_indices("vgg19").items():
        if idx > conv_indices("vgg19")["conv5_1"]:
            break
        cout = (64, 128, 256, 512, 512)[int(name[4]) - 1]
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * (2.0 / (9 * cin)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.zeros(cout)
        cin = cout
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(sd, path)
    return path


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.src.append(v)


class TestColourise:
    def test_rows_json(self, photos, tiny_checkpoint):
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--model", str(tiny_checkpoint),
                                  "--json", "-q"])
        rec = _json(res)
        assert [r["model"] for r in rec["rows"]] == ["grey", "sepia", "tiny-random"]
        assert rec["rows"][0]["weights"] == rec["rows"][1]["weights"] == "baseline"
        assert rec["rows"][2]["weights"].startswith("tiny-random.safetensors (")
        assert all(r["images"] == 3 for r in rec["rows"])
        assert rec["skipped"] == [{"image": "d_camera.png", "reason": "greyscale"}]
        grey = rec["rows"][0]
        for key in ("psnr", "ssim", "ab_l1", "ab_psnr", "colourfulness", "colourfulness_ratio", "overlap_a",
                    "overlap_b", "hue_accuracy"):
            assert all(isinstance(r[key], float) for r in rec["rows"]), key
        # Grey gives no pixel a hue; sepia gets the warm sectors of these photos (skin, fur) right only.
        assert grey["hue_accuracy"] == 0.0
        assert 0.0 < rec["rows"][1]["hue_accuracy"] < 0.8
        assert rec["reference"]["hue_accuracy"] == 1.0
        assert grey["colourfulness_ratio"] == pytest.approx(grey["colourfulness"] / rec["reference"]["colourfulness"])
        # The grey baseline has no chroma: colourfulness ~0 and its ab errors are the photos' |ab|.
        assert grey["colourfulness"] < 0.5
        assert rec["reference"]["colourfulness"] > 10
        per = [p for p in rec["per_image"] if p["model"] == "grey"]
        assert len(per) == 3
        assert grey["psnr"] == pytest.approx(np.mean([p["psnr"] for p in per]))

    def test_grey_row_independent(self, photos, vgg19_file):
        """The grey row's ab L1 equals the mean |ab| of each photo (8-bit round trip), computed here."""
        from skimage import color as skcolor

        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--json", "-q", "--limit", "2",
                                  "--vgg-weights", str(vgg19_file), "--model", "grey"])
        rec = _json(res)
        assert [r["model"] for r in rec["rows"]] == ["grey", "sepia"]
        assert rec["rows"][0]["perceptual"] > 0  # the L_perc column appears with --vgg-weights
        want = []
        for name in ("a_astronaut.png", "b_coffee.png"):
            rgb = np.asarray(Image.open(photos / name).convert("RGB"))
            lab = skcolor.rgb2lab(rgb / 255.0)
            # The grey output has (nearly) zero ab; its 8-bit quantisation leaves at most ~1 unit.
            want.append(np.mean(np.abs(lab[..., 1:])))
        assert rec["rows"][0]["ab_l1"] == pytest.approx(np.mean(want), abs=1.0)
        assert rec["rows"][0]["images"] == 2

    def test_table_and_csv(self, photos, tmp_path, no_shipped_weights):
        out = tmp_path / "rows.csv"
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--limit", "1", "-q",
                                  "--model", "colorgan-tiny", "--allow-random", "--csv", str(out)])
        assert res.exit_code == 0, res.output
        for text in ("grey", "colorgan-tiny", "random-init", "ab PSNR [dB]", "ground truth"):
            assert text in res.stdout
        rows = list(csv.DictReader(out.open()))
        assert [r["model"] for r in rows] == ["grey", "sepia", "colorgan-tiny", "ground truth"]
        assert rows[2]["weights"] == "random-init" and rows[3]["psnr"] == ""
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--limit", "1", "-q", "--csv", "-",
                                  "--model", "colorgan-tiny", "--allow-random", "--no-baseline"])
        again = list(csv.DictReader(io.StringIO(res.stdout)))
        # stdout holds only the CSV; the random-init network is seeded, so the row repeats exactly.
        assert [r["model"] for r in again] == ["colorgan-tiny", "ground truth"]
        assert {k: v for k, v in again[0].items() if k != "seconds"} == \
            {k: v for k, v in rows[2].items() if k != "seconds"}

    def test_report(self, photos, tiny_checkpoint, tmp_path):
        run = tmp_path / "run"
        run.mkdir()
        lines = [json.dumps({"step": s, "loss_g": 1.0 / (s + 1), "loss_d": 0.5, "val_l1": 0.1 + s / 100,
                             "stage": "1"}) for s in range(0, 50, 10)]
        (run / "log.jsonl").write_text("\n".join(lines) + "\n{truncated\n")
        rep = tmp_path / "report"
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--model", str(tiny_checkpoint),
                                  "--report", str(rep), "--samples", "2", "--run", str(run), "--limit", "2",
                                  "-q", "--json"])
        rec = _json(res)
        assert rec["report"] == str(rep / "index.html")
        parser = _Sources()
        parser.feed((rep / "index.html").read_text())
        srcs = parser.src
        for src in srcs:
            assert not Path(src).is_absolute() and (rep / src).is_file(), src
        written = {str(p.relative_to(rep)) for p in rep.rglob("*.png")}
        assert written == set(srcs)
        # 2 samples x (input + sepia + tiny-random + truth): grey's output is the input (its L, no colour),
        # so its column is left out and the page says so
        assert len([s for s in srcs if s.startswith("images/")]) == 8
        assert not any("_grey" in s for s in srcs)
        page = (rep / "index.html").read_text()
        assert "grey: its output is the same as the input" in page
        # 100% crops: 2 samples x 2 places (edges, shadows) x 4 columns, at full size: a crop is the
        # picture's own pixels at the place the page names
        crops = [s for s in srcs if s.startswith("crops/")]
        assert len(crops) == 16
        truth = np.asarray(Image.open(photos / "a_astronaut.png").convert("RGB"))
        for where in ("edges", "shadows"):
            crop = np.asarray(Image.open(rep / f"crops/00_a_astronaut_{where}_truth.png"))
            left, top = map(int, page.split(f"a_astronaut.png, {where} at (")[1].split(")")[0].split(", "))
            assert np.array_equal(crop, truth[top:top + crop.shape[0], left:left + crop.shape[1]])
        # per-picture figures: in the captions and in a table row per picture and model
        rec_images = json.loads((rep / "results.json").read_text())
        assert page.count("<tr><td class=l>") == len(rec_images["per_image"]) == 2 * 3
        psnr = next(p["psnr"] for p in rec_images["per_image"] if p["model"] == "sepia")
        assert f"sepia (PSNR RGB {psnr:.2f}" in page
        assert {"plots/ab_histograms.png", "plots/training_curves.png"} <= set(srcs)
        assert rec_images["rows"][2]["model"] == "tiny-random"

    def test_errors(self, photos, tmp_path, no_shipped_weights):
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--model", "sgan-tiny", "--allow-random"])
        assert res.exit_code == 2 and "raw2rgb model" in res.stderr
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--model", "colorgan-tiny"])
        assert res.exit_code == 1 and "no installed weights" in res.stderr
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--no-baseline"])
        assert res.exit_code == 2 and "no model" in res.stderr
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--json", "--csv", "-"])
        assert res.exit_code == 2
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), "--device", "cuda:7"])
        assert res.exit_code == 1 and res.stderr.count("rawcolour: error") == 1  # once, not per picture
        broken = tmp_path / "broken"
        broken.mkdir()
        shutil.copy(photos / "b_coffee.png", broken / "b_coffee.png")
        (broken / "c_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        res = runner.invoke(app, ["eval", "colourise", "--data", str(broken), "--json", "-q"])
        assert res.exit_code == 1 and "c_broken.png" in res.stderr  # listed, and the exit code says so
        (line,) = [ln for ln in res.stderr.splitlines() if "c_broken.png" in ln]
        assert line.startswith("rawcolour: error: ") and line.count("c_broken.png") == 1  # named once
        rec = json.loads(res.stdout)
        assert rec["rows"][0]["images"] == 1 and rec["failed"][0]["image"] == "c_broken.png"
        empty = tmp_path / "empty"
        empty.mkdir()
        res = runner.invoke(app, ["eval", "colourise", "--data", str(empty)])
        assert res.exit_code == 1 and "no image files" in res.stderr


class TestRaw2RGB:
    def test_synthetic_fixed_seed(self, small_photos, tmp_path, no_shipped_weights):
        args = ["eval", "raw2rgb", "--data", str(small_photos), "--synthetic-raw", "--json", "-q", "--tile", "0"]
        first = _json(runner.invoke(app, args + ["--model", "sgan-tiny", "--allow-random"]))
        assert [r["model"] for r in first["rows"]] == ["classic", "sgan-tiny"]
        assert all(r["images"] == 2 for r in first["rows"])
        assert first["settings"]["seed"] == 0 and first["rows"][1]["weights"] == "random-init"
        # Every run draws the same camera for a picture, whatever else is in the folder: the
        # deterministic classic row scores coffee identically when it is alone.
        alone = tmp_path / "alone"
        alone.mkdir()
        shutil.copy(small_photos / "b_coffee.png", alone / "b_coffee.png")
        one = _json(runner.invoke(app, [a if a != str(small_photos) else str(alone) for a in args]))
        want = [p for p in first["per_image"] if p["image"] == "b_coffee.png" and p["model"] == "classic"]
        assert [{**p, "seconds": 0} for p in one["per_image"]] == [{**p, "seconds": 0} for p in want]
        # ... and another seed, another camera.
        other = _json(runner.invoke(app, [a if a != str(small_photos) else str(alone) for a in args] + ["--seed", "7"]))
        assert other["per_image"][0]["psnr"] != one["per_image"][0]["psnr"]

    def test_paired_rawgan(self, tmp_path):
        """RAW2RGB-GAN layout: packed RGBA PNG (R, G, B, G) + target of the same size; classic only."""
        rng = np.random.default_rng(0)
        (tmp_path / "ValPhoneRaw").mkdir()
        (tmp_path / "ValCanonRGB").mkdir()
        for i in (1, 2):
            Image.fromarray(rng.integers(0, 255, (32, 48, 4), dtype=np.uint8), "RGBA").save(
                tmp_path / "ValPhoneRaw" / f"{i}.png")
            target = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
            Image.fromarray(target).save(tmp_path / "ValCanonRGB" / f"{i}.png")
        rec = _json(runner.invoke(app, ["eval", "raw2rgb", "--data", str(tmp_path), "--json", "-q", "-m", "classic"]))
        assert [r["model"] for r in rec["rows"]] == ["classic"] and rec["rows"][0]["images"] == 2
        assert rec["settings"]["source"] == "paired, rawgan layout"
        # classic on a packed input is develop_classic's metadata pipeline; score it here with scikit-image.
        want = []
        for i in (1, 2):
            out = develop_classic(read_rawgan_png(tmp_path / "ValPhoneRaw" / f"{i}.png"), bit_depth=None).pixels
            out8 = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
            truth = np.asarray(Image.open(tmp_path / "ValCanonRGB" / f"{i}.png"))
            want.append(skmetrics.peak_signal_noise_ratio(truth, out8))
        assert rec["rows"][0]["psnr"] == pytest.approx(np.mean(want), abs=1e-9)
        res = runner.invoke(app, ["eval", "raw2rgb", "--data", str(tmp_path), "--layout", "zurich", "-m", "classic"])
        assert res.exit_code == 1 and "zurich" in res.stderr


class TestReportUnits:
    def test_training_log(self, tmp_path):
        (tmp_path / "log.jsonl").write_text('{"step": 1, "loss_g": 2.0, "ok": true}\nnot json\n\n'
                                            '{"step": 2, "loss_g": 1.5, "lr": 0.001}\n')
        recs = read_log(tmp_path)
        assert [r["step"] for r in recs] == [1, 2]
        img = report.plot_training_curves(recs)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert report.plot_training_curves([{"step": 1, "note": "x"}]) is None

    def test_training_series_by_kind(self):
        recs = [{"kind": "start", "step": 0, "world_size": 1},
                {"kind": "step", "step": 1, "l1": 0.9}, {"kind": "val", "step": 1, "l1": 0.3},
                {"kind": "step", "step": 2, "l1": 0.7}, {"kind": "val", "step": 2, "l1": 0.2, "epoch": 0}]
        series = report._series(recs, "step")
        assert series == {"step: l1": ([1, 2], [0.9, 0.7]), "val: l1": ([1, 2], [0.3, 0.2])}

    def test_crop_windows_find_edges_and_shadows(self):
        """The report's 100% crops land on the strongest edges and on the darkest area that is not black."""
        h = w = 400
        pic = np.full((h, w, 3), 150, np.uint8)
        pic[:, :] = np.linspace(120, 180, w).astype(np.uint8)[None, :, None]  # a smooth sky
        yy, xx = np.mgrid[0:100, 0:100]
        pic[20:120, 280:380] = np.where(((yy // 4 + xx // 4) % 2)[..., None] == 1, 255, 0)  # fine detail
        noise = np.random.default_rng(0).integers(10, 40, (100, 100, 3))
        pic[290:390, 10:110] = noise.astype(np.uint8)  # a dark, noisy corner
        pic[300:400, 300:400] = 0  # pure black: nothing to see there
        (where_e, top_e, left_e, side), (where_s, top_s, left_s, _) = report.crop_windows(pic, 80)
        assert (where_e, where_s, side) == ("edges", "shadows", 80)
        assert 20 - side < top_e < 120 and 280 - side < left_e < 380  # overlaps the detail
        assert 290 <= top_s + side // 2 <= 390 and 10 <= left_s + side // 2 <= 110  # centred in the dark corner
        small = report.crop_windows(pic[:50, :60], 80)
        assert all(side == 25 and top + side <= 50 and left + side <= 60 for _, top, left, side in small)

    def test_histogram_plot(self):
        h = metrics.ab_histograms(np.random.default_rng(0).normal(0, 20, (16, 16, 3)))
        img = report.plot_ab_histograms({"ground truth": h, "model": h})
        assert img.shape[2] == 3 and img.mean() < 255  # something was drawn

    def test_synthetic_seed_rule(self):
        assert evaluation.synthetic_seed(0, "a.png") == evaluation.synthetic_seed(0, "a.png")
        assert evaluation.synthetic_seed(0, "a.png") != evaluation.synthetic_seed(0, "b.png")


class TestCameraProtocol:
    """eval raw2rgb --cameras: DNG files through held-out cameras, every phase, scored after a tone fit."""

    def test_plan_covers_every_camera_and_phase(self):
        from rawcolour.cameras import EVAL_CAMERAS
        from rawcolour.eval.cameras import camera_plan
        from rawcolour.io.mosaic import BAYER_PATTERNS

        pairs = {camera_plan(i)[:2] for i in range(24)}
        assert pairs == {(c, p) for c in range(len(EVAL_CAMERAS)) for p in BAYER_PATTERNS}

    def test_rows_and_records(self, small_photos, no_shipped_weights):
        res = runner.invoke(app, ["eval", "raw2rgb", "--data", str(small_photos), "--cameras", "--limit", "1",
                                  "--model", "sgan-tiny", "--allow-random", "--json", "-q"])
        rec = _json(res)
        assert rec["task"] == "raw2rgb-cameras"
        rows = {r["model"]: r for r in rec["rows"]}
        assert set(rows) == {"classic", "sgan-tiny"} and all(r["images"] == 3 for r in rows.values())
        assert rows["classic"]["output"] == "sensor" and rows["sgan-tiny"]["output"] == "half sensor"
        for r in rows.values():
            assert r["psnr"] >= r["psnr_gain"] - 0.5  # a free curve fits at least about as well as one gain
            assert 0 < r["de2000"] < 50 and 0 < r["ssim"] <= 1
        shots = [p for p in rec["per_image"] if p["model"] == "classic"]
        assert sorted(p["noise"] for p in shots) == ["high", "low", "mid"]
        assert {p["camera"] for p in shots} == {"Canon EOS 5D Mark IV"} and {p["phase"] for p in shots} == {"RGGB"}
        # Noise costs classic (LibRaw does not denoise): the low-noise shot scores best.
        by = {p["noise"]: p["psnr"] for p in shots}
        assert by["low"] > by["high"]


@pytest.fixture()
def with_tiny_photos(small_photos, tmp_path) -> Path:
    """One usable colour photo, a 1x1 one and a 3x500 one: too small for SSIM's 11x11 window."""
    d = tmp_path / "tiny"
    d.mkdir()
    shutil.copy(small_photos / "a_astronaut.png", d / "a_astronaut.png")
    rng = np.random.default_rng(0)
    write_image(d / "b_one.png", rng.integers(0, 256, (1, 1, 3), dtype=np.uint8))
    write_image(d / "c_thin.png", rng.integers(0, 256, (3, 500, 3), dtype=np.uint8))
    return d


@pytest.mark.parametrize("mode, reason", [
    (["colourise"], "smaller than 11 x 11, SSIM's window"),
    (["raw2rgb", "--synthetic-raw", "--model", "sgan-tiny", "--allow-random", "--tile", "0"],
     "smaller than 22 x 22, SSIM's 11 x 11 window at half size"),
    (["raw2rgb", "--cameras", "--model", "sgan-tiny", "--allow-random"],
     "smaller than 22 x 22, SSIM's 11 x 11 window at half size"),
], ids=["colourise", "synthetic-raw", "cameras"])
def test_pictures_too_small_for_ssim_are_skipped_and_counted(with_tiny_photos, no_shipped_weights, mode, reason):
    # they crashed the whole eval with ValueError (SSIM) or ended it naming no file (--cameras)
    res = runner.invoke(app, ["eval", *mode, "--data", str(with_tiny_photos), "--json"])
    rec = _json(res)
    assert rec["skipped"] == [{"image": "b_one.png", "reason": reason}, {"image": "c_thin.png", "reason": reason}]
    assert rec["failed"] == [] and all(r["images"] >= 1 for r in rec["rows"])
    assert f"skipped 2 picture(s): {reason}" in res.stderr


def test_a_folder_of_pictures_too_small_for_ssim_is_one_line(tmp_path, no_shipped_weights):
    write_image(tmp_path / "one.png", np.full((1, 1, 3), (200, 30, 30), np.uint8))
    res = runner.invoke(app, ["eval", "colourise", "--data", str(tmp_path)])
    assert res.exit_code == 1 and "no colour photos to evaluate (0 greyscale, 1 smaller than 11 x 11" in res.stderr
    res = runner.invoke(app, ["eval", "raw2rgb", "--data", str(tmp_path), "--synthetic-raw"])
    assert res.exit_code == 1 and "no sample to evaluate (1 smaller than 22 x 22" in res.stderr
    res = runner.invoke(app, ["eval", "raw2rgb", "--data", str(tmp_path), "--cameras"])
    assert res.exit_code == 1 and "no photo to evaluate (1 smaller than 22 x 22" in res.stderr
    assert all("Traceback" not in line for line in res.output.splitlines())


def test_the_csv_has_every_model_row_then_the_truth_and_leaves_non_finite_figures_empty() -> None:
    from rawcolour.eval.scoring import EvalResult

    result = EvalResult(task="colourise", data="photos", per_image=[], skipped=[], failed=[], settings={},
                        rows=[{"model": "grey", "weights": "baseline", "images": 2, "psnr": 20.5, "ab_psnr": float("nan"),
                               "colourfulness": 0.1},
                              {"model": "net", "weights": "file", "images": 2, "psnr": float("inf"), "ab_psnr": 24.0}],
                        reference={"model": "ground truth", "images": 2, "colourfulness": 39.5})
    rows = list(csv.DictReader(result.to_csv().splitlines()))
    assert [r["model"] for r in rows] == ["grey", "net", "ground truth"]
    assert (rows[0]["psnr"], rows[0]["ab_psnr"], rows[1]["psnr"], rows[1]["ab_psnr"]) == ("20.5", "", "", "24.0")
    assert rows[2]["colourfulness"] == "39.5" and rows[2]["weights"] == "" and rows[2]["psnr"] == ""
    assert result.table_rows()[-1]["model"] == "ground truth" and len(result.table_rows()) == 3


def test_an_unwritable_csv_or_report_is_said_before_the_evaluation_runs(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    for option, target in (("--csv", a_file / "rows.csv"), ("--report", a_file / "report")):
        res = runner.invoke(app, ["eval", "colourise", "--data", str(photos), option, str(target)])
        assert res.exit_code == 1 and "no colour photos" not in res.stderr  # the data was not looked at
        (line,) = res.stderr.strip().splitlines()
        assert line == (f"rawcolour: error: {a_file}: cannot write {option} there (it is a file, not a folder); "
                        f"choose a folder you can write to for {option}")
    assert a_file.read_text() == "mine"
