"""What evaluation asks of a labelled dataset: ids, labels, and samples of an id list.

A labelled dataset (SEN12MS from a tree or a store, BigEarthNet) holds patch ids and labels
only; pixels are read when a DataLoader asks for a sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco.data.bands import Normalization

if TYPE_CHECKING:
    from hashlib import _Hash

Sample = dict[str, Tensor]


@runtime_checkable
class Labelled(Protocol):
    """A labelled dataset with its official split: LabelledSEN12MS (evaluation/data.py),
    LabelledBigEarthNet and LabelledBigEarthNetV2 (evaluation/bigearthnet*_data.py)."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def test_ids(self) -> list[Any]: ...

    @property
    def skipped(self) -> int: ...

    @property
    def normalization(self) -> Normalization: ...

    def budget(self, size: int | None, seed: int) -> tuple[list[Any], list[Any]]:
        """Train and val ids of a budget (None: the full split) drawn with ``seed``."""
        ...

    def targets(self, ids: Sequence[Any], label_type: str) -> Tensor:
        """Labels of ``ids``: 0-based classes (N,) for "single", multi-hot N x K for "multi"."""
        ...

    def samples(self, ids: Sequence[Any], label_type: str) -> Dataset[Sample]:
        """Samples ``{"s1", "s2", "target", "index"}`` of ``ids`` in that order."""
        ...

    def fingerprint(self, ids: Sequence[Any]) -> str:
        """A digest of the data the samples of ``ids`` are read from, and of ``ids``."""
        ...


class LabelledSamples(Dataset[Sample]):
    """Samples ``positions`` of ``base`` with ``targets[i]`` as "target" and ``i`` as "index"
    (pickles to DataLoader workers with the base dataset's own metadata, never pixels)."""

    def __init__(self, base: Dataset[Sample], positions: Sequence[int], targets: Tensor) -> None:
        if len(positions) != len(targets):
            raise ValueError(f"{len(positions)} positions but {len(targets)} targets")
        self.base = base
        self.positions = np.asarray(positions, dtype=np.int64)  # N
        self.targets = targets  # N or N x K

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> Sample:
        sample = self.base[int(self.positions[index])]
        return {
            "s1": sample["s1"],
            "s2": sample["s2"],
            "target": self.targets[index],
            "index": torch.tensor(index),
        }


def ids_digest(ids: Sequence[Any]) -> str:
    """sha256 of the id list, in order."""
    return hashlib.sha256("\n".join(str(i) for i in ids).encode()).hexdigest()


def fingerprint_digest(normalization: Normalization, ids: Sequence[Any]) -> _Hash:
    """A sha256 begun with the normalisation and the id list, for a ``fingerprint`` to add
    the data the samples are read from."""
    digest = hashlib.sha256()
    digest.update(json.dumps(normalization.to_dict(), sort_keys=True).encode())
    digest.update(ids_digest(ids).encode())
    return digest
