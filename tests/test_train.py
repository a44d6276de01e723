"""Training: losses, schedules, datasets, exact resume, the discriminator really training, checkpoints, CLI.

Tiny models and crops on fixture photos made here (skimage sample pictures, downscaled), so the
whole file runs in well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rawcolour.checkpoint import load_checkpoint, load_discriminator, read_checkpoint
from rawcolour.cli.main import app
from rawcolour.errors import InputError, MissingWeightsError, OutputError, TrainingDiverged, UsageError
from rawcolour.train.config import TrainConfig, resolve
from rawcolour.train.losses import GANLoss, attention_loss
from rawcolour.train.loop import LAST, SIDECAR, Trainer
from rawcolour.train.run_folder import read_log

skdata = pytest.importorskip("skimage.data")

runner = CliRunner()


def _photo_dir(root: Path, n: int = 5, size: tuple[int, int] = (96, 128), grey: int = 0) -> Path:
    """n colour photos (+ grey greyscale ones) made from skimage's sample pictures."""
    root.mkdir(parents=True, exist_ok=True)
    sources = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.immunohistochemistry()]
    for i in range(n):
        img = cv2.resize(sources[i % len(sources)], (size[1], size[0]), interpolation=cv2.INTER_AREA)
        Image.fromarray(np.roll(img, 7 * i, axis=1)).save(root / f"c{i}.png")
    for i in range(grey):
        g = cv2.resize(skdata.camera(), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        Image.fromarray(g).save(root / f"g{i}_mode_l.png")  # one-channel file
        Image.fromarray(np.repeat(g[..., None], 3, axis=2)).save(root / f"g{i}_rgb.jpg", quality=90)  # 3 equal channels
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _photo_dir(tmp_path_factory.mktemp("photos"), grey=1)


def _raw_cfg(photos: Path, out: Path, **kw) -> TrainConfig:
    base = dict(task="raw2rgb", model="sgan-tiny", data=str(photos), out=str(out), synthetic_raw=True, crop_size=32,
                batch_size=2, epochs=2, lambda_perc=0.0, val_split=0.2, save_every=1000)
    base.update(kw)
    return TrainConfig(**base)


def _steps(out: Path) -> list[dict]:
    return [r for r in read_log(out / "log.jsonl") if r["kind"] == "step"]


# ------------------------------------------------------------------------------------ losses


class TestLosses:
    def test_gan_losses_known_values(self) -> None:
        logits = [torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 1, 1), -1.0)]  # two scales
        sp = torch.nn.functional.softplus
        ls = GANLoss("lsgan")
        assert ls.d_term(logits, True).item() == pytest.approx((2 - 1) ** 2 + (-1 - 1) ** 2)
        assert ls.d_loss(logits, logits).item() == pytest.approx(0.5 * (1 + 4 + 4 + 1))
        assert ls.g_loss(logits).item() == pytest.approx(1 + 4)
        ns = GANLoss("nonsaturating")
        assert ns.g_loss(logits).item() == pytest.approx(float(sp(torch.tensor(-2.0)) + sp(torch.tensor(1.0))))
        va = GANLoss("vanilla")  # saturating minimax: G minimises log(1 - D) = -softplus(logit)
        assert va.g_loss(logits).item() == pytest.approx(-float(sp(torch.tensor(2.0)) + sp(torch.tensor(-1.0))))
        assert va.d_term(logits, False).item() == pytest.approx(float(sp(torch.tensor(2.0)) + sp(torch.tensor(-1.0))))
        with pytest.raises(ValueError):
            GANLoss("wgan")

    def test_attention_loss(self) -> None:
        rgb = torch.rand(1, 3, 4, 4) * 2 - 1
        sal = torch.rand(1, 1, 4, 4)
        assert attention_loss(rgb, sal, rgb, sal).item() == 0
        assert attention_loss(rgb, sal, rgb, torch.zeros_like(sal)).item() == pytest.approx(float((rgb * sal).abs().mean()))


