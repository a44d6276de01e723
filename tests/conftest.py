"""Fixtures shared by several test files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """Seeded random checkpoints of sgan-tiny and colorgan-tiny, as `--model FILE` arguments
    (test files with their own ``models`` fixture use theirs)."""
    torch = pytest.importorskip("torch")
    from rawcolour import registry
    from rawcolour.checkpoint import checkpoint_metadata, save_checkpoint

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("models")
    return {name: save_checkpoint(d / f"{name}.safetensors", registry.create_model(name),
                                  checkpoint_metadata(registry.get_spec(name)))
            for name in ("sgan-tiny", "colorgan-tiny")}


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Path:
    """One cache of exported graphs for the whole run (rawcolour.inference.onnx_backend), so the
    tests never write the user's ~/.cache and each checkpoint is exported once."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAWCOLOUR_CACHE", str(folder))
        yield folder
