from __future__ import annotations

import os
from pathlib import Path

import pytest

from sensormoco.atomic import atomic_path, atomic_write_text


def test_atomic_write_replaces_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failure_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "good")

    def failing_write() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        failing_write()
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