# ------------------------------------------------------------------------------------ recipe


class TestRecipe:
    def test_the_run_folder_defaults_to_runs_model_and_the_device_is_checked(self, tmp_path: Path) -> None:
        assert TrainConfig("colourise", "colorgan-tiny", str(tmp_path)).out == str(Path("runs") / "colorgan-tiny")
        assert TrainConfig("colourise", "colorgan-tiny", str(tmp_path), out="elsewhere").out == "elsewhere"
        with pytest.raises(UsageError, match="unknown --device 'tpu'"):
            resolve(TrainConfig("colourise", "colorgan-tiny", str(tmp_path), device="tpu"))
        with pytest.raises(UsageError, match="--white 2 must be above --black 5"):  # before any sample is read
            resolve(TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path), black=5, white=2, lambda_perc=0))
        with pytest.raises(UsageError, match="unknown Bayer pattern 'RGBG'"):
            resolve(TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path), cfa="RGBG", lambda_perc=0))

    def test_sgan_stages_and_ttur(self, tmp_path: Path) -> None:
        plan = resolve(TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path), lambda_perc=0))
        s1, s2 = plan.stages
        assert (s1.lr_g, s1.lr_d, s1.lambda_attention, s1.uses_discriminator) == (2e-4, None, 0.5, False)
        assert (s2.lr_g, s2.lr_d, s2.lambda_gan, s2.lr_halve_every) == (1e-4, 4e-4, 0.01, 10)
        assert plan.gan_loss == "lsgan" and plan.betas == (0.5, 0.999)
        assert [s2.lr_factor(e) for e in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]

    def test_overrides_and_pix2pix_decay(self, tmp_path: Path) -> None:
        plan = resolve(TrainConfig("colourise", "pix2pix", str(tmp_path), lr_g=1e-3, gan_loss="lsgan", epochs=10,
                                   lr_decay_epochs=5))
        (st,) = plan.stages
        assert st.lr_g == 1e-3 and plan.gan_loss == "lsgan"
        assert [round(st.lr_factor(e), 4) for e in (0, 4, 5, 9)] == [1.0, 1.0, round(1 - 1 / 6, 4), round(1 - 5 / 6, 4)]
        plan = resolve(TrainConfig("colourise", "colorgan-tiny", str(tmp_path)))
        assert plan.stages[0].lambda_l1 == 100 and plan.betas[0] == 0.5 and plan.stages[0].lr_g == 2e-4

    def test_perceptual_stage_refuses_without_weights(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="--vgg-weights") as err:
            resolve(TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path)))
        assert "--lambda-perc 0" in str(err.value) and "\n" not in str(err.value)
        resolve(TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path), lambda_perc=0))  # fine
        resolve(TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path), stage="1"))  # stage 1 has no perceptual term
        # a weights file that is not there: refused before any training
        with pytest.raises(MissingWeightsError):
            Trainer(_raw_cfg(_photo_dir(tmp_path / "p", n=3), tmp_path / "run", lambda_perc=1.0,
                             vgg_weights=str(tmp_path / "missing.pth")))
        assert not (tmp_path / "run" / "log.jsonl").exists()

    @pytest.mark.parametrize("kw, match", [
        (dict(task="colourise", model="sgan-tiny"), "raw2rgb model"),
        (dict(model="grey", task="colourise"), "nothing to train"),
        (dict(crop_size=20), "multiple of 8"),
        (dict(stage="3"), "no training stage"),
        (dict(gan_loss="wgan"), "gan-loss"),
        (dict(lr_g=-1.0), "lr-g"),
        (dict(lr_g=float("nan")), "lr-g must be a finite number"),
        (dict(task="colourise", model="colorgan-tiny", lambda_l1=float("inf")), "lambda-l1 must be a finite"),
        (dict(augment=("jitter",)), "augmentation"),
        (dict(synthetic_gains="narrow"), "synthetic-gains"),
        (dict(ab_rebalance=0.5, synthetic_raw=True), "colourise training"),
        (dict(task="colourise", model="colorgan-tiny", ab_rebalance=1.0), "ab-rebalance"),
    ])
    def test_bad_options(self, tmp_path: Path, kw: dict, match: str) -> None:
        base = dict(task="raw2rgb", model="sgan-tiny", data=str(tmp_path), lambda_perc=0.0)
        base.update(kw)
        with pytest.raises(UsageError, match=match):
            resolve(TrainConfig(**base))


