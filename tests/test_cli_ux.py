"""What a person meets at the command line: help pages, usage errors, --on-exist skip that never keeps
another model's result, colour inputs to colourise, the eval table and `models show`, and progress.

Help pages and usage errors run in-process with Typer's runner; what needs a terminal (the progress
bar, the eval table in a narrow terminal) runs the real CLI on a pseudo-terminal.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from rawcolour import registry
from rawcolour.cli.help import MAX_WIDTH
from rawcolour.cli.main import app
from rawcolour.io import images
from rawcolour.io.mosaic import unpack_bayer

runner = CliRunner()
COMMANDS = [[], ["colourise"], ["raw2rgb"], ["train"], ["eval"], ["eval", "colourise"], ["eval", "raw2rgb"],
            ["models"], ["models", "list"], ["models", "show"], ["models", "import"], ["models", "export"]]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-B]")


def invoke(*args: str, columns: int = 200, **kw):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)}, **kw)


def examples(page: str) -> list[str]:
    """The command lines of a help page's Examples section (continuation lines joined)."""
    section = page.split("\nExamples:\n", 1)[1]
    lines, joined = [], ""
    for line in section.splitlines():
        if line.startswith("  ") and not line.startswith("      "):  # a command (descriptions are indented more)
            joined = line.strip() if not joined.endswith("\\") else joined[:-1] + " " + line.strip()
            if not joined.endswith("\\"):
                lines.append(joined)
        elif joined.endswith("\\"):
            joined = joined[:-1] + " " + line.strip()
            if not joined.endswith("\\"):
                lines.append(joined)
    return lines


def click_command(path: list[str]):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


# ------------------------------------------------------------------------------------------- help pages


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "rawcolour")
def test_help_page_reads_in_80_and_120_columns_and_ends_with_real_examples(path):
    for columns in (80, 120):
        result = invoke(*path, "--help", columns=columns)
        assert result.exit_code == 0, result.output
        page = result.stdout
        lines = page.splitlines()
        assert max(len(line) for line in lines) <= min(columns, MAX_WIDTH), page  # nothing runs past the edge
        assert not any(line != line.rstrip() for line in lines)
        assert "<bool>" not in page and "BOOL" not in page and "<" not in page.split("\nNotes:")[0].split(
            "\nExamples:")[0].replace("<-", "")  # no typer type labels such as <int range>
        # the Examples section closes the page: 3 to 6 command lines of this command
        assert page.rstrip().splitlines()[-1].startswith("      ")  # the last line is an example's description
        found = examples(page)
        assert 3 <= len(found) <= 6, found
        this = 0
        for line in found:  # each runs rawcolour (maybe in a pipeline, or under torchrun) with real options
            words = shlex.split(line.split(" | ")[-1] if "| rawcolour" in line else line.split(" | ")[0])
            at = words.index("rawcolour") if "rawcolour" in words else words.index("-m") + 1
            this += words[at + 1:at + 1 + len(path)] == path
            _parses(words[at + 1:], line)
        assert this >= 3 or not path, found


def _parses(args: list[str], line: str) -> None:
    """Every option in an example exists and takes what the example gives it (no files are needed)."""
    command = typer.main.get_command(app)
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    if "--help" in args or "--version" in args:
        return
    args = [a for a in args if a not in (">", "eval.json")]
    ctx = command.make_context(command.name, list(args), resilient_parsing=True)  # raises on an unknown option
    assert ctx is not None, line


def test_flags_show_as_flags_and_values_show_what_they_take():
    page = invoke("raw2rgb", "--help", columns=120).stdout
    assert re.search(r"^  -r, --recursive +Walk", page, re.M)
    assert re.search(r"^      --strip-metadata +Do not", page, re.M)
    assert re.search(r"^      --tile auto\|N\|0 +", page, re.M)
    assert re.search(r"^  -o, --output DIR\|FILE\|- +", page, re.M)
    assert "Usage: rawcolour raw2rgb [OPTIONS] INPUT..." in page or "raw2rgb [OPTIONS] INPUT..." in page
    train = invoke("train", "--help", columns=120).stdout
    assert re.search(r"^      --amp / --no-amp +Mixed", train, re.M)


