"""The helper scripts the model cards and docs/table1.md tell a user to run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the scripts are bash")


def _split(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPTS / "split_photos.sh"), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def test_split_photos_holds_out_every_25th_file_by_name(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    names = [f"n{i:08d}_{'b' if i % 2 else 'a'}.JPEG" for i in range(60)]
    for name in reversed(names):  # created out of order: the split follows the names, not the disk
        (photos / name).write_bytes(name.encode())
    train, val = tmp_path / "train", tmp_path / "val"
    done = _split(photos, train, val)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in val.iterdir()) == [names[24], names[49]]
    assert sorted(p.name for p in train.iterdir()) == [n for i, n in enumerate(names) if i not in (24, 49)]
    link = train / names[0]
    assert link.is_symlink() and link.read_bytes() == names[0].encode()  # links to the photo, not a copy


def test_split_photos_refuses_a_folder_that_is_not_empty(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"x")
    train = tmp_path / "train"
    train.mkdir()
    (train / "mine.txt").write_text("keep me")
    done = _split(photos, train, tmp_path / "val")
    assert done.returncode != 0
    assert "not empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in train.iterdir()) == ["mine.txt"]
