"""Labelled SEN12MS for transfer evaluation: the split, budgets per seed, samples on demand.

``--data`` is a GeoTIFF tree or a packed store (data/store/): the same patches give the same
samples from either. Labels come from ``labels.csv`` when given, else from the IGBP fractions
of the lc layer (read from the lc files of a tree, from ``igbp.npy`` of a store). Test = the
official hold-out scenes; train and val = whole non-test scenes (seeded); a budget of N draws
80 % from train and 20 % from val with the seed of the run (data/sen12ms/splits.py). Only ids
and labels are held; pixels are read by DataLoaders a batch at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from sensormoco import defaults
from sensormoco.data.bands import SEN12MS_NORMALIZATION, Normalization
from sensormoco.data.sen12ms.dataset import SEN12MSDataset
from sensormoco.data.sen12ms.labels import SCHEMES, label_rows, read_many_lc_fractions
from sensormoco.data.sen12ms.labels_csv import read_labels_csv
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.splits import Split, label_budget, official_split
from sensormoco.data.store.dataset import StoreDataset, open_patches
from sensormoco.data.store.format import MANIFEST
from sensormoco.errors import DataError
from sensormoco.evaluation.samples import LabelledSamples, fingerprint_digest


@dataclass
class LabelledSEN12MS:
    """Usable labelled patches of a SEN12MS tree or store, split by scene; ``patches`` reads
    the pixels of every usable patch on demand."""

    root: Path
    scheme: str
    split: Split
    patches: SEN12MSDataset | StoreDataset  # every usable patch, in ascending id order
    single: dict[PatchId, int]  # 0-based
    multi: dict[PatchId, tuple[int, ...]]  # 0-based
    skipped: int  # unusable triplets and patches without a label
    normalization: Normalization = SEN12MS_NORMALIZATION

    @property
    def class_names(self) -> tuple[str, ...]:
        return SCHEMES[self.scheme]

    @property
    def test_ids(self) -> list[PatchId]:
        return list(self.split.test)

    @property
    def kind(self) -> str:
        return "store" if isinstance(self.patches, StoreDataset) else "tree"

    @cached_property
    def positions(self) -> dict[PatchId, int]:
        return {pid: i for i, pid in enumerate(self.patches.ids)}

    def budget(self, size: int | None, seed: int) -> tuple[list[PatchId], list[PatchId]]:
        """Train and val ids of a budget of ``size`` (None: the full split) drawn with ``seed``."""
        if size is None:
            return list(self.split.train), list(self.split.val)
        return label_budget(self.split, size, seed)

    def targets(self, ids: Sequence[PatchId], label_type: str) -> Tensor:
        """0-based classes (N,) for "single", multi-hot float rows (N x K) for "multi"."""
        if label_type == "single":
            return torch.tensor([self.single[p] for p in ids], dtype=torch.long)  # N
        multi = torch.zeros(len(ids), len(self.class_names))  # N x K
        for row, pid in enumerate(ids):
            multi[row, list(self.multi[pid])] = 1.0
        return multi

    def samples(self, ids: Sequence[PatchId], label_type: str) -> LabelledSamples:
        """Samples of ``ids`` in that order, with their labels as "target"."""
        positions = self.positions
        return LabelledSamples(
            self.patches, [positions[p] for p in ids], self.targets(ids, label_type)
        )

    def fingerprint(self, ids: Sequence[PatchId]) -> str:
        """Digest of the source (a store's manifest, or a tree's S1/S2 files: path, size and
        modification time of each file of ``ids``), the normalisation and ``ids``."""
        digest = fingerprint_digest(self.normalization, ids)
        if isinstance(self.patches, StoreDataset):
            digest.update((self.patches.store.path / MANIFEST).read_bytes())
            return digest.hexdigest()
        records = self.patches.records
        positions = self.positions
        for pid in ids:
            for sensor in ("s1", "s2"):
                path = self.root / records[positions[pid]].paths[sensor]
                stat = os.stat(path)
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return digest.hexdigest()


def load_sen12ms(
    root: str | Path,
    scheme: str = defaults.LABEL_SCHEME,
    labels_csv: str | Path | None = None,
    index_csv: str | Path | None = None,
    val_fraction: float = defaults.VAL_FRACTION,
    split_seed: int = defaults.SEED,
    workers: int = defaults.SCAN_WORKERS,
    normalization: Normalization = SEN12MS_NORMALIZATION,
) -> LabelledSEN12MS:
    """The labelled patches of the tree or store ``root``: labels from ``labels_csv`` when
    given (its scheme must be ``scheme``), else from the lc layer; unusable patches are
    skipped and counted. ``index_csv`` and ``workers`` apply to a tree."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such data directory")
    patches = open_patches(root, normalization=normalization, index_csv=index_csv, workers=workers)
    dataset = patches.dataset
    held = set(patches.ids)
    if labels_csv is not None:
        rows = [r for r in read_labels_csv(labels_csv, scheme) if r.patch_id in held]
    elif isinstance(dataset, StoreDataset):
        rows = label_rows(dataset.store.igbp_fractions(), scheme, defaults.LABEL_THRESHOLD)
    else:
        lc = read_many_lc_fractions(
            {r.patch_id: root / r.paths["lc"] for r in dataset.records}, workers
        )
        rows = label_rows(lc.fractions, scheme, defaults.LABEL_THRESHOLD)
    if not rows:
        raise DataError(root, "no usable labelled SEN12MS patches")
    labelled = {r.patch_id for r in rows}
    split = official_split(labelled, val_fraction, split_seed)
    if not split.test:
        raise DataError(root, "no patch of the official test scenes: nothing to report on")
    return LabelledSEN12MS(
        root,
        scheme,
        split,
        dataset,
        {r.patch_id: r.single - 1 for r in rows},
        {r.patch_id: tuple(c - 1 for c in r.multi) for r in rows},
        patches.skipped_bad + len(held) - len(labelled),  # bad triplets, unlabelled patches
        normalization,
    )


def union(*lists: Iterable[PatchId]) -> list[PatchId]:
    """Sorted ids of all lists, once each."""
    return sorted({pid for ids in lists for pid in ids})
