"""Labelled SEN12MS for transfer evaluation: the split, budgets per seed, tensors in memory.

Test = the official hold-out scenes; train and val = whole non-test scenes (seeded); a budget
of N draws 80 % from train and 20 % from val with the seed of the run
(data/sen12ms/splits.py). Pixels of every patch used are read once and kept: budgets are small,
and the test set is shared by all seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sensormoco import defaults
from sensormoco.data.bands import SEN12MS_NORMALIZATION, Normalization
from sensormoco.data.sen12ms.dataset import SEN12MSDataset
from sensormoco.data.sen12ms.index import select
from sensormoco.data.sen12ms.labels import SCHEMES, label_rows, read_many_lc_fractions
from sensormoco.data.sen12ms.labels_csv import read_labels_csv
from sensormoco.data.sen12ms.layout import PatchId, PatchRecord
from sensormoco.data.sen12ms.splits import Split, label_budget, official_split
from sensormoco.errors import DataError


@dataclass
class Tensors:
    """N patches: ``s1`` N x 2 x H x W, ``s2`` N x 10 x H x W (normalised), ``single`` (N,)
    0-based class, ``multi`` N x K multi-hot."""

    ids: list[Any]  # SEN12MS PatchIds or BigEarthNet S2 patch names
    s1: Tensor
    s2: Tensor
    single: Tensor
    multi: Tensor

    def target(self, label_type: str) -> Tensor:
        return self.single if label_type == "single" else self.multi


@dataclass
class LabelledSEN12MS:
    """Usable labelled patches of a SEN12MS tree, split by scene; reads pixels on demand."""

    root: Path
    scheme: str
    split: Split
    records: dict[PatchId, PatchRecord]
    single: dict[PatchId, int]  # 0-based
    multi: dict[PatchId, tuple[int, ...]]  # 0-based
    skipped: int  # unusable triplets and unreadable lc files
    normalization: Normalization = SEN12MS_NORMALIZATION
    cache: dict[PatchId, tuple[Tensor, Tensor]] = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return SCHEMES[self.scheme]

    @property
    def test_ids(self) -> list[PatchId]:
        return list(self.split.test)

    def budget(self, size: int | None, seed: int) -> tuple[list[PatchId], list[PatchId]]:
        """Train and val ids of a budget of ``size`` (None: the full split) drawn with ``seed``."""
        if size is None:
            return list(self.split.train), list(self.split.val)
        return label_budget(self.split, size, seed)

    def tensors(self, ids: Sequence[Any]) -> Tensors:
        """The pixels and labels of ``ids`` (read once, then cached)."""
        todo = [pid for pid in ids if pid not in self.cache]
        if todo:
            dataset = SEN12MSDataset(self.root, [self.records[p] for p in todo],
                                     normalization=self.normalization)  # fmt: skip
            for i, pid in enumerate(todo):
                sample = dataset[i]
                self.cache[pid] = (sample["s1"], sample["s2"])
        k = len(self.class_names)
        multi = torch.zeros(len(ids), k)
        for row, pid in enumerate(ids):
            multi[row, list(self.multi[pid])] = 1.0
        return Tensors(
            list(ids),
            torch.stack([self.cache[p][0] for p in ids]),  # N x 2 x H x W
            torch.stack([self.cache[p][1] for p in ids]),  # N x 10 x H x W
            torch.tensor([self.single[p] for p in ids]),  # N
            multi,  # N x K
        )


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
    """The labelled patches of ``root``: labels from ``labels_csv`` when given (its scheme must
    be ``scheme``), else computed from the lc files; unusable patches are skipped and counted."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such data directory")
    index, _ = select(root, None, index_csv, read_pixels=False, workers=workers)
    records = {r.patch_id: r for r in index.usable}
    if labels_csv is not None:
        rows = [r for r in read_labels_csv(labels_csv, scheme) if r.patch_id in records]
    else:
        lc = read_many_lc_fractions({p: root / r.paths["lc"] for p, r in records.items()}, workers)
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
        {p: records[p] for p in labelled},
        {r.patch_id: r.single - 1 for r in rows},
        {r.patch_id: tuple(c - 1 for c in r.multi) for r in rows},
        len(index.bad) + len(records) - len(labelled),  # bad triplets, unlabelled patches
        normalization,
    )


def union(*lists: Iterable[PatchId]) -> list[PatchId]:
    """Sorted ids of all lists, once each."""
    return sorted({pid for ids in lists for pid in ids})
