"""Labelled BigEarthNet-MM for transfer evaluation (multi-label, 19 or 43 classes).

``ROOT`` holds the S1 and S2 archives as distributed (``BigEarthNet-S1-v1.0`` and
``BigEarthNet-v1.0``, or any two folders whose names contain ``S1`` and ``S2``/``v1.0``), and
the official split files ``train.csv``, ``val.csv``, ``test.csv`` (``S2name,S1name`` per line)
sit in ``ROOT`` or the folder given as ``splits``. A budget draws 80 % from train and 20 % from
val with the run's seed. Inputs are standardised with the published BigEarthNet statistics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensormoco.data.bands import BIGEARTHNET_NORMALIZATION, Normalization
from sensormoco.data.bigearthnet.labels import SCHEMES, multi_hot
from sensormoco.data.bigearthnet.v1 import (
    BigEarthNetRecord,
    metadata_file,
    read_split_csv,
    scan_pairs,
    select_split,
)
from sensormoco.data.bigearthnet.v1_dataset import BigEarthNetDataset
from sensormoco.data.sources import BIGEARTHNET_V2, source_kind
from sensormoco.errors import DataError
from sensormoco.evaluation.bigearthnet_splits import BigEarthNetParts
from sensormoco.evaluation.bigearthnet_v2_data import load_bigearthnet_v2
from sensormoco.evaluation.samples import Labelled, fingerprint_digest

S1_FOLDER = "BigEarthNet-S1-v1.0"
S2_FOLDER = "BigEarthNet-v1.0"
SPLITS = ("train", "val", "test")


def find_roots(root: Path) -> tuple[Path, Path]:
    """The S1 and S2 archive folders inside ``root``."""
    if (root / S1_FOLDER).is_dir() and (root / S2_FOLDER).is_dir():
        return root / S1_FOLDER, root / S2_FOLDER
    folders = [p for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []
    s1 = [p for p in folders if "S1" in p.name]
    s2 = [p for p in folders if "S1" not in p.name and ("S2" in p.name or "v1.0" in p.name)]
    if len(s1) != 1 or len(s2) != 1:
        raise DataError(
            root,
            f"expected one BigEarthNet S1 and one S2 folder ({S1_FOLDER}, {S2_FOLDER}) inside",
            "layout",
        )
    return s1[0], s2[0]


@dataclass
class LabelledBigEarthNet(BigEarthNetParts[BigEarthNetRecord]):
    """Paired BigEarthNet patches with their official split; reads pixels on demand."""

    scheme: str  # "19" or "43"
    parts: dict[str, list[BigEarthNetRecord]]  # train / val / test
    skipped: int  # S1 folders that could not be paired, split entries not found
    normalization: Normalization = BIGEARTHNET_NORMALIZATION

    @property
    def class_names(self) -> tuple[str, ...]:
        return SCHEMES[self.scheme]

    def patch_id(self, patch: BigEarthNetRecord) -> str:
        return patch.s2_name

    def multi_hot(self, patch: BigEarthNetRecord) -> np.ndarray:
        return multi_hot(patch.labels, self.scheme, metadata_file(patch.s1_dir))

    def dataset(self, patches: list[BigEarthNetRecord]) -> BigEarthNetDataset:
        return BigEarthNetDataset(patches, self.scheme, normalization=self.normalization)

    def fingerprint(self, ids: Sequence[str]) -> str:
        """Digest of the normalisation, ``ids`` and each pair's folders (path and
        modification time) and label metadata."""
        by_id = self.by_id
        digest = fingerprint_digest(self.normalization, ids)
        for name in ids:
            record = by_id[name]
            for folder in (record.s1_dir, record.s2_dir):
                digest.update(f"{folder}:{os.stat(folder).st_mtime_ns};".encode())
            digest.update(";".join(record.labels).encode())
        return digest.hexdigest()


def load_bigearthnet(
    root: str | Path,
    scheme: str = "19",
    splits: str | Path | None = None,
    statistics: str | Path | None = None,
) -> Labelled:
    """Pair the archives in ``root`` and select the official splits (skips are counted). A
    BigEarthNet v2 root (detected) is read by evaluation/bigearthnet_v2_data.py, its splits
    from its metadata; ``statistics`` (a stats JSON) applies to v2 only."""
    root = Path(root)
    if source_kind(root).dataset == BIGEARTHNET_V2:
        if splits is not None:
            raise ValueError(
                "BigEarthNet v2 has its official splits in metadata.parquet: give no --splits"
            )
        return load_bigearthnet_v2(root, scheme, statistics)
    if statistics is not None:
        raise ValueError(
            "--stats applies to BigEarthNet v2 roots (v1 uses the published BigEarthNet statistics)"
        )
    if scheme not in SCHEMES:
        raise ValueError(f"BigEarthNet scheme must be '19' or '43', got {scheme!r}")
    s1_root, s2_root = find_roots(root)
    scan = scan_pairs(s1_root, s2_root)
    folder = Path(splits) if splits is not None else root
    parts: dict[str, list[BigEarthNetRecord]] = {}
    missing = 0
    for name in SPLITS:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise DataError(
                path,
                "no official split file (give --splits DIR with train.csv, val.csv, test.csv)",
                "missing",
            )
        parts[name], absent = select_split(scan.records, read_split_csv(path))
        missing += len(absent)
    if not parts["test"]:
        raise DataError(folder / "test.csv", "no test patch of the split is in the data")
    return LabelledBigEarthNet(scheme, parts, scan.skipped + missing)
