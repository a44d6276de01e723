"""The project's own files agree with each other: README test command, CI script, package list."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command == "python -m pytest -q"
    assert command in readme
    assert "pip install --quiet torch==2.13.0" in ci and "pip install torch==2.13.0" in readme


def test_every_subpackage_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "rawcolour").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"
    assert "rawcolour._models" in listed


def test_no_test_reads_the_shared_sample_data():
    for path in (ROOT / "tests").glob("*.py"):
        if path.name == Path(__file__).name:
            continue
        assert not re.search(r"\.\./shared|/work/shared", path.read_text()), path.name


def test_shipped_weights_resolve_by_name_and_describe_themselves():
    from rawcolour import registry
    from rawcolour.checkpoint import load_model, read_checkpoint

    shipped = [name for name in registry.list_models() if registry.get_spec(name).weights]
    assert {"colorgan-tiny", "sgan-tiny"} <= set(shipped)
    for name in shipped:
        path = registry.weights_path(name)
        assert path is not None and path.parent == ROOT / "models", name
        assert path.stat().st_size <= 10 * 2**20
        assert (ROOT / "models" / f"{name}.md").is_file(), f"{name} has no model card"
        _, metadata = read_checkpoint(path)
        assert metadata["name"] == name and "training" in metadata  # a trained model, not an init
        model = load_model(name)
        assert model.name == name and model.net is not None and not model.net.training


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python snippet works as written (run beside a copy of examples/)."""
    import shutil

    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    from rawcolour.io.images import read_image

    coffee, chelsea = read_image(tmp_path / "coffee.png"), read_image(tmp_path / "chelsea.png")
    assert coffee.bit_depth == 16 and coffee.pixels.shape == (400, 600, 3)  # the default developer: sensor size
    assert chelsea.pixels.shape[:2] == read_image(tmp_path / "examples" / "chelsea_grey.png").pixels.shape[:2]
