"""Run folders that cannot contradict themselves: one writer at a time, one run per folder.

:func:`run_folder` claims a folder for a run. It refuses a path that is a file, a folder another
live process is writing (a lock file ``.sensormoco.lock`` holds the writer's pid and host; the
lock of a dead process is taken over) and a folder that already holds files, unless the run
resumes. A run that fails leaves no half folder: what it wrote is removed, unless the folder
holds something to resume from (``resumable``, e.g. a training checkpoint).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from sensormoco.errors import DataError

LOCK = ".sensormoco.lock"
# set by torchrun, SLURM and Lightning's own launcher in every process of a distributed run
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")


def is_launch_leader() -> bool:
    """Whether this process is the one of a (possibly distributed) launch that owns the run
    folder: global rank zero, or no launcher at all. The other ranks write into the folder the
    leader claimed, so they neither check nor lock it."""
    return all(os.environ.get(name, "0") in ("", "0") for name in RANK_VARIABLES)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _holder(lock: Path) -> tuple[int, str] | None:
    """(pid, host) written in ``lock``, or None when it is unreadable or malformed."""
    try:
        fields = lock.read_text(encoding="utf-8").split()
        return int(fields[0]), fields[1] if len(fields) > 1 else ""
    except (OSError, ValueError, IndexError):
        return None


def _acquire(folder: Path, flag: str) -> Path:
    """Create ``folder``'s lock holding this pid; a stale lock (dead process) is taken over."""
    lock = folder / LOCK
    host = socket.gethostname()
    for _ in range(3):  # a stale lock removed by a concurrent process: try again
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is not None and holder[1] not in ("", host):
                raise DataError(
                    folder,
                    f"in use by process {holder[0]} on {holder[1]} ({lock}); "
                    f"wait for it, delete the lock if that process is gone, or "
                    f"choose another {flag}",
                ) from None
            if holder is not None and _alive(holder[0]):
                raise DataError(
                    folder,
                    f"in use by process {holder[0]} ({lock}); wait for it "
                    f"to finish or choose another {flag}",
                ) from None
            with suppress(FileNotFoundError):
                lock.unlink()  # stale: its process is gone
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {host}\n")
        return lock
    raise DataError(lock, "could not take the lock (contended)")


def _release(lock: Path) -> None:
    holder = _holder(lock)
    if holder is not None and holder[0] == os.getpid():
        lock.unlink(missing_ok=True)


def check_run_folder(
    folder: str | Path, resume: bool = False, flag: str = "--out", resumes: bool = True
) -> None:
    """Refuse ``folder`` before any slow step: a file, or a used folder without ``resume``
    (``resumes``: the command has a --resume flag to name)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(folder, f"is a file, not a folder; give a new or empty folder as {flag}")
    if (
        not resume
        and is_launch_leader()
        and folder.is_dir()
        and any(p.name != LOCK for p in folder.iterdir())
    ):
        how = "pass --resume to continue it, or choose" if resumes else "choose"
        raise DataError(folder, f"already holds a run; {how} another {flag} (or delete the folder)")


def _clean(folder: Path, created: Path | None, before: set[str]) -> None:
    """Remove what a failed run wrote: the folders it made, else the folder's new entries."""
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
        return
    for entry in folder.iterdir():
        if entry.name not in before and entry.name != LOCK:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@contextmanager
def run_folder(
    folder: str | Path,
    resume: bool = False,
    resumable: Sequence[str] = (),
    flag: str = "--out",
    keep: bool = False,
    resumes: bool = True,
) -> Iterator[Path]:
    """Claim ``folder`` for one run (see the module doc); yields it, created and locked.

    ``resumable``: paths inside the folder whose presence after a failure means the run can be
    resumed, so the folder is kept; ``keep``: always keep it (caches of finished steps).
    Without ``resume``, a used folder is refused.
    """
    folder = Path(folder)
    if not is_launch_leader():
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    check_run_folder(folder, resume=True, flag=flag)  # a file is refused; use checked below
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    created = missing[-1] if missing else None  # the top folder this run makes
    folder.mkdir(parents=True, exist_ok=True)
    lock = _acquire(folder, flag)
    try:
        check_run_folder(folder, resume, flag, resumes)
        before = {p.name for p in folder.iterdir()}
    except BaseException:
        _release(lock)
        raise
    try:
        yield folder
    except BaseException:
        if not keep and not any((folder / p).exists() for p in resumable):
            _clean(folder, created, before)
        raise
    finally:
        _release(lock)
