"""Run folders: one writer at a time (pid lock, stale locks taken over), no reuse without
resuming, no half folder after a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sensormoco.errors import DataError
from sensormoco.rundir import LOCK, check_run_folder, run_folder


def test_a_used_folder_is_refused_unless_resumed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with run_folder(out):
        (out / "metrics.json").write_text("{}")
    assert not (out / LOCK).exists()
    with pytest.raises(DataError, match="already holds a run; pass --resume"), run_folder(out):
        pass
    with run_folder(out, resume=True):
        pass
    empty = tmp_path / "empty"
    empty.mkdir()
    with run_folder(empty):  # an empty folder is a new one
        pass


def test_a_file_is_not_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        check_run_folder(tmp_path / "f")


def test_a_live_holder_is_named_and_a_dead_one_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / LOCK).write_text(f"{holder.pid} {os.uname().nodename}\n")
        with pytest.raises(DataError, match=f"in use by process {holder.pid}"):
            _run(out, resume=True)
    finally:
        holder.kill()
        holder.wait()
    with run_folder(out, resume=True):  # its process is gone: the lock is stale
        assert (out / LOCK).read_text().split()[0] == str(os.getpid())
    assert not (out / LOCK).exists()


def _run(folder: Path, *written: str, fail: BaseException | None = None, **kwargs: Any) -> None:
    """A run in ``folder`` writing ``written`` (relative paths), then failing with ``fail``."""
    with run_folder(folder, **kwargs):
        for name in written:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("x")
        if fail is not None:
            raise fail


def test_a_failed_run_leaves_no_half_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        _run(tmp_path / "a" / "run", "config.yaml", fail=RuntimeError("boom"))
    assert not (tmp_path / "a").exists()
    kept = tmp_path / "kept"
    with pytest.raises(KeyboardInterrupt):
        _run(kept, "checkpoints/last.ckpt", fail=KeyboardInterrupt(),
             resumable=["checkpoints/last.ckpt"])  # fmt: skip
    assert (kept / "checkpoints" / "last.ckpt").is_file()
    assert not (kept / LOCK).exists()
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "old.txt").write_text("x")
    with pytest.raises(RuntimeError):
        _run(resumed, "new.txt", fail=RuntimeError("boom"), resume=True)
    assert sorted(p.name for p in resumed.iterdir()) == ["old.txt"]


def test_the_other_ranks_of_a_launch_write_into_the_leaders_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    with run_folder(out):  # rank 0 holds the folder ...
        (out / "config.yaml").write_text("x")
        monkeypatch.setenv("LOCAL_RANK", "1")  # ... while rank 1 starts (Lightning's launcher)
        check_run_folder(out)
        with run_folder(out) as same:
            assert same == out
        monkeypatch.delenv("LOCAL_RANK")
        with pytest.raises(DataError, match="in use by process"):
            _run(out, resume=True)
