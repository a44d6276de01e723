"""The CLI skeleton and `rawcolour models`, driven through Typer's runner and a real subprocess."""

import json
import subprocess
import sys

import pytest

from typer.testing import CliRunner

import rawcolour
from rawcolour import registry
from rawcolour.cli.main import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("colourise", "raw2rgb", "train", "eval", "models"):
        assert command in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"rawcolour {rawcolour.__version__}"


def test_models_list_json_has_every_name_and_reference_counts():
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(records) == set(registry.list_models())
    assert records["pix2pix"]["parameters"] == 54_409_858
    assert records["pix2pix"]["discriminator_parameters"] == 2_765_633
    assert records["sgan"]["parameters"] == 24_352_448
    assert records["sgan"]["discriminator_parameters"] == 8_151_488
    assert records["colorgan-ibn-sn-md-code"]["parameters"] == 41_830_276
    assert records["sgan"]["task"] == "raw2rgb" and records["sgan"]["size_multiple"] == 8
    assert records["classic"]["weights"] == "not needed"


def test_models_list_table_and_task_filter():
    result = runner.invoke(app, ["models", "list", "--task", "raw2rgb"])
    assert result.exit_code == 0
    assert "sgan-tiny" in result.output and "colorgan" not in result.output


def test_models_show_json():
    result = runner.invoke(app, ["models", "show", "sgan", "--json"])
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["generator"]["arch"] == "sgan_generator"
    assert record["io"]["input_channels"] == ["R", "Gr", "B", "Gb"]
    assert [s["name"] for s in record["recipe"]["stages"]] == ["1", "2"]


def test_models_show_unknown_name_is_one_line_and_exit_1():
    result = runner.invoke(app, ["models", "show", "sgan-tinny"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sgan-tiny" in lines[0] and lines[0].startswith("rawcolour: error:")


def test_console_script_and_module_entry_points():
    for cmd in (["rawcolour", "--version"], [sys.executable, "-m", "rawcolour", "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"rawcolour {rawcolour.__version__}"


@pytest.mark.parametrize("columns", ["80", "200"])
def test_models_list_table_cuts_no_name_or_count(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    counts = {r["name"]: r["parameters"] for r in json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)}
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    for name, count in counts.items():
        assert f"{count:,}" in rows.get(name, []), (name, result.output)
