"""The packed SEN12MS store: one ``.npy`` file per array, rows in patch-id order, read by
``os.pread`` (see docs/store.md for the format and why this layout was chosen).

A store is a folder::

    manifest.json    format, version, source, shapes, dtypes, bands, counts, sha256 of the
                     small files below (checked on open)
    s1.npy           N x 2 x H x W float32: VV, VH in dB exactly as in the GeoTIFFs (NaN kept)
    s2.npy           N x 13 x H x W uint16: B1 ... B12, reflectance x 1e4 as in the GeoTIFFs
    lc.npy           N x 4 x H x W uint16: IGBP, LCCS land cover, land use, surface hydrology
    igbp.npy         N x 17 float64: IGBP fractions of lc layer 1 (NaN: no valid pixel)
    ids.txt          row i's patch id on line i
    footprints.csv   patch_id, crs, left, bottom, right, top per row
    rows.csv         patch_id, s1_nonfinite, igbp_invalid per row: the index's S1 non-finite
                     pixel count and lc layer 1's pixels without an IGBP code (version 2 on)
    skipped.csv      patch_id, kind, reason of every triplet left out
    checksums.csv    sha256 of every array's bytes per chunk of rows (checked by verify())

Opening validates the manifest, every array's header against it and every file's size; the
array bytes are hashed only by :meth:`Store.verify` (hashing a full SEN12MS store, ~500 GB,
takes minutes). Every problem is a one-line DataError naming the file.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from sensormoco.data.bands import S1_BANDS, S2_BANDS
from sensormoco.data.sen12ms.labels import N_IGBP
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.subset import Footprint
from sensormoco.data.store.arrays import NPY_HEADER_BYTES, ArraySpec, read_npy_header
from sensormoco.data.store.checksums import hash_rows, parse_checksums
from sensormoco.data.store.checksums import sha256_file as sha256_file  # re-exported
from sensormoco.errors import DataError

FORMAT = "sensormoco-store"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no rows.csv
MANIFEST = "manifest.json"
IDS = "ids.txt"
FOOTPRINTS = "footprints.csv"
ROWS = "rows.csv"
SKIPPED = "skipped.csv"
CHECKSUMS = "checksums.csv"
SMALL_FILES = (IDS, FOOTPRINTS, ROWS, SKIPPED, CHECKSUMS)
LC_LAYERS: tuple[str, ...] = ("IGBP", "LCCS_LC", "LCCS_LU", "LCCS_SH")


def array_specs(height: int, width: int) -> dict[str, ArraySpec]:
    """The arrays of a store of ``height x width`` patches."""
    return {
        "s1": ArraySpec("s1", "<f4", (len(S1_BANDS), height, width), S1_BANDS),
        "s2": ArraySpec("s2", "<u2", (len(S2_BANDS), height, width), S2_BANDS),
        "lc": ArraySpec("lc", "<u2", (len(LC_LAYERS), height, width), LC_LAYERS),
        "igbp": ArraySpec("igbp", "<f8", (N_IGBP,)),
    }


def partial_path(store: str | Path) -> Path:
    """Where a store is built before it is renamed into place: ``STORE.partial``."""
    store = Path(store)
    return store.with_name(store.name + ".partial")


def small_files(version: int) -> tuple[str, ...]:
    """The small files a store of format ``version`` holds."""
    return SMALL_FILES if version >= 2 else tuple(f for f in SMALL_FILES if f != ROWS)


def is_store(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


class Store:
    """An opened, validated store. Rows are read with ``os.pread`` through descriptors opened
    lazily per process (a pickled Store carries none), so DataLoader workers and DDP ranks
    share the page cache and no process maps the arrays."""

    def __init__(self, path: Path, manifest: dict[str, Any], ids: list[PatchId]) -> None:
        self.path = path
        self.manifest = manifest
        self.ids = ids
        self.count = len(ids)
        self.version = int(manifest["version"])
        self.height, self.width = int(manifest["height"]), int(manifest["width"])
        self.specs = array_specs(self.height, self.width)
        self._fds: dict[str, int] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fds"] = {}  # descriptors belong to the process that opened them
        return state

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_pid", None) == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}

    def _fd(self, name: str) -> int:
        if self._pid != os.getpid():  # a forked worker: close its copies, open its own
            for fd in self._fds.values():
                with suppress(OSError):
                    os.close(fd)
            self._fds, self._pid = {}, os.getpid()
        if name not in self._fds:
            self._fds[name] = os.open(self.path / self.specs[name].file, os.O_RDONLY)
        return self._fds[name]

    def read(self, name: str, row: int) -> np.ndarray:
        """Row ``row`` of array ``name`` (read-only, shape ``specs[name].row_shape``)."""
        spec = self.specs[name]
        if not 0 <= row < self.count:
            raise IndexError(f"row {row} out of range for a store of {self.count}")
        data = os.pread(self._fd(name), spec.row_bytes, spec.row_offset(row))
        if len(data) != spec.row_bytes:
            raise DataError(self.path / spec.file, f"row {row} is cut short (truncated?)")
        return np.frombuffer(data, spec.dtype).reshape(spec.row_shape)

    def read_into(self, name: str, row: int, buffers: list[np.ndarray]) -> None:
        """Row ``row`` of array ``name`` read straight into ``buffers`` (C-contiguous, filled
        in order with the row's leading bytes: ``os.preadv``, no intermediate copy)."""
        spec = self.specs[name]
        if not 0 <= row < self.count:
            raise IndexError(f"row {row} out of range for a store of {self.count}")
        wanted = sum(b.nbytes for b in buffers)
        if wanted > spec.row_bytes:
            raise ValueError(f"{wanted} bytes asked of a {spec.row_bytes}-byte row of {name}")
        offset = NPY_HEADER_BYTES + row * spec.row_bytes
        if os.preadv(self._fd(name), [b.data for b in buffers], offset) != wanted:
            raise DataError(self.path / spec.file, f"row {row} is cut short (truncated?)")

    def array(self, name: str) -> np.memmap[Any, np.dtype[Any]]:
        """The whole array ``name`` memory-mapped read-only (for bulk work, not for loaders)."""
        spec = self.specs[name]
        return np.memmap(
            self.path / spec.file, spec.dtype, "r", NPY_HEADER_BYTES, (self.count, *spec.row_shape)
        )

    def footprints(self) -> list[Footprint]:
        """Where each row lies, in row order."""
        rows = _read_csv(self.path / FOOTPRINTS)
        try:
            return [
                Footprint(
                    PatchId.parse(r["patch_id"]),
                    r["crs"],
                    (float(r["left"]), float(r["bottom"]), float(r["right"]), float(r["top"])),
                )
                for r in rows
            ]
        except (KeyError, ValueError) as exc:
            raise DataError(self.path / FOOTPRINTS, f"malformed row ({exc})") from exc

    def igbp_fractions(self) -> dict[PatchId, np.ndarray]:
        """IGBP 17-vectors of the rows that have one (for data/sen12ms/labels.py's label_rows)."""
        fractions = np.asarray(self.array("igbp"))  # N x 17
        return {
            pid: fractions[i].copy()
            for i, pid in enumerate(self.ids)
            if not np.isnan(fractions[i, 0])
        }

    def igbp_invalid(self) -> np.ndarray:
        """Per row, lc layer 1's pixels without an IGBP code 1-17 (N,): from rows.csv, or
        counted from lc.npy for a version-1 store."""
        if self.version >= 2:
            try:
                return np.array([int(r["igbp_invalid"]) for r in _read_csv(self.path / ROWS)])
            except (KeyError, ValueError) as exc:
                raise DataError(self.path / ROWS, f"malformed row ({exc})") from exc
        layer = self.array("lc")[:, 0]  # N x H x W, read in blocks of rows
        counts = np.zeros(self.count, np.int64)  # N
        for start in range(0, self.count, 256):
            block = np.asarray(layer[start : start + 256])  # n x H x W
            counts[start : start + 256] = ((block < 1) | (block > N_IGBP)).sum(axis=(1, 2))
        return counts

    def skipped(self) -> dict[PatchId, str]:
        """Patch id -> kind of every triplet the pack left out."""
        return {pid: kind for pid, kind, _ in self.skipped_rows()}

    def skipped_rows(self) -> list[tuple[PatchId, str, str]]:
        """(patch id, kind, one-line reason) of every triplet the pack left out."""
        return [
            (PatchId.parse(r["patch_id"]), r["kind"], r["reason"])
            for r in _read_csv(self.path / SKIPPED)
        ]

    def verify(self) -> list[str]:
        """Hash every array chunk and compare with checksums.csv; one line per mismatch."""
        problems = []
        for chunk in parse_checksums(self.path / CHECKSUMS, _read_csv(self.path / CHECKSUMS)):
            first, rows = chunk.first_row, chunk.rows
            for name, spec in self.specs.items():
                if hash_rows(self._fd(name), spec, first, rows) != chunk.sha256[name]:
                    problems.append(
                        f"{self.path / spec.file}: rows {first}-{first + rows - 1} "
                        "do not match their sha256 (corrupt)"
                    )
        return problems


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from exc


def _load_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.is_file():
        if partial_path(path).is_dir():
            raise DataError(
                path,
                "an interrupted pack, not a store yet: run the same "
                "`sensormoco pack` again to finish it",
                "missing",
            )
        raise DataError(file, "missing: not a packed store", "missing")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(file, f"unreadable store manifest ({exc})", "unreadable") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(file, f"not a {FORMAT} manifest", "format")
    if manifest.get("version") not in READABLE_VERSIONS:
        raise DataError(
            file,
            f"format version {manifest.get('version')}, this sensormoco "
            f"reads version {' or '.join(map(str, READABLE_VERSIONS))}",
            "format",
        )
    return manifest


def _check_arrays(path: Path, manifest: Mapping[str, Any], count: int) -> None:
    specs = array_specs(int(manifest["height"]), int(manifest["width"]))
    if sorted(manifest["arrays"]) != sorted(specs):
        raise DataError(
            path / MANIFEST,
            f"arrays {sorted(manifest['arrays'])}, expected {sorted(specs)}",
            "format",
        )
    for spec in specs.values():
        file = path / spec.file
        shape, dtype, offset = read_npy_header(file)
        expected = (count, *spec.row_shape)
        if shape != expected or dtype != np.dtype(spec.dtype) or offset != NPY_HEADER_BYTES:
            raise DataError(
                file, f"holds {dtype} {shape}, the manifest says {spec.dtype} {expected}", "shape"
            )
        size, want = file.stat().st_size, offset + count * spec.row_bytes
        if size != want:
            raise DataError(file, f"{size} bytes, expected {want} (truncated?)", "truncated")


def open_store(path: str | Path) -> Store:
    """Open and validate a store: manifest, array headers and sizes, small files' sha256."""
    path = Path(path)
    manifest = _load_manifest(path)
    try:
        count, sums = int(manifest["count"]), manifest["sha256"]
        _check_arrays(path, manifest, count)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(path / MANIFEST, f"malformed store manifest ({exc!r})", "format") from exc
    for name in small_files(int(manifest["version"])):
        file = path / name
        if not file.is_file():
            raise DataError(file, "missing file of the store", "missing")
        if sha256_file(file) != sums.get(name):
            raise DataError(file, "does not match its sha256 in the manifest (corrupt)", "corrupt")
    try:
        ids = [PatchId.parse(line) for line in (path / IDS).read_text("utf-8").splitlines()]
    except ValueError as exc:
        raise DataError(path / IDS, str(exc)) from exc
    if len(ids) != count:
        raise DataError(path / IDS, f"{len(ids)} ids, the manifest says {count}", "shape")
    return Store(path, manifest, ids)