def test_shared_options_have_one_default_and_one_wording():
    commands = {" ".join(p): click_command(p) for p in (["colourise"], ["raw2rgb"], ["train"], ["eval", "colourise"],
                                                         ["eval", "raw2rgb"])}
    seen: dict[str, dict[str, tuple]] = {}
    for name, command in commands.items():
        for param in command.params:
            if param.param_type_name == "option":
                default = getattr(param.default, "value", param.default)
                seen.setdefault(param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0], {})[name] = (
                    param.help, default, param.metavar)
    for option in ("--tile", "--device", "--precision", "--quiet", "--render-size", "--overlap", "--cfa", "--black",
                   "--white"):
        variants = set(seen[option].values())
        assert len(seen[option]) >= 2 and len(variants) == 1, (option, seen[option])
    assert seen["--tile"]["colourise"][1] == seen["--tile"]["raw2rgb"][1] == "auto"
    overlap = seen["--overlap"]["raw2rgb"][0]
    assert "packed" in overlap and "2x2 Bayer quad" in overlap
    # each eval command describes its own data
    assert "colourise" not in seen["--limit"]["eval raw2rgb"][0]
    assert "RAW" not in seen["--data"]["eval colourise"][0] and "paired" not in seen["--data"]["eval colourise"][0]
    for task in ("colourise", "raw2rgb"):  # the default model a page names is the one used
        assert f"Default model: {registry_default(task)}." in " ".join(invoke(task, "--help").stdout.split())


def registry_default(task: str) -> str:
    from rawcolour.tasks import get_task

    return get_task(task).default_model


@pytest.mark.parametrize("path", [["colourise"], ["raw2rgb"], ["train"], ["eval", "colourise"], ["eval", "raw2rgb"],
                                  ["models", "show"]], ids=" ".join)
