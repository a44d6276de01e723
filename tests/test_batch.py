"""rawcolour.batch without a model: collecting inputs, naming outputs, the runner's policies and failures."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from rawcolour import distributed
from rawcolour import batch
from rawcolour.distributed import Ranks, share
from rawcolour.io import images, pixels
from rawcolour.batch import (
    BatchRunner,
    Collection,
    Result,
    OutputPlan,
    Source,
    collect_inputs,
    plan_jobs,
    read_path_list,
)
from rawcolour.errors import InputError, MissingWeightsError, OutputError, UsageError


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def grey_png(path: Path, h: int = 24, w: int = 32, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    images.write_image(path, np.full((h, w), value, np.uint8), "png")
    # write_image records rawcolour provenance; an input from a camera or scanner has none
    data = path.read_bytes()
    start = data.index(b"rawcolour\x00") - 8
    length = int.from_bytes(data[start : start + 4], "big")
    path.write_bytes(data[:start] + data[start + 12 + length :])
    assert images.read_metadata_provenance(path) == {}
    return path


def names(collection: Collection, root: Path) -> list[str]:
    return [os.path.relpath(s.path, root) for s in collection.sources]


# ----------------------------------------------------------------------------------------- collecting


@pytest.fixture
def shoot(tmp_path: Path) -> Path:
    """A card dump: RAWs, a packed PNG, sidecars, a hidden file, a subfolder and two symlink loops."""
    d = tmp_path / "shoot"
    touch(d / "b.dng")
    touch(d / "a.NEF")
    touch(d / "packed.png")
    touch(d / "a.xmp")
    touch(d / "notes.txt")
    touch(d / ".hidden.dng")
    touch(d / "day 2" / "é.dng")
    touch(d / "day 2" / "deeper" / "c.cr2")
    (d / "day 2" / "back").symlink_to("..")  # loop to the top
    (d / "day 2" / "deeper" / "self").symlink_to(".")  # loop to itself
    return d


class TestCollect:
    def test_folder_not_recursive(self, shoot):
        c = collect_inputs([str(shoot)], "raw2rgb")
        assert names(c, shoot) == ["a.NEF", "b.dng", "packed.png"]
        assert sorted(p.name for p in c.unsupported) == ["a.xmp", "notes.txt"]
        assert c.unsupported_kinds() == [".txt", ".xmp"]
        assert all(s.root == shoot for s in c.sources) and not c.missing and not c.unsupported_named

    def test_recursive_ends_symlink_loops(self, shoot):
        c = collect_inputs([str(shoot)], "raw2rgb", recursive=True)
        # each real folder once: the loops add nothing, no file twice
        assert names(c, shoot) == ["a.NEF", "b.dng", "day 2/deeper/c.cr2", "day 2/é.dng", "packed.png"]

    def test_colourise_reads_images_only(self, shoot):
        c = collect_inputs([str(shoot)], "colourise")
        assert names(c, shoot) == ["packed.png"]
        assert len(c.unsupported) == 4

    def test_globs_expanded_in_python(self, shoot):
        c = collect_inputs([str(shoot / "*.dng"), str(shoot / "**" / "*.cr2")], "raw2rgb")
        assert names(c, shoot) == ["b.dng", "day 2/deeper/c.cr2"]
        none = collect_inputs([str(shoot / "*.arw")], "raw2rgb")
        assert not none.sources and len(none.missing) == 1
        assert "no file matches" in str(none.missing[0][1])

    def test_missing_and_explicit_unsupported(self, shoot):
        c = collect_inputs([str(shoot / "nope.dng"), str(shoot / "notes.txt"), str(shoot / "b.dng")], "raw2rgb")
        assert [str(e) for _, e in c.missing] == [f"{shoot / 'nope.dng'}: no such file or folder; check the path"]
        assert c.unsupported_named == [shoot / "notes.txt"]
        assert [s.explicit for s in c.sources] == [True]

    def test_same_file_twice_kept_once(self, shoot):
        (shoot / "link.dng").symlink_to(shoot / "b.dng")
        c = collect_inputs([str(shoot / "b.dng"), str(shoot / "link.dng"), str(shoot)], "raw2rgb")
        assert [s.path.name for s in c.sources].count("b.dng") == 1
        assert "link.dng" not in [s.path.name for s in c.sources]

    def test_stdin_paths(self, shoot, monkeypatch):
        assert read_path_list(b"a b.dng\r\n\nc.dng\n") == ["a b.dng", "c.dng"]
        assert read_path_list(b"x\ny.dng\0z.dng\0") == ["x\ny.dng", "z.dng"]  # find -print0: newlines in names
        assert read_path_list("p.dng\n") == ["p.dng"]
        assert read_path_list(b"caf\xe9.dng\n") == [os.fsdecode(b"caf\xe9.dng")]  # not UTF-8: kept byte-exact
        monkeypatch.chdir(shoot)
        c = collect_inputs(["-"], "raw2rgb", stdin_paths=["b.dng", "day 2/é.dng", "a.xmp", "gone.dng"],
                           recursive=True)
        assert names(c, shoot) == ["b.dng", "day 2/é.dng"]
        assert all(s.root == shoot for s in c.sources)  # stdin files keep their folders below the common one
        assert len(c.unsupported) == 1 and not c.unsupported_named  # stdin lists are like folders: quiet
        assert [name for name, _ in c.missing] == ["gone.dng"]

    def test_a_picture_piped_to_stdin_is_one_usage_error(self, tmp_path):
        import cv2
        from skimage import data as skdata

        ok, png = cv2.imencode(".png", skdata.camera())
        ok2, jpeg = cv2.imencode(".jpg", skdata.camera())
        assert ok and ok2
        noise = np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes()
        for data, what in ((png.tobytes(), "a picture"), (jpeg.tobytes(), "a picture"),
                           (b"\x00\x00\x00\x18ftypcrx " + noise, "binary data")):
            with pytest.raises(UsageError, match=f"stdin holds {what}, but `-` reads the paths of files"):
                read_path_list(data)
        many = b"".join(f"shoot/IMG_{i:04d}.dng\n".encode() for i in range(5000))  # a long list is still a list
        assert len(read_path_list(many)) == 5000
        # lists whose first name looks like a signature, NUL-separated lists, names with odd bytes
        assert read_path_list(b"FUJIFILM/DSCF0001.RAF\nFUJIFILM/DSCF0002.RAF\n") == [
            "FUJIFILM/DSCF0001.RAF", "FUJIFILM/DSCF0002.RAF"]
        assert read_path_list(b"BM_scan.tif\0II\tdeep/" + b"x" * 3000 + b".png\0") == [
            "BM_scan.tif", "II\tdeep/" + "x" * 3000 + ".png"]
        assert read_path_list(b"caf\xe9 \xff.dng\n") == [os.fsdecode(b"caf\xe9 \xff.dng")]

    def test_earlier_outputs_and_output_folder_ignored(self, tmp_path):
        d = tmp_path / "scans"
        grey_png(d / "a.png")
        (d / "out").mkdir()
        images.write_image(d / "a_colour.png", np.zeros((8, 8, 3), np.float32), "png", bit_depth=8)
        images.write_image(d / "out" / "old.png", np.zeros((8, 8, 3), np.float32), "png", bit_depth=8)
        grey_png(d / "out" / "not-ours.png")
        c = collect_inputs([str(d)], "colourise", recursive=True, exclude=[d / "out"])
        assert names(c, d) == ["a.png"]
        assert c.ignored == [d / "a_colour.png"]
        named = collect_inputs([str(d / "a_colour.png")], "colourise")  # named explicitly: converted
        assert [s.path.name for s in named.sources] == ["a_colour.png"]

    def test_unreadable_folder_is_named(self, tmp_path, monkeypatch):
        d = tmp_path / "locked"
        touch(d / "a.dng")
        touch(tmp_path / "b.dng")
        real_scandir = os.scandir

        def scandir(path):  # what chmod 000 does to anyone but root
            if Path(path) == d:
                raise PermissionError(13, "Permission denied")
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        c = collect_inputs([str(tmp_path)], "raw2rgb", recursive=True)
        assert [s.path.name for s in c.sources] == ["b.dng"]
        assert [str(e) for _, e in c.missing] == [f"{d}: cannot list the folder: permission denied; "
                                                  "make it readable (chmod u+rx)"]


# ----------------------------------------------------------------------------------------- planning


def collection(*paths: Path, root: Path | None = None) -> Collection:
    return Collection(sources=[Source(p, root) for p in paths])


class TestPlan:
    def test_default_suffix_never_overwrites(self, tmp_path):
        a, b = touch(tmp_path / "in" / "a.dng"), touch(tmp_path / "in" / "b.png")
        beside = plan_jobs(collection(a, b), "raw2rgb", OutputPlan())
        assert [j.output for j in beside] == [tmp_path / "in" / "a_rgb.png", tmp_path / "in" / "b_rgb.png"]
        elsewhere = plan_jobs(collection(a, b), "raw2rgb", OutputPlan(target=str(tmp_path / "out")))
        assert [j.output.name for j in elsewhere] == ["a.png", "b.png"]
        same = plan_jobs(collection(a), "raw2rgb", OutputPlan(target=str(tmp_path / "in"), fmt="tiff"))
        assert same[0].output == tmp_path / "in" / "a_rgb.tif"

    def test_output_equal_to_input_refused(self, tmp_path):
        a = grey_png(tmp_path / "a.png")
        with pytest.raises(UsageError, match="would overwrite the input"):
            plan_jobs(collection(a), "colourise", OutputPlan(suffix=""))
        with pytest.raises(UsageError, match="would overwrite the input"):
            plan_jobs(collection(a), "colourise", OutputPlan(target=str(a)))
        os.link(a, tmp_path / "hard.png")  # the same file under another name
        with pytest.raises(UsageError, match="would overwrite the input"):
            plan_jobs(collection(a), "colourise", OutputPlan(target=str(tmp_path / "hard.png")))
        # the output of one input is another input
        b = grey_png(tmp_path / "b.png")
        b_out = grey_png(tmp_path / "b_colour.png")
        with pytest.raises(UsageError, match="b_colour.png"):
            plan_jobs(collection(b, b_out), "colourise", OutputPlan())

    def test_collisions_caught_before_work_naming_both(self, tmp_path):
        x1, x2 = touch(tmp_path / "d1" / "x.dng"), touch(tmp_path / "d2" / "x.cr2")
        out = str(tmp_path / "out")
        with pytest.raises(UsageError) as info:
            plan_jobs(collection(x1, x2), "raw2rgb", OutputPlan(target=out))
        assert str(x1) in str(info.value) and str(x2) in str(info.value) and "--recursive" in str(info.value)
        assert not (tmp_path / "out").exists()
        # mirrored below their common folder, they no longer collide
        jobs = plan_jobs(collection(x1, x2, root=tmp_path), "raw2rgb", OutputPlan(target=out, recursive=True))
        assert [j.output for j in jobs] == [tmp_path / "out" / "d1" / "x.png", tmp_path / "out" / "d2" / "x.png"]
        # ... and the same with the same stem and extension in one folder, by case
        y1, y2 = touch(tmp_path / "y" / "p.dng"), touch(tmp_path / "y" / "p.DNG")
        with pytest.raises(UsageError, match="would both write.*differ only in the extension"):
            plan_jobs(collection(y1, y2), "raw2rgb", OutputPlan(target=out))

    def test_output_file_and_stdout(self, tmp_path):
        a, b = touch(tmp_path / "a.dng"), touch(tmp_path / "b.dng")
        one = plan_jobs(collection(a), "raw2rgb", OutputPlan(target=str(tmp_path / "dev.TIFF")))
        assert one[0].output == tmp_path / "dev.TIFF" and one[0].fmt == "tiff"
        with pytest.raises(UsageError, match="takes one input, but there are 2"):
            plan_jobs(collection(a, b), "raw2rgb", OutputPlan(target=str(tmp_path / "dev.png")))
        with pytest.raises(UsageError, match="contradicts"):
            plan_jobs(collection(a), "raw2rgb", OutputPlan(target=str(tmp_path / "dev.png"), fmt="jpg"))
        with pytest.raises(UsageError, match="8 bits"):
            plan_jobs(collection(a), "raw2rgb", OutputPlan(fmt="jpg", bit_depth=16))
        with pytest.raises(UsageError, match="--suffix"):
            plan_jobs(collection(a), "raw2rgb", OutputPlan(target="-", suffix="_x"))
        out = plan_jobs(collection(a), "raw2rgb", OutputPlan(target="-"))
        assert out[0].to_stdout and out[0].output is None and out[0].fmt == "png"
        # an existing folder with an image-like name is a folder; a name ending in / is a folder
        (tmp_path / "odd.png").mkdir()
        assert batch.output_kind(str(tmp_path / "odd.png")) == "folder"
        assert batch.output_kind(str(tmp_path / "new.png") + "/") == "folder"
        assert batch.output_kind(str(tmp_path / "new")) == "folder"

    def test_missing_inputs_become_failed_jobs_in_sorted_order(self, tmp_path):
        a = touch(tmp_path / "b.dng")
        c = collection(a)
        gone = str(tmp_path / "a-missing.dng")
        c.missing.append((gone, InputError("no such file or folder", path=gone)))
        jobs = plan_jobs(c, "raw2rgb", OutputPlan(target=str(tmp_path / "out")))
        assert [str(j.input) for j in jobs] == [gone, str(a)]
        assert jobs[0].error is not None and jobs[1].error is None


# ----------------------------------------------------------------------------------------- running


class FakeConverter:
    """Reads an image and returns it in colour; fails like a decoder on bad files; counts its calls."""

    def __init__(self, fatal: Exception | None = None):
        self.prepared = 0
        self.converted: list[str] = []
        self.fatal = fatal

    def prepare(self) -> None:
        self.prepared += 1
        if self.fatal:
            raise self.fatal

    def describe(self) -> dict:
        return {"model": "fake", "model_sha256": "0" * 64}

    def load(self, path: Path) -> images.Picture:
        self.converted.append(path.name)
        return images.read_image(path, max_pixels=10_000)

    def develop(self, pic: images.Picture) -> Result:
        rgb = np.repeat(pixels.to_float(pic.pixels)[..., None], 3, axis=2)
        return Result(rgb, input_bit_depth=pic.bit_depth, exif=pic.exif, icc_profile=pic.icc_profile, tile=None,
                      notes=["fake"])


def test_a_record_without_a_device_says_null_and_keeps_the_json_keys():
    written = Result(np.zeros((2, 2, 3), np.float32), tile=64, notes=["n"], precision="fp32").written(
        input="a.dng", output="out/a.png", status="ok", model="m", model_sha256="0" * 64)
    assert written.rgb is None and written.exif is None  # the pixels are let go once written
    rec = written.to_json()
    assert list(rec) == ["input", "output", "status", "error", "model", "model_sha256", "tile", "seconds", "notes",
                         "device", "precision", "backend", "white_balance", "in_colour"]
    assert rec["device"] is None and rec["white_balance"] is None and rec["precision"] == "fp32"
    assert Result(input="b.png", output=None, status="failed", error="b.png: broken").to_json()["tile"] is None


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    grey_png(d / "good 1.png")
    grey_png(d / "ünï cödé.png")
    touch(d / "empty.png", b"")
    touch(d / "text.png", b"hello, not a picture\n")
    good = (d / "good 1.png").read_bytes()
    touch(d / "truncated.png", good[: len(good) // 2])
    grey_png(d / "big.png", 200, 200)  # 40000 pixels > the fake's limit of 10000
    return d


def run(folder: Path, out: Path, converter=None, **kw):
    converter = converter or FakeConverter()
    records = []
    jobs = plan_jobs(collect_inputs([str(folder)], "colourise"), "colourise", OutputPlan(target=str(out)))
    runner = BatchRunner(converter, task="colourise", on_record=records.append, **kw)
    summary = runner.run(jobs)
    return summary, {Path(r.input).name: r for r in records}, converter


class TestRunner:
    def test_bad_files_fail_alone_and_leave_nothing(self, mixed, tmp_path):
        out = tmp_path / "out"
        summary, records, _ = run(mixed, out)
        assert (summary.ok, summary.failed, summary.skipped) == (2, 4, 0)
        assert {n for n, r in records.items() if r.status == "ok"} == {"good 1.png", "ünï cödé.png"}
        assert "empty (0 bytes)" in records["empty.png"].error
        assert "is a text file" in records["text.png"].error
        assert "corrupt" in records["truncated.png"].error
        assert "--max-pixels" in records["big.png"].error
        for r in records.values():
            assert r.input in (r.error or r.input)  # every failure names its file
        assert files_in(out) == ["good 1.png", "ünï cödé.png"]  # no partial, no temporary file
        provenance = images.read_metadata_provenance(out / "good 1.png")
        assert provenance["model"] == "fake" and provenance["task"] == "colourise"
        assert provenance["input"] == "good 1.png"
        assert images.read_image(out / "good 1.png").bit_depth == 8  # colourise keeps the input's depth

    def test_on_exist_policies(self, mixed, tmp_path):
        out = tmp_path / "out"
        run(mixed, out)
        before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
        summary, records, conv = run(mixed, out)
        assert summary.skipped == 2 and summary.ok == 0 and "good 1.png" not in conv.converted
        assert records["good 1.png"].status == "skipped"
        assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
        summary, records, _ = run(mixed, out, on_exist="error")
        assert records["good 1.png"].status == "failed" and "the output exists" in records["good 1.png"].error
        summary, records, conv = run(mixed, out, on_exist="overwrite")
        assert summary.ok == 2 and "good 1.png" in conv.converted

    def test_model_loaded_only_when_needed_and_fatal_errors_stop(self, mixed, tmp_path):
        out = tmp_path / "out"
        run(mixed, out)
        for name in list(os.listdir(mixed)):
            if name not in ("good 1.png", "ünï cödé.png"):
                os.unlink(mixed / name)
        summary, _, conv = run(mixed, out)  # everything exists: no model needed
        assert conv.prepared == 0 and summary.skipped == 2
        failing = FakeConverter(fatal=MissingWeightsError("model 'x' has no installed weights"))
        with pytest.raises(MissingWeightsError):
            run(mixed, tmp_path / "out2", converter=failing)
        # decoding overlaps loading the model: the first file, and the next one started meanwhile
        assert failing.converted == ["good 1.png", "ünï cödé.png"][: len(failing.converted)]
        assert not (tmp_path / "out2").exists()

    def test_full_disk_leaves_no_partial_file(self, mixed, tmp_path, monkeypatch):
        out = tmp_path / "out"
        out.mkdir()

        def no_space(fd):  # the data went to the temporary file, then the disk filled up
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(images.os, "fsync", no_space)
        summary, records, _ = run(mixed, out)
        assert summary.ok == 0
        assert "the disk is full; nothing was written" in records["good 1.png"].error
        assert "free some space" in records["good 1.png"].error
        assert os.listdir(out) == []

    def test_interrupt_while_writing_leaves_no_partial_file(self, mixed, tmp_path, monkeypatch):
        out = tmp_path / "out"
        out.mkdir()

        def ctrl_c(fd):
            raise KeyboardInterrupt

        monkeypatch.setattr(images.os, "fsync", ctrl_c)
        conv = FakeConverter()
        runner = BatchRunner(conv, task="colourise")
        jobs = plan_jobs(collect_inputs([str(mixed)], "colourise"), "colourise", OutputPlan(target=str(out)))
        with pytest.raises(KeyboardInterrupt):
            runner.run(jobs)
        assert runner.summary.interrupted and os.listdir(out) == []

    def test_unexpected_errors_fail_one_file(self, mixed, tmp_path):
        class Buggy(FakeConverter):
            def develop(self, pic):
                if "good" in pic.path.name:
                    raise ZeroDivisionError("oops")
                return super().develop(pic)

        summary, records, _ = run(mixed, tmp_path / "out", converter=Buggy())
        assert records["good 1.png"].status == "failed"
        assert "unexpected error (ZeroDivisionError: oops); please report this as a bug" in records["good 1.png"].error
        assert records["ünï cödé.png"].status == "ok"

    def test_metadata_carried_or_stripped(self, tmp_path):
        from PIL import Image

        src = tmp_path / "in" / "p.jpg"
        src.parent.mkdir()
        exif = Image.Exif()
        exif[0x010F] = "TestCam"
        exif[0x0112] = 6
        Image.fromarray(np.full((16, 24), 90, np.uint8)).save(src, exif=exif.tobytes())
        run(src.parent, tmp_path / "keep")
        kept = images.read_image(tmp_path / "keep" / "p.png")
        assert b"TestCam" in kept.exif and kept.pixels.shape[:2] == (24, 16)  # upright, EXIF carried
        run(src.parent, tmp_path / "strip", strip_metadata=True)
        assert images.read_image(tmp_path / "strip" / "p.png").exif is None
        assert images.read_metadata_provenance(tmp_path / "strip" / "p.png")["model"] == "fake"


# ----------------------------------------------------------------------------------------- ranks


def test_ranks_and_share():
    assert Ranks.from_env({}) == Ranks(0, 1, 0)
    assert Ranks.from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"}) == Ranks(1, 3, 1)
    with pytest.raises(UsageError):
        Ranks.from_env({"RANK": "3", "WORLD_SIZE": "3"})
    jobs = [batch.Job(Path(f"{i:02d}.dng"), None, "png", None) for i in range(10)]
    parts = [share(jobs, Ranks(r, 3, r)) for r in range(3)]
    assert sorted(j.input for p in parts for j in p) == [j.input for j in jobs]  # each exactly once
    assert [len(p) for p in parts] == [4, 3, 3]
    assert distributed.rank_device("cpu", Ranks(1, 2, 1)) == "cpu" and distributed.rank_device("auto", Ranks()) == "auto"
    assert not distributed.init_distributed(Ranks(0, 1, 0))
    assert distributed.reduce_counts([1, 2]) == [1, 2]


def test_running_out_of_host_memory_is_not_called_a_device_problem() -> None:
    from rawcolour.batch.records import error_text

    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)")
    line = error_text(cpu, "big.png")
    assert line.startswith("big.png: not enough memory") and "--device cpu" not in line and "\n" not in line
    cuda = RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert "the device ran out of memory" in error_text(cuda, "big.png")


def _refuse_access_below(blocked: Path, monkeypatch) -> None:
    """What chmod 555 does to anyone but root: os.access says no for ``blocked`` and below."""
    from rawcolour.batch import run as batch_run

    real_access = os.access
    monkeypatch.setattr(batch_run.os, "access",
                        lambda p, mode, **kw: False if blocked in (Path(p), *Path(p).parents) else real_access(p, mode, **kw))


def test_a_batch_whose_every_output_is_blocked_stops_before_converting(tmp_path, monkeypatch) -> None:
    from rawcolour.batch import run as batch_run
    from rawcolour.batch.plan import Job

    blocked = tmp_path / "ro"
    blocked.mkdir()
    jobs = [Job(tmp_path / f"{i}.dng", blocked / "new" / f"{i}.png", "png", None) for i in range(3)]
    _refuse_access_below(blocked, monkeypatch)
    with pytest.raises(OutputError, match=r"ro: cannot write to the output folder \(permission denied\); "
                                          r"nothing was converted"):
        batch_run._refuse_unwritable_outputs(jobs, "skip")
    # one writable destination, or nothing left to write: the batch goes on (each file fails or not by itself)
    batch_run._refuse_unwritable_outputs(jobs + [Job(tmp_path / "x.dng", tmp_path / "x.png", "png", None)], "skip")
    for job in jobs:
        job.output.parent.mkdir(exist_ok=True)
        job.output.write_bytes(b"done before")
    batch_run._refuse_unwritable_outputs(jobs, "skip")
    with pytest.raises(OutputError):
        batch_run._refuse_unwritable_outputs(jobs, "overwrite")
    a_file = tmp_path / "notes"  # -o notes/ where notes is a file
    a_file.write_text("mine")
    with pytest.raises(OutputError, match=r"notes: cannot write to the output folder \(it is a file, not a folder\)"):
        batch_run._refuse_unwritable_outputs([Job(tmp_path / "a.dng", a_file / "a.png", "png", None)], "skip")
    if hasattr(os, "mkfifo"):  # -o a FIFO (or /dev/null): said as what it is
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(OutputError, match=r"pipe: cannot write to the output folder \(it is a FIFO, not a folder\)"):
            batch_run._refuse_unwritable_outputs([Job(tmp_path / "a.dng", tmp_path / "pipe" / "a.png", "png", None)],
                                                 "skip")


def test_a_named_link_loop_is_reported_as_what_it_is(tmp_path) -> None:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "notes").write_text("no suffix")
    c = collect_inputs([str(tmp_path / "loop1"), str(tmp_path / "notes")], "colourise")
    assert [str(err) for _, err in c.missing] == [f"{tmp_path / 'loop1'}: cannot read the file "
                                                  "(Too many levels of symbolic links); check the path"]
    assert c.unsupported == [tmp_path / "notes"] and c.unsupported_kinds() == ["no suffix"]


def test_run_batch_checks_the_output_folder_before_loading_a_model(tmp_path, monkeypatch) -> None:
    from rawcolour.batch import run as batch_run
    from rawcolour.batch.plan import OutputPlan
    from rawcolour.inference.options import InferenceOptions

    photo = tmp_path / "in" / "a.png"
    grey_png(photo)
    blocked = tmp_path / "ro"
    blocked.mkdir()
    _refuse_access_below(blocked, monkeypatch)
    converters = []
    monkeypatch.setattr(batch_run, "ModelConverter", lambda *a, **kw: converters.append(a) or pytest.fail("built"))
    with pytest.raises(OutputError, match="cannot write to the output folder"):
        batch_run.run_batch("colourise", [str(photo)], options=InferenceOptions(), plan=OutputPlan(target=str(blocked)),
                            model="grey")
    assert converters == [] and list(blocked.iterdir()) == []


def test_load_settings_are_checked_before_any_file_is_read() -> None:
    settings = batch.LoadSettings(raw_format="ZURICH", cfa="bggr")
    assert (settings.raw_format, settings.cfa) == ("zurich", "BGGR")  # as the readers take them
    for bad, words in (({"raw_format": "nef"}, "unknown RAW format 'nef'"), ({"cfa": "RGBG"}, "unknown Bayer pattern"),
                       ({"black": 64.0, "white": 64.0}, "--white 64 must be above --black 64")):
        with pytest.raises(UsageError, match=words):
            batch.LoadSettings(**bad)


def test_an_existing_output_of_another_input_is_a_conflict() -> None:
    from rawcolour.batch.provenance import conflict

    made = {"rawcolour": "0.1.0", "input": "scan.png", "model": "colorgan-tiny", "model_sha256": "ab" * 32,
            "settings": "{}"}
    same = {"input": "scan.png", "model": "colorgan-tiny", "model_sha256": "ab" * 32, "settings": "{}"}
    assert conflict(made, same) is None
    assert conflict(made, {**same, "input": "scan.jpg"}) == "exists, made from another input (scan.png)"
    assert conflict({k: v for k, v in made.items() if k != "input"}, {**same, "input": "scan.jpg"}) is None  # not recorded


def test_an_output_plan_checks_its_bit_depth_when_made() -> None:
    with pytest.raises(UsageError, match="bit depth 12 is not supported; use 8 or 16"):
        batch.OutputPlan(bit_depth=12)
    assert batch.OutputPlan(bit_depth=16).bit_depth == 16
