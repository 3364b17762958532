"""BigEarthNet v2 (reBEN, Clasen et al. 2024) as distributed: a root holding
``metadata.parquet`` (and the snow/cloud/shadow parquet) beside either the GeoTIFF tree
(``BigEarthNet-S1/``, ``BigEarthNet-S2/``) or the authors' LMDB (a folder holding ``data.mdb``).
The version and format are detected from the root (:func:`detect_version`), never given.

Pixels come out as BigEarthNet v1's do (data/bigearthnet/v1.py): the project's band names, S2
bands brought to 120 x 120 by v1's documented bilinear resampling (``upsample_bilinear``), S1
ordered VV, VH by name; S2 reflectance x 1e4 and S1 dB as stored, in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensormoco.data.bands import BIGEARTHNET_S2_BANDS, S1_BANDS, resolve_bands
from sensormoco.data.bigearthnet.v1 import (
    FILE_SUFFIX,
    NATIVE_SIZE,
    PATCH_SIZE,
    resolve_s2_bands,
    upsample_bilinear,
)
from sensormoco.data.bigearthnet.v2_lmdb import DATA_FILE, LmdbReader
from sensormoco.data.bigearthnet.v2_metadata import METADATA, V2Metadata, V2Patch, load_metadata
from sensormoco.data.bigearthnet.v2_store import StoreReader, is_v2_store
from sensormoco.data.bigearthnet.v2_tree import S1_FOLDER, S2_FOLDER, TreeReader
from sensormoco.errors import DataError

Reader = TreeReader | LmdbReader | StoreReader
_DTYPE = {"s1": np.dtype(np.float32), "s2": np.dtype(np.uint16)}


def check_band(where: str, band: str, data: np.ndarray, sensor: str) -> None:
    """Fail unless ``data`` is ``band`` (project name) at its native size and dtype."""
    native = NATIVE_SIZE[band]
    if data.shape != (native, native):
        shape = " x ".join(str(n) for n in data.shape)
        raise DataError(
            where, f"{FILE_SUFFIX[band]} is {shape} pixels, expected {native} x {native}", "size"
        )
    if data.dtype != _DTYPE[sensor]:
        raise DataError(
            where, f"{FILE_SUFFIX[band]} has dtype {data.dtype}, expected {_DTYPE[sensor]}", "dtype"
        )


def _lmdb_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / DATA_FILE).is_file())


def detect_version(root: str | Path) -> str:
    """``"v2-store"`` (a store of ``sensormoco pack bigearthnet``), ``"v2-lmdb"``
    (``metadata.parquet`` beside a folder holding ``data.mdb``; preferred when both are there),
    ``"v2-tree"`` (beside ``BigEarthNet-S1/`` and ``BigEarthNet-S2/``) or ``"v1"`` (anything
    else: read by data/bigearthnet/v1.py)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such data directory", "missing")
    if not (root / METADATA).is_file():
        return "v1"
    if is_v2_store(root):
        return "v2-store"
    if _lmdb_folders(root):
        return "v2-lmdb"
    if (root / S1_FOLDER).is_dir() and (root / S2_FOLDER).is_dir():
        return "v2-tree"
    raise DataError(
        root,
        f"has {METADATA} but neither an LMDB folder (holding {DATA_FILE}) nor "
        f"{S1_FOLDER}/ and {S2_FOLDER}/ beside it",
        "layout",
    )


def is_bigearthnet_v2(root: str | Path) -> bool:
    return Path(root).is_dir() and detect_version(root) != "v1"


@dataclass
class V2Source:
    """A BigEarthNet v2 root: its metadata and the reader of its pixels (tree, LMDB or store)."""

    root: Path
    kind: str  # "tree", "lmdb" or "store"
    metadata: V2Metadata
    reader: Reader

    def _bands(self, patch: V2Patch, sensor: str, names: Sequence[str]) -> np.ndarray:
        key = patch.s1_name if sensor == "s1" else patch.patch_id
        if sensor == "s1" and not self.reader.has(key):
            self.require_pair(patch)
        arrays = self.reader.read(key, [FILE_SUFFIX[b] for b in names])
        out = np.empty((len(names), PATCH_SIZE, PATCH_SIZE), np.float32)  # C x 120 x 120
        for i, band in enumerate(names):
            data = arrays[FILE_SUFFIX[band]]
            check_band(self.reader.source(key), band, data, sensor)
            out[i] = upsample_bilinear(data)
        return out

    def read_s1(self, patch: V2Patch, bands: str | Sequence[str] = S1_BANDS) -> np.ndarray:
        """S1 of ``patch``: C x 120 x 120 float32 dB, VV then VH by default."""
        return self._bands(patch, "s1", resolve_bands("s1", bands))

    def read_s2(
        self, patch: V2Patch, bands: str | Sequence[str] = BIGEARTHNET_S2_BANDS
    ) -> np.ndarray:
        """S2 of ``patch``: C x 120 x 120 float32 reflectance x 1e4 on the 10 m grid."""
        return self._bands(patch, "s2", resolve_s2_bands(bands))

    def require_pair(self, patch: V2Patch) -> None:
        """Fail unless both sensors of ``patch`` are in the data (no pixels read)."""
        if not self.reader.has(patch.patch_id):
            raise DataError(
                patch.patch_id,
                f"its S2 patch is not in {self.reader.source(patch.patch_id)}",
                "missing",
            )
        if not self.reader.has(patch.s1_name):
            raise DataError(
                patch.patch_id,
                f"its S1 partner {patch.s1_name} is not in {self.reader.source(patch.s1_name)}",
                "unpaired",
            )

    def check(self, patch: V2Patch, read_pixels: bool = True) -> str | None:
        """Why ``patch`` cannot be used (a one-line message), or None. Without ``read_pixels``
        only the presence of both sensors is checked."""
        try:
            self.require_pair(patch)
            if read_pixels:
                self.read_s2(patch)
                self.read_s1(patch)
        except DataError as exc:
            return str(exc)
        return None


def open_source(root: str | Path, keep_snow_cloud: bool = False) -> V2Source:
    """The BigEarthNet v2 root ``root`` (snow/cloud/shadow patches left out unless
    ``keep_snow_cloud``); a v1 root is an error."""
    root = Path(root)
    version = detect_version(root)
    if version == "v1":
        raise DataError(root, f"not a BigEarthNet v2 root (no {METADATA})", "layout")
    metadata = load_metadata(root, keep_snow_cloud)
    if version == "v2-store":
        return V2Source(root, "store", metadata, StoreReader(root))
    if version == "v2-lmdb":
        folders = _lmdb_folders(root)
        if len(folders) > 1:
            names = ", ".join(p.name for p in folders)
            raise DataError(root, f"more than one LMDB folder ({names})", "layout")
        return V2Source(root, "lmdb", metadata, LmdbReader(folders[0]))
    return V2Source(root, "tree", metadata, TreeReader(root))
