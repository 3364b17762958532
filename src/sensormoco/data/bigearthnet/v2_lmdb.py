"""BigEarthNet v2 in its authors' fast format: one LMDB (written by their rico-hdl encoder)
whose keys are patch names (S2 ``patch_id``, S1 ``s1_name``) and whose values are safetensors
blobs of band name (``B01`` ... ``B12``, ``B8A``, ``VV``, ``VH``) -> 2-D array.

The environment is opened read-only and lazily, once per process and path (LMDB forbids
opening one environment twice in a process, and an environment inherited through ``fork`` must
not be used): :func:`open_environment` keeps them. Pickling (to DataLoader workers) carries the
path only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors

from sensormoco.errors import DataError

DATA_FILE = "data.mdb"
_OPEN: dict[str, tuple[int, Any]] = {}  # real path -> (process id, environment)


def open_environment(path: str | Path) -> Any:
    """This process's read-only environment of the LMDB folder ``path`` (opened on first use;
    one inherited from a parent process is closed here and reopened)."""
    key, pid = os.path.realpath(path), os.getpid()
    held = _OPEN.get(key)
    if held is not None and held[0] == pid:
        return held[1]
    if held is not None:  # a fork's copy: unusable in this process
        with suppress(lmdb.Error):
            held[1].close()
    try:
        env = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as exc:
        raise DataError(
            path, f"not a readable LMDB ({' '.join(str(exc).split())})", "unreadable"
        ) from exc
    _OPEN[key] = (pid, env)
    return env


class LmdbReader:
    """Band arrays of the patches in the LMDB folder ``path`` (the folder of ``data.mdb``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / DATA_FILE).is_file():
            raise DataError(self.path, f"no {DATA_FILE}: not an LMDB folder", "missing")
        self._names: set[str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_names": None}

    def _environment(self) -> Any:
        return open_environment(self.path)

    def source(self, name: str) -> str:
        """How errors name patch ``name``'s value."""
        return f"{self.path}[{name}]"

    def names(self) -> set[str]:
        """Every key, decoded (read once)."""
        if self._names is None:
            with self._environment().begin() as txn:
                self._names = {k.decode() for k in txn.cursor().iternext(values=False)}
        return self._names

    def has(self, name: str) -> bool:
        return name in self.names()

    def read(self, name: str, bands: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays of ``bands`` (file suffix names) of patch ``name``."""
        with self._environment().begin(buffers=True) as txn:
            value = txn.get(name.encode())
            blob = None if value is None else bytes(value)
        if blob is None:
            raise DataError(self.source(name), "no such patch in the LMDB", "missing")
        try:
            arrays = load_safetensors(blob)
        except SafetensorError as exc:
            problem = " ".join(str(exc).split())
            raise DataError(
                self.source(name),
                f"truncated or corrupt safetensors value ({problem})",
                "truncated",
            ) from exc
        absent = [b for b in bands if b not in arrays]
        if absent:
            raise DataError(
                self.source(name),
                f"no {absent[0]} band (has {', '.join(sorted(arrays))})",
                "missing",
            )
        return {b: arrays[b] for b in bands}