def test_no_input_prints_the_usage_line_and_one_hint(path):
    result = invoke(*path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("Usage: ") and " ".join(path) in lines[0]
    assert lines[1].startswith("Try '") and "--help" in lines[1]
    assert result.stdout == ""


def test_a_bad_option_is_one_line_naming_the_page():
    result = invoke("raw2rgb", "x.dng", "--quality", "500")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rawcolour: error: ") and "'--quality'" in line and "raw2rgb --help" in line
    (line,) = invoke("eval", "colourise", "--data", ".", "--bogus").stderr.strip().splitlines()
    assert "No such option: --bogus" in line


@pytest.mark.parametrize("args, words", [
    (("raw2rgb", "x.dng", "--exposure", "nan"), "exposure nan EV is outside -2..3"),
    (("raw2rgb", "x.dng", "--exposure", "4"), "exposure 4.0 EV is outside -2..3"),
    (("raw2rgb", "x.png", "--black", "2000", "--white", "1000"), "--white 1000 must be above --black 2000"),
    (("models", "list", "--task", "nonsense"), "unknown task 'nonsense'; use colourise or raw2rgb"),
    # checked by the library (InferenceOptions, OutputPlan, LoadSettings), before any file is read
    (("raw2rgb", "x.dng", "--tile", "big"), "--tile must be auto, 0 or a number of pixels, got 'big'"),
    (("colourise", "x.png", "--device", "gpu"), "unknown --device 'gpu'; use auto, cpu, cuda, cuda:N or mps"),
    (("eval", "raw2rgb", "--data", ".", "--device", "cuda:x"), "unknown --device 'cuda:x'"),
    (("train", "colourise", "--model", "colorgan-tiny", "--data", ".", "--device", "tpu"), "unknown --device 'tpu'"),
    (("raw2rgb", "x.dng", "--wb", "1,2"), "white balance '1,2'"),
    (("raw2rgb", "x.dng", "--bit-depth", "12"), "bit depth 12 is not supported"),
    (("eval", "colourise", "--data", ".", "--csv", "rows.png"), "--csv rows.png is inside --data ."),
    (("eval", "raw2rgb", "--data", ".", "--black", "5", "--white", "2"), "--white 2 must be above --black 5"),
    (("train", "raw2rgb", "--model", "sgan-tiny", "--data", ".", "--cfa", "RGBG"), "'RGBG' is not one of 'RGGB'"),
    (("eval", "raw2rgb", "--data", ".", "--report", "sub/report"), "--report sub/report is inside --data ."),
])
def test_checks_of_option_values_are_one_line_and_exit_2(args, words):
    result = invoke(*args)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rawcolour: error: ") and words in line


# ------------------------------------------------------------------------------- --on-exist skip (item 4)


@pytest.fixture()
def shoot(tmp_path: Path) -> Path:
    from rawcolour.io.dng import write_bayer_dng

    pytest.importorskip("pidng")
    d = tmp_path / "shoot"
    d.mkdir()
    for i in (1, 2):
        planes = np.random.default_rng(i).integers(200, 3800, (4, 32, 48)).astype(np.uint16)
        write_bayer_dng(d / f"IMG_{i}.dng", unpack_bayer(planes, "RGGB"), "RGGB", black=128, white=4095)
    return d


def records(stdout: str) -> tuple[dict[str, dict], dict]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {Path(r["input"]).name: r for r in lines[:-1]}, lines[-1]


def test_skip_keeps_only_the_same_model_and_settings(shoot, tmp_path, models):
    out = tmp_path / "developed"
    first = invoke("raw2rgb", str(shoot), "-o", str(out), "--model", str(models["sgan-tiny"]), "--json", "--tile", "0")
    assert first.exit_code == 0, first.stderr
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    recorded = images.read_metadata_provenance(out / "IMG_1.png")
    assert json.loads(recorded["settings"])["exposure"] == 0.0 and "device" not in json.loads(recorded["settings"])

    # the same model and settings (tiles and device do not change the picture): skipped, untouched
    again = invoke("raw2rgb", str(shoot), "-o", str(out), "--model", str(models["sgan-tiny"]), "--json",
                   "--tile", "16", "--device", "cpu")
    recs, summary = records(again.stdout)
    assert again.exit_code == 0 and summary["skipped"] == 2 and summary["mismatched"] == 0

    # another model: each file fails with one line, the outputs are kept as they were, the summary counts it
    other = invoke("raw2rgb", str(shoot), "-o", str(out), "--model", "classic", "--json")
    assert other.exit_code == 1
    recs, summary = records(other.stdout)
    assert (summary["ok"], summary["failed"], summary["skipped"], summary["mismatched"]) == (0, 2, 0, 2)
    want = f"{out / 'IMG_1.png'}: exists, made by sgan-tiny; --on-exist overwrite, or another -o"
    assert recs["IMG_1.dng"]["error"] == want
    assert [x for x in other.stderr.splitlines() if x.startswith("rawcolour: error:")] == [
        f"rawcolour: error: {out / f'IMG_{i}.png'}: exists, made by sgan-tiny; --on-exist overwrite, or another -o"
        for i in (1, 2)]
    assert "2 outputs made from another input, by another model or with other settings" in other.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    # the same model with a setting that changes pixels: named in the line
    brighter = invoke("raw2rgb", str(shoot), "-o", str(out), "--model", str(models["sgan-tiny"]), "--exposure", "1")
    assert brighter.exit_code == 1
    assert "exists, made by sgan-tiny with --exposure 0; --on-exist overwrite" in brighter.stderr

    # other weights under the same name, a picture rawcolour did not write, one from before settings were
    # recorded: none is kept as if it were this run's
    import torch

    torch.manual_seed(1)
    retrained = tmp_path / "retrained.safetensors"
    from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint

    save_checkpoint(retrained, registry.create_model("sgan-tiny"), checkpoint_metadata(registry.get_spec("sgan-tiny")))
    assert "made by sgan-tiny with other weights" in invoke(
        "raw2rgb", str(shoot / "IMG_1.dng"), "-o", str(out), "--model", str(retrained)).stderr
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(out / "IMG_2.png")
    assert "IMG_2.png: exists, not made by rawcolour" in invoke(
        "raw2rgb", str(shoot / "IMG_2.dng"), "-o", str(out), "--model", "classic").stderr
    images.write_image(out / "IMG_2.png", np.zeros((16, 24, 3), np.uint8),
                       provenance={"task": "raw2rgb", "model": "classic"})
    assert "which did not record its settings" in invoke(
        "raw2rgb", str(shoot / "IMG_2.dng"), "-o", str(out), "--model", "classic").stderr
    overwrite = invoke("raw2rgb", str(shoot), "-o", str(out), "--model", "classic", "--on-exist", "overwrite")
    assert overwrite.exit_code == 0 and images.read_metadata_provenance(out / "IMG_2.png")["model"] == "classic"


# ------------------------------------------------------------------------- colour inputs to colourise (item 5)


def test_colourise_notes_inputs_already_in_colour_and_only_grey_passes_them_over(tmp_path, models):
    from skimage import data

    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray(data.astronaut()[::2, ::2]).save(scans / "colour.png")
    Image.fromarray(data.camera()[::2, ::2]).save(scans / "grey.png")
    grey_rgb = np.repeat(data.camera()[::2, ::2, None], 3, axis=2)
    Image.fromarray(grey_rgb).save(scans / "grey-as-rgb.jpg", quality=95)  # grey, stored as RGB
    out = tmp_path / "coloured"
    result = invoke("colourise", str(scans), "-o", str(out), "--model", str(models["colorgan-tiny"]), "--json")
    assert result.exit_code == 0, result.stderr
    recs, summary = records(result.stdout)
    assert recs["colour.png"]["in_colour"] is True and recs["colour.png"]["status"] == "ok"
    assert any("already had colour" in n for n in recs["colour.png"]["notes"])
    assert recs["grey.png"]["in_colour"] is False and recs["grey-as-rgb.jpg"]["in_colour"] is False
    assert summary["in_colour"] == 1 and summary["ok"] == 3
    assert "1 input was already in colour" in result.stderr

    only = tmp_path / "only-grey"
    result = invoke("colourise", str(scans), "-o", str(only), "--model", str(models["colorgan-tiny"]), "--json",
                    "--only-grey")
    assert result.exit_code == 0, result.stderr
    recs, summary = records(result.stdout)
    assert recs["colour.png"]["status"] == "skipped" and recs["colour.png"]["notes"] == [
        "already in colour (--only-grey)"]
    assert (summary["ok"], summary["skipped"], summary["in_colour"]) == (2, 1, 1)
    assert sorted(p.name for p in only.iterdir()) == ["grey-as-rgb.png", "grey.png"]
    assert "1 skipped (already in colour)" in result.stderr


# ------------------------------------------------------------------------------- eval and models (item 7)


def in_terminal(args: list[str], columns: int, prelude: str = "", timeout: float = 240) -> tuple[int, str]:
    """Run the real CLI with stdout and stderr on a pseudo-terminal ``columns`` wide; (exit code, what it showed)."""
    code = prelude + "\nimport sys\nfrom rawcolour.cli.main import run\nsys.argv = ['rawcolour'] + sys.argv[1:]\nrun()"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "OMP_NUM_THREADS": "1", "TERM": "xterm-256color"}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                break
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    return proc.wait(timeout), ANSI.sub("", shown.decode("utf-8", "replace")).replace("\r", "\n")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    from skimage import data

    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.astronaut()[::4, ::4]).save(d / "astronaut.png")
    Image.fromarray(data.coffee()[::2, ::2]).save(d / "coffee.png")
    return d


