"""Labelled BigEarthNet v2 for transfer evaluation (multi-label, 19 classes), with the same
interface as v1's :class:`LabelledBigEarthNet` (evaluation/bigearthnet_data.py).

``ROOT`` is a v2 root (tree or LMDB, detected); the splits are the official ones of
``metadata.parquet`` (``train``, ``validation``, ``test``), snow/cloud/shadow patches left out.
A budget draws 80 % from train and 20 % from validation with the run's seed. Inputs are
standardised with the authors' train-split statistics of v2 (data/bands.py
``BIGEARTHNET_V2_NORMALIZATION``), or those of a ``sensormoco stats bigearthnet`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sensormoco.data.bands import BIGEARTHNET_V2_NORMALIZATION, Normalization
from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.data.bigearthnet.v2 import V2Source, open_source
from sensormoco.data.bigearthnet.v2_dataset import BigEarthNetV2Dataset, multi_hot_19
from sensormoco.data.bigearthnet.v2_lmdb import DATA_FILE, LmdbReader
from sensormoco.data.bigearthnet.v2_metadata import METADATA, V2Patch
from sensormoco.data.bigearthnet.v2_store import MANIFEST, specs
from sensormoco.data.bigearthnet.v2_tree import patch_dir
from sensormoco.errors import DataError
from sensormoco.evaluation.bigearthnet_splits import BigEarthNetParts
from sensormoco.evaluation.samples import fingerprint_digest


@dataclass
class LabelledBigEarthNetV2(BigEarthNetParts[V2Patch]):
    """BigEarthNet v2 patches by official split (ids and labels); reads pixels on demand."""

    VAL: ClassVar[str] = "validation"
    source: V2Source
    parts: dict[str, list[V2Patch]]  # train / validation / test
    skipped: int  # snow/cloud/shadow patches left out, pairs without one of their sensors
    scheme: str = "19"
    normalization: Normalization = BIGEARTHNET_V2_NORMALIZATION

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES_19

    def patch_id(self, patch: V2Patch) -> str:
        return patch.patch_id

    def multi_hot(self, patch: V2Patch) -> np.ndarray:
        return multi_hot_19(patch)

    def dataset(self, patches: list[V2Patch]) -> BigEarthNetV2Dataset:
        return BigEarthNetV2Dataset(self.source, patches, normalization=self.normalization)

    def fingerprint(self, ids: Sequence[str]) -> str:
        """Digest of the normalisation, ``ids`` with their labels and S1 partners, and the
        data they are read from (the root, its kind, and the path and modification time of
        ``metadata.parquet`` and of the pixel files: each pair's folders in a tree, the LMDB or
        the store's arrays)."""
        by_id, root = self.by_id, self.source.root
        digest = fingerprint_digest(self.normalization, ids)
        digest.update(f"{root}:{self.source.kind};".encode())
        files = [root / METADATA, *_pixel_files(self.source)]
        for pid in ids:
            patch = by_id[pid]
            digest.update(f"{patch.s1_name}:{patch.multi};".encode())
            if self.source.kind == "tree":
                files += [_tree_dir(self.source, pid), _tree_dir(self.source, patch.s1_name)]
        for file in files:
            digest.update(f"{file}:{file.stat().st_mtime_ns};".encode())
        return digest.hexdigest()


def _tree_dir(source: V2Source, name: str) -> Path:
    return patch_dir(source.root, name)


def _pixel_files(source: V2Source) -> list[Path]:
    """The files an LMDB or store source reads pixels from (a tree's are per pair)."""
    if source.kind == "lmdb":
        assert isinstance(source.reader, LmdbReader)
        return [source.reader.path / DATA_FILE]
    if source.kind == "store":
        return [source.root / MANIFEST, *(source.root / spec.file for spec in specs().values())]
    return []


def load_bigearthnet_v2(
    root: str | Path, scheme: str = "19", statistics: str | Path | None = None
) -> LabelledBigEarthNetV2:
    """The official splits of the v2 root ``root``; ``statistics``: a stats JSON to standardise
    with instead of the published train-split statistics."""
    if scheme != "19":
        raise ValueError(f"BigEarthNet v2 has the 19-class nomenclature only, got {scheme!r}")
    source = open_source(root)
    unpaired = 0
    parts: dict[str, list[V2Patch]] = {}
    for name in ("train", "validation", "test"):
        patches = source.metadata.split(name)
        parts[name] = [p for p in patches if source.check(p, read_pixels=False) is None]
        unpaired += len(patches) - len(parts[name])
    if not parts["test"]:
        raise DataError(root, "no usable test patch")
    norm = Normalization.load(statistics) if statistics else BIGEARTHNET_V2_NORMALIZATION
    skipped = len(source.metadata.left_out) + unpaired
    return LabelledBigEarthNetV2(source, parts, skipped, "19", norm)
