"""A packed BigEarthNet v2 store: the pairs' bands at their native sizes in ``.npy`` files,
rows in pack order, beside copies of the root's parquets (so it is a v2 root like the others).

A store is a folder::

    manifest.json     format, version, source, count, arrays (file, dtype, shape, bands)
    metadata.parquet  the source root's (and its snow/cloud/shadow parquet, when it had one)
    ids.txt           row i's S2 patch_id and S1 name on line i, tab-separated
    skipped.csv       patch_id, reason of every pair the pack could not read
    s1.npy            N x 2 x 120 x 120 float32: VV, VH in dB as distributed
    s2_10m.npy        N x 4 x 120 x 120 uint16: B02 B03 B04 B08
    s2_20m.npy        N x 6 x 60 x 60 uint16: B05 B06 B07 B8A B11 B12
    s2_60m.npy        N x 2 x 20 x 20 uint16: B01 B09

Values are lossless copies (no resampling is stored): read through :class:`StoreReader`, a
store gives exactly the samples of the tree or LMDB it was packed from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensormoco.data.store.arrays import NPY_HEADER_BYTES, ArraySpec, read_npy_header
from sensormoco.errors import DataError

FORMAT = "sensormoco-bigearthnet-v2-store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IDS = "ids.txt"
SKIPPED = "skipped.csv"
# array name -> (dtype, side, band file suffixes)
GROUPS: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "s1": ("<f4", 120, ("VV", "VH")),
    "s2_10m": ("<u2", 120, ("B02", "B03", "B04", "B08")),
    "s2_20m": ("<u2", 60, ("B05", "B06", "B07", "B8A", "B11", "B12")),
    "s2_60m": ("<u2", 20, ("B01", "B09")),
}
_WHERE = {band: (name, i) for name, (_, _, bands) in GROUPS.items() for i, band in enumerate(bands)}


def specs() -> dict[str, ArraySpec]:
    """The arrays of a store, as data/store/format.py describes arrays."""
    return {
        name: ArraySpec(name, dtype, (len(bands), side, side), bands)
        for name, (dtype, side, bands) in GROUPS.items()
    }


def is_v2_store(path: str | Path) -> bool:
    """Whether ``path`` holds a BigEarthNet v2 store's manifest."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        return False
    try:
        return bool(json.loads(file.read_text(encoding="utf-8")).get("format") == FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


class StoreReader:
    """Band arrays of the pairs in a v2 store (the reader interface of v2_tree / v2_lmdb).
    Arrays are memory-mapped read-only on first use in each process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        file = self.path / MANIFEST
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(file, f"unreadable store manifest ({exc})", "unreadable") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise DataError(file, f"not a {FORMAT} manifest", "format")
        if manifest.get("version") != FORMAT_VERSION:
            raise DataError(
                file,
                f"format version {manifest.get('version')}, this sensormoco "
                f"reads version {FORMAT_VERSION}",
                "format",
            )
        lines = (self.path / IDS).read_text(encoding="utf-8").splitlines()
        pairs = [line.split("\t") for line in lines]
        if any(len(p) != 2 for p in pairs) or len(pairs) != manifest.get("count"):
            raise DataError(
                self.path / IDS,
                f"expected {manifest.get('count')} lines 'patch_id<TAB>s1_name'",
                "format",
            )
        self.count = len(pairs)
        self.rows = {name: row for row, pair in enumerate(pairs) for name in pair}
        for spec in specs().values():
            array = self.path / spec.file
            shape, dtype, offset = read_npy_header(array)
            want = (self.count, *spec.row_shape)
            if shape != want or dtype != np.dtype(spec.dtype) or offset != NPY_HEADER_BYTES:
                raise DataError(
                    array, f"holds {dtype} {shape}, expected {spec.dtype} {want}", "shape"
                )
            size, expected = array.stat().st_size, offset + self.count * spec.row_bytes
            if size != expected:
                raise DataError(
                    array, f"{size} bytes, expected {expected} (truncated?)", "truncated"
                )
        self._arrays: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def _array(self, name: str) -> Any:
        if name not in self._arrays:
            self._arrays[name] = np.load(self.path / f"{name}.npy", mmap_mode="r")
        return self._arrays[name]

    def source(self, name: str) -> str:
        return f"{self.path}[{name}]"

    def has(self, name: str) -> bool:
        return name in self.rows

    def read(self, name: str, bands: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays of ``bands`` (file suffix names) of patch ``name``."""
        row = self.rows.get(name)
        if row is None:
            raise DataError(self.source(name), "no such patch in the store", "missing")
        out = {}
        for band in bands:
            group, index = _WHERE[band]
            if (group == "s1") != name.startswith("S1"):
                raise DataError(self.source(name), f"no {band} band", "missing")
            out[band] = np.array(self._array(group)[row, index])  # a copy: H x W
        return out