def test_eval_table_fits_the_terminal_and_reads_cleanly_in_a_pipe(photos):
    piped = invoke("eval", "colourise", "--data", str(photos), "--model", "grey", "-q")
    assert piped.exit_code == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert lines[0].startswith("rawcolour eval colourise:")
    header, *rows = lines[1:]
    assert header.split()[:3] == ["model", "weights", "images"] and "hue acc." in header
    assert [r.split()[0] for r in rows] == ["grey", "sepia", "ground"]  # one line per model, whole
    assert all(line == line.rstrip() and line.isascii() for line in lines)  # no box drawing, no trailing blanks
    assert len(header) > 100  # wider than a terminal would be: a pipe cuts nothing

    code, narrow = in_terminal(["eval", "colourise", "--data", str(photos), "--model", "grey", "-q"], columns=80)
    assert code == 0, narrow
    table = [line for line in narrow.splitlines() if line.strip()]
    assert max(len(line.rstrip()) for line in table) <= 80
    # one row per model and metric: the figure of each metric on its own line, under its model
    assert re.search(r"^grey +baseline, 2 pictures", narrow, re.M)
    assert re.search(r"^ +hue acc\. +0\.000 +higher", narrow, re.M)
    assert re.search(r"^ +PSNR RGB \[dB\] +\d+\.\d\d +higher", narrow, re.M)