# ------------------------------------------------------------------------------------ runs


def test_greyscale_photos_skipped_and_counted(photos: Path, tmp_path: Path) -> None:
    t = Trainer(TrainConfig("colourise", "colorgan-tiny", str(photos), out=str(tmp_path / "run"), val_split=0,
                            batch_size=2))
    assert t.data.summary["train"]["greyscale_skipped"] == 2  # the one-channel PNG and the 3-equal-channel JPEG
    assert t.data.summary["train"]["photos"] == 5
    assert all(not p.name.startswith("g") for p in t.data.train.photos.paths)
    grey_only = _photo_dir(tmp_path / "grey", n=0, grey=2)  # 4 files
    with pytest.raises(InputError, match=r"of the 3 files for training \(the rest are held out for validation\), "
                                         "3 are greyscale and 0 unreadable"):
        Trainer(TrainConfig("colourise", "colorgan-tiny", str(grey_only), out=str(tmp_path / "grey-run"), val_split=0.25))


def test_resume_continues_exactly(photos: Path, tmp_path: Path) -> None:
    """4 steps straight == 1 step, resume to 3 (inside stage 2, with D), resume to 4: identical losses."""
    straight = _raw_cfg(photos, tmp_path / "a", epochs=1, max_steps=4)  # 2 batches per epoch: stage 2 from step 3
    Trainer(straight).run()
    split = dataclasses.replace(straight, out=str(tmp_path / "b"), max_steps=1)
    Trainer(split).run()
    assert (tmp_path / "b" / SIDECAR).is_file() and (tmp_path / "b" / LAST).is_file()
    Trainer(dataclasses.replace(split, max_steps=3, resume=True)).run()
    Trainer(dataclasses.replace(split, max_steps=4, resume=True)).run()
    with pytest.raises(UsageError, match="lambda-l1 was None, not 5.0"):  # resume keeps the run's own options
        Trainer(dataclasses.replace(split, resume=True, lambda_l1=5.0))
    a, b = _steps(tmp_path / "a"), _steps(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(1, 5))
    assert {r["stage"] for r in a} == {"1", "2"} and "d" in a[-1]
    keys = ("g", "l1", "attention", "d", "d_real", "d_fake", "g_gan")
    assert [[r.get(k) for k in keys] for r in a] == [[r.get(k) for k in keys] for r in b]
    sa, _ = read_checkpoint(tmp_path / "a" / LAST)
    sb, _ = read_checkpoint(tmp_path / "b" / LAST)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_moved_run_resumes_from_another_working_folder(photos: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "first").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    shutil.copytree(photos, "photos")
    first = _raw_cfg(Path("photos"), Path("run"), max_steps=1)  # relative spellings, as typed in a shell
    Trainer(first).run()
    (tmp_path / "first" / "run").rename(tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    again = dataclasses.replace(first, data="first/photos", out="moved", max_steps=2, resume=True)
    Trainer(again).run()
    assert [r["step"] for r in _steps(tmp_path / "moved")] == [1, 2]
    with pytest.raises(UsageError, match="the run was trained with data"):  # another folder is another run
        Trainer(dataclasses.replace(again, data=str(photos), max_steps=3))
    # the whole project moved (another disk, another mount): the same relative spellings still match
    (tmp_path / "project" / "first").mkdir(parents=True)
    (tmp_path / "moved").rename(tmp_path / "project" / "moved")
    (tmp_path / "first" / "photos").rename(tmp_path / "project" / "first" / "photos")
    monkeypatch.chdir(tmp_path / "project")
    Trainer(dataclasses.replace(again, max_steps=3)).run()
    assert [r["step"] for r in _steps(tmp_path / "project" / "moved")] == [1, 2, 3]


def test_discriminator_really_trains(photos: Path, tmp_path: Path) -> None:
    t = Trainer(_raw_cfg(photos, tmp_path / "run", stage="2", lr_d=2e-3))
    t._begin_stage(0)
    assert t.opt_d is not None
    assert t.opt_d.param_groups[0]["lr"] == 2e-3 and t.opt_g.param_groups[0]["lr"] == 1e-4
    t.pos.epoch = 10  # halving every 10 epochs: each optimiser keeps its own base rate
    t._set_lr()
    assert t.opt_d.param_groups[0]["lr"] == 1e-3 and t.opt_g.param_groups[0]["lr"] == 5e-5
    t.pos.epoch = 0
    t._set_lr()
    batch = {k: torch.stack([t.data.train[i][k] for i in range(2)]) for k in ("raw", "rgb", "saliency")}
    before = {k: v.detach().clone() for k, v in t.D.state_dict().items()}
    d0 = t.d_loss_on(batch)
    losses = [t.train_step(batch)["d"] for _ in range(6)]
    after = t.D.state_dict()
    changed = [k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])]
    assert any("original" in k or "weight" in k for k in changed)
    assert t.d_loss_on(batch) < d0 and losses[-1] < losses[0]