def test_eval_without_model_runs_the_shipped_models_and_says_so(photos, tmp_path, monkeypatch):
    import torch
    from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint

    shipped = tmp_path / "installed"
    shipped.mkdir()
    torch.manual_seed(0)
    spec = registry.get_spec("colorgan-tiny")
    save_checkpoint(shipped / spec.weights, spec.build_generator(), checkpoint_metadata(spec))
    monkeypatch.setattr(registry, "models_dirs", lambda: [shipped])  # this package ships colorgan-tiny only
    result = invoke("eval", "colourise", "--data", str(photos), "--json", "--limit", "1")
    assert result.exit_code == 0, result.stderr
    assert [r["model"] for r in json.loads(result.stdout)["rows"]] == ["grey", "sepia", "colorgan-tiny"]
    assert "no --model: evaluating the shipped colourise models (colorgan-tiny) and the baselines (grey, sepia)" \
        in result.stderr
    monkeypatch.setattr(registry, "models_dirs", lambda: [tmp_path / "nothing"])
    result = invoke("eval", "colourise", "--data", str(photos), "--json", "--limit", "1")
    assert [r["model"] for r in json.loads(result.stdout)["rows"]] == ["grey", "sepia"]
    assert "no shipped colourise model" in result.stderr


def test_models_show_reads_in_sections_names_the_card_and_points_only_at_shipped_files():
    for name in registry.list_models():
        record = json.loads(invoke("models", "show", name, "--json").stdout)
        strings = []

        def walk(value):
            if isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, str):
                strings.append(value)

        walk(record)
        for text in strings:  # anything that names a file names one that is there
            for path in re.findall(r"[\w./-]+\.(?:txt|md|pth|safetensors|json|png)\b", text):
                assert "/" not in path or Path(path).is_file(), (name, path)
        assert not any("seeds/" in s for s in strings)
        if record["weights"] == "installed":
            assert Path(record["weights_file"]).is_file()
            assert record["card"] and Path(record["card"]).is_file() and Path(record["card"]).suffix == ".md"
            assert Path(record["card"]).parent == Path(record["weights_file"]).parent  # beside the weights
    page = invoke("models", "show", "sgan-isp-tiny", columns=80).stdout
    for heading in ("Networks", "Input and output", "Running on a picture", "Training recipe"):
        assert f"\n{heading}" in page, page
    assert re.search(r"^  card +\S+sgan-isp-tiny\.md$", page, re.M)
    assert max(len(line) for line in page.splitlines()) <= 80
    baseline = invoke("models", "show", "classic").stdout
    assert "Networks" not in baseline and "Input and output" not in baseline  # nothing to feed


# --------------------------------------------------------------------------------------- progress (item 8)


def test_progress_shows_each_step_and_the_time_left_moves_within_a_file(tmp_path, models):
    from rawcolour.io.dng import write_bayer_dng

    pytest.importorskip("pidng")
    planes = np.random.default_rng(0).integers(200, 3800, (4, 192, 256)).astype(np.uint16)
    raw = write_bayer_dng(tmp_path / "long.dng", unpack_bayer(planes, "RGGB"), "RGGB", black=128, white=4095)
    slow_tiles = ("import time\nimport rawcolour.inference.tiling as tiling\n_accumulate = tiling._accumulate\n"
                  "def slow(*a, **k):\n    time.sleep(0.1)\n    return _accumulate(*a, **k)\n"
                  "tiling._accumulate = slow")  # a long picture: each tile takes a while
    code, shown = in_terminal(["raw2rgb", str(raw), "-o", str(tmp_path / "out"), "--model", str(models["sgan-tiny"]),
                               "--tile", "96", "--device", "cpu"], columns=100, prelude=slow_tiles)
    assert code == 0, shown
    frames = [line for line in shown.splitlines() if "long.dng" in line]
    assert any("loading model" in f for f in frames), shown  # from the first second: what is happening
    assert any("decoding" in f for f in frames), shown
    tiles = [f for f in frames if re.search(r"tile \d+/24", f)]
    assert len({re.search(r"tile (\d+)/", f).group(1) for f in tiles}) >= 3, shown
    # within the one file (0 of 1 done) the time left is estimated and counts down
    left = [re.search(r"(\d+):(\d\d):(\d\d)\s*$", f) for f in tiles if " 0/1 " in f]
    seconds = [int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) for m in left if m]
    assert len(seconds) >= 2 and seconds[-1] <= seconds[0], shown
    assert "1 converted" in shown and (tmp_path / "out" / "long.png").is_file()