def test_checkpoint_loads_and_describes_training(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    end = Trainer(_raw_cfg(photos, out, max_steps=5, save_every=2)).run()
    assert end["reason"] == "max_steps" and end["step"] == 5
    assert {p.name for p in (out / "checkpoints").iterdir()} >= {"step_0000002.safetensors", "stage_1.safetensors"}
    loaded = load_checkpoint(out / LAST)
    assert loaded.name == "sgan-tiny" and loaded.task == "raw2rgb"
    with torch.no_grad():
        assert loaded.net(torch.zeros(1, 4, 32, 32)).shape == (1, 3, 32, 32)
    training = json.loads(loaded.metadata["training"])
    assert training["steps"] == 5 and training["recipe_overrides"]["lambda_perc"] == 0.0
    assert training["data"]["kind"] == "synthetic-raw" and "wall_seconds" in training
    assert sum(p.numel() for p in load_discriminator(out / LAST).parameters()) > 0
    records = read_log(out / "log.jsonl")
    vals = [r for r in records if r["kind"] == "val"]
    assert vals[0]["step"] == 0 and "l1" in vals[0] and "psnr" in vals[0]
    assert (out / "config.json").is_file() and list((out / "samples").glob("step_*.png"))
    with pytest.raises(OutputError, match="already holds a training run"):
        Trainer(_raw_cfg(photos, out))
    with pytest.raises(OutputError, match="--out names a file, not a run folder"):
        Trainer(_raw_cfg(photos, out / "config.json"))
    with pytest.raises(OutputError, match="config.json/run.*Not a directory"):  # the first folder it makes says so
        Trainer(_raw_cfg(photos, out / "config.json" / "run")).run()


def test_paired_rawgan_layout_trains(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        for sub in ("TrainingPhoneRaw", "TrainingCanonRGB", "TrainingCanonRGB_saliency"):
            (tmp_path / "d" / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA").save(
            tmp_path / "d" / "TrainingPhoneRaw" / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "d" / "TrainingCanonRGB" / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(
            tmp_path / "d" / "TrainingCanonRGB_saliency" / f"{i}.jpg")
    cfg = TrainConfig("raw2rgb", "sgan-tiny", str(tmp_path / "d"), out=str(tmp_path / "run"), stage="1",
                      crop_size=16, batch_size=1, max_steps=2, val_split=0.25)
    t = Trainer(cfg)
    assert t.data.summary["kind"] == "paired-rawgan" and not (tmp_path / "run" / "saliency_cache").exists()
    assert t.run()["step"] == 2


def test_colourise_short_run(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = TrainConfig("colourise", "colorgan-tiny", str(photos), out=str(out), batch_size=2, max_steps=2,
                      val_split=0.2, val_max=1)
    end = Trainer(cfg).run()
    assert end["step"] == 2
    vals = [r for r in read_log(out / "log.jsonl") if r["kind"] == "val"]
    assert vals[0]["ab_l1"] > 0 and vals[0]["grey_ab_l1"] > 0
    steps = _steps(out)
    assert all(k in steps[0] for k in ("d", "g_gan", "l1"))
    assert load_checkpoint(out / LAST).task == "colourise"


def test_ab_rebalance_weighs_rare_colours_more(photos: Path, tmp_path: Path) -> None:
    """The rebalanced run's first L1 is the plain one reweighted by the training photos' a/b rarity."""
    from rawcolour.colour import rgb_to_model_lab
    from rawcolour.train.losses import l1, weighted_l1

    base = dict(task="colourise", model="colorgan-tiny", data=str(photos), batch_size=2, val_split=0.2, val_max=1,
                max_steps=1)
    t = Trainer(TrainConfig(**base, out=str(tmp_path / "r"), ab_rebalance=0.5))
    assert t.rebalance is not None
    rgb = torch.stack(list(t.data.train.small_photos(32)))
    _, ab = rgb_to_model_lab(rgb)
    w = t.rebalance(ab)
    assert w.shape == (ab.shape[0], 1, *ab.shape[2:])
    assert abs(float(w.mean()) - 1) < 0.35  # the training photos' own pixels average about 1
    chroma = ab.norm(dim=1, keepdim=True)
    assert float(w[chroma > chroma.quantile(0.95)].mean()) > 1.5 * float(w[chroma < chroma.quantile(0.2)].mean())
    zero = torch.zeros_like(ab)
    assert float(weighted_l1(zero, ab, w)) != pytest.approx(float(l1(zero, ab)), rel=0.05)
    assert Trainer(TrainConfig(**base, out=str(tmp_path / "p"))).rebalance is None
    end = t.run()
    start = next(r for r in read_log(tmp_path / "r" / "log.jsonl") if r["kind"] == "start")
    assert start["ab_rebalance"]["strength"] == 0.5 and end["step"] > 0


# ------------------------------------------------------------------------------------ CLI


def test_a_diverged_run_stops_before_it_logs_or_saves_nan(photos: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    cfg = TrainConfig("colourise", "colorgan-tiny", str(photos), out=str(out), batch_size=2, max_steps=4,
                      save_every=1, val_split=0.2, val_max=1)
    trainer = Trainer(cfg)
    real_step = trainer.train_step

    def step_that_diverges(batch):  # the third step's loss is NaN, as after an exploding update
        losses = real_step(batch)
        return {**losses, "g": float("nan")} if trainer.pos.step == 2 else losses

    monkeypatch.setattr(trainer, "train_step", step_that_diverges)
    with pytest.raises(TrainingDiverged, match="diverged at step 3: the g loss is nan"):
        trainer.run()
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert saved == ["step_0000001.safetensors", "step_0000002.safetensors"]
    log = read_log(out / "log.jsonl")  # valid JSON all through: no NaN was written
    assert [r["step"] for r in log if r["kind"] == "step"] == [1, 2]
    assert log[-1]["kind"] == "end" and log[-1]["reason"] == "diverged"


def test_cli_bad_options_one_line_exit_2(photos: Path, tmp_path: Path) -> None:
    base = ["train", "raw2rgb", "--data", str(photos), "--model", "sgan-tiny", "--synthetic-raw",
            "--out", str(tmp_path / "r")]
    for extra in (["--batch-size", "abc"], ["--bogus"], [], ["--crop-size", "20", "--lambda-perc", "0"],
                  ["--gan-loss", "wgan"], ["--lr-d", "nan", "--lambda-perc", "0"]):
        result = runner.invoke(app, base + extra)
        assert result.exit_code == 2, (extra, result.output)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("rawcolour: error:"), result.output
    result = runner.invoke(app, base + ["--resume", "--lambda-perc", "0"])
    assert result.exit_code == 2 and "nothing to resume" in result.output


def test_cli_runs(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = runner.invoke(app, ["train", "raw2rgb", "--data", str(photos), "--model", "sgan-tiny",
                                 "--synthetic-raw", "--out", str(out), "--stage", "1", "--crop-size", "16",
                                 "--batch-size", "2", "--max-steps", "2", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    end = json.loads(result.output.strip().splitlines()[-1])
    assert end["kind"] == "end" and end["step"] == 2
    assert json.loads((out / "config.json").read_text())["config"]["stage"] == "1"


def test_wide_synthetic_gains_reach_the_training_cameras(photos: Path) -> None:
    from rawcolour.data.samples import list_photos
    from rawcolour.train.datasets import SyntheticRawDataset, scan_photos

    index = scan_photos(list_photos(photos))
    samples = {g: SyntheticRawDataset(index, 32, (), seed=3, train=True, gains=g)[(0, 1)] for g in ("brooks", "wide")}
    # the same crop and target; only the camera's white balance (hence the raw levels) differs
    assert torch.equal(samples["brooks"]["rgb"], samples["wide"]["rgb"])
    assert not torch.equal(samples["brooks"]["raw"], samples["wide"]["raw"])


# ------------------------------------------------------------------------------------ the learned developer


def test_developer_trains_on_camera_shots_and_develops_at_sensor_size(photos: Path, tmp_path: Path) -> None:
    from rawcolour.inference.pipelines import InferenceOptions, raw_to_rgb
    from rawcolour.io.raw import RawPicture

    out = tmp_path / "run"
    cfg = TrainConfig("raw2rgb", "sgan-isp-tiny", str(photos), out=str(out), synthetic_raw=True, stage="1",
                      crop_size=32, batch_size=2, max_steps=3, val_split=0.2, val_max=2)
    t = Trainer(cfg)
    batch = next(iter(t._loader()))
    assert batch["raw"].shape == (2, 4, 32, 32) and batch["rgb"].shape == (2, 3, 64, 64)
    assert batch["saliency"].shape == (2, 1, 64, 64)
    assert t.run()["step"] == 3
    loaded = load_checkpoint(out / LAST)
    training = json.loads(loaded.metadata["training"])
    # The data set is named, not located: no path of the machine it was trained on.
    assert training["data"]["kind"] == "camera-shots" and training["data"]["data"] == photos.name
    vals = [r for r in read_log(out / "log.jsonl") if r["kind"] == "val"]
    assert vals[-1]["psnr"] > 10  # the residual over bilinear starts from a picture, not from noise
    res = raw_to_rgb(loaded, RawPicture(packed=np.full((4, 24, 40), 0.3, np.float32)), InferenceOptions(device="cpu"))
    assert res.rgb.shape == (48, 80, 3)


def test_developer_refuses_what_it_cannot_learn_from(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="simulated cameras"):
        Trainer(TrainConfig("raw2rgb", "sgan-isp-tiny", str(photos), out=str(tmp_path / "a"), stage="1"))
    with pytest.raises(UsageError, match="stage 1 only"):
        Trainer(TrainConfig("raw2rgb", "sgan-isp-tiny", str(photos), out=str(tmp_path / "b"), synthetic_raw=True,
                            stage="2", lambda_perc=0.0))


# ------------------------------------------------------------------------ tampered resume files


def _resume_file(path: Path) -> dict:
    """A resume file as rawcolour writes it (a small network, the RNG states of now); its dict."""
    from rawcolour.train.resume import ResumeState, RunPosition, rng_state

    net = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters())
    ResumeState(config={"task": "colourise", "out": str(path.parent)}, position=RunPosition(step=3), world_size=1,
                generator=net.state_dict(), opt_stage_index=0, opt_g=opt.state_dict(), rng=[rng_state()]).save(path)
    return torch.load(path, weights_only=True)


def _tampered(state: dict, key: str, value: object) -> dict:
    state = dict(state)
    if value is KeyError:
        state.pop(key)
    else:
        state[key] = value
    return state


@pytest.mark.parametrize("key, value, words", [
    ("config", "{not json", "config is not JSON"),
    ("config", "[1, 2]", "config is a JSON list"),
    ("config", KeyError, "no config"),
    ("config", 7, "config is int"),
    ("config", '{"batch_size": "x"}', "config batch_size is 'x'"),
    ("config", '{"augment": [1]}', "config augment is [1]"),
    ("step", "abc", "step is 'abc'"),
    ("step", -5, "step is -5"),
    ("step", 10**30, "step is 1000000000000000000000000000000"),
    ("stage_index", True, "stage_index is True"),
    ("wall_seconds", float("nan"), "wall_seconds is nan"),
    ("last_val", [1], "last_val is [1]"),
    ("world_size", "1", "world_size is '1'"),
    ("world_size", 0, "world_size is 0"),
    ("opt_stage_index", "x", "opt_stage_index is 'x'"),
    ("generator", [], "generator is not a state dict"),
    ("generator", {"w": 1}, "generator is not a state dict"),
    ("discriminator", {1: torch.zeros(1)}, "discriminator is not a state dict"),
    ("opt_g", {"foo": 1}, "opt_g is not an optimiser state"),
    ("opt_g", {"state": {}, "param_groups": []}, "opt_g is not an optimiser state"),
    ("opt_d", [], "opt_d is not an optimiser state"),
    ("scaler_g", [1], "scaler_g is not a gradient scaler state"),
    ("rng", [{}], "rng state 0 cannot be restored"),
    ("rng", [{"torch": torch.zeros(3, dtype=torch.uint8), "numpy": [1, 2], "python": (1,)}],
     "rng state 0 cannot be restored"),
    ("rng", {"torch": 1}, "rng is not a list"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_a_tampered_resume_file_is_one_line(tmp_path: Path, key, value, words) -> None:
    from rawcolour.errors import CheckpointError
    from rawcolour.train.resume import ResumeState

    path = tmp_path / SIDECAR
    torch.save(_tampered(_resume_file(path), key, value), path)
    with pytest.raises(CheckpointError) as err:
        ResumeState.load(path, world_size=1)
    text = str(err.value)
    assert text.startswith(f"{path}: not a rawcolour resume file, or damaged: {words}"), text
    assert text.endswith("; start the run again without --resume") and "\n" not in text


def test_a_sound_resume_file_still_loads_and_restores_its_rng(tmp_path: Path) -> None:
    import random

    from rawcolour.train.resume import ResumeState

    path = tmp_path / SIDECAR
    _resume_file(path)
    expected = random.random()
    state = ResumeState.load(path, world_size=1)
    random.random()
    state.restore_rng(0)
    assert random.random() == expected  # loading checks the RNG states without leaving them set
    assert state.position.step == 3 and state.opt_stage_index == 0 and state.source == path


def test_resume_weights_that_do_not_fit_name_the_resume_file(photos: Path, tmp_path: Path) -> None:
    from rawcolour.errors import CheckpointError

    cfg = _raw_cfg(photos, tmp_path / "run", max_steps=1)
    Trainer(cfg).run()
    path = tmp_path / "run" / SIDECAR
    state = torch.load(path, weights_only=True)
    torch.save({**state, "generator": {"w": torch.zeros(7)}}, path)
    with pytest.raises(CheckpointError, match=f"^{path}: weights do not match the architecture"):
        Trainer(dataclasses.replace(cfg, max_steps=2, resume=True))
    torch.save({**state, "stage_index": 99}, path)
    with pytest.raises(CheckpointError, match=f"^{path}: not a rawcolour resume file, or damaged: stage_index 99"):
        Trainer(dataclasses.replace(cfg, max_steps=2, resume=True))
