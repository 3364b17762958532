"""What BigEarthNet's labelled datasets (v1 and v2) share: patches by official split, a budget
drawn from train and validation, multi-hot targets and samples of an id list.

A subclass names its validation part and says, per patch, its id, its multi-hot vector and
how a dataset reads the pixels of a list of patches.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco.data.sen12ms.splits import draw_budget
from sensormoco.evaluation.samples import LabelledSamples, Sample

P = TypeVar("P")  # one patch's record


class BigEarthNetParts(Generic[P]):
    """Patches of ``parts`` (``"train"``, :attr:`VAL`, ``"test"``); ids are S2 patch names."""

    VAL: ClassVar[str] = "val"  # the name of the validation part
    parts: dict[str, list[P]]

    @property
    def class_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def patch_id(self, patch: P) -> str:
        raise NotImplementedError

    def multi_hot(self, patch: P) -> np.ndarray:
        """The K-vector of ``patch``'s classes (K = len(class_names))."""
        raise NotImplementedError

    def dataset(self, patches: list[P]) -> Dataset[Sample]:
        """Samples of ``patches`` in that order."""
        raise NotImplementedError

    @property
    def test_ids(self) -> list[str]:
        return [self.patch_id(p) for p in self.parts["test"]]

    def budget(self, size: int | None, seed: int) -> tuple[list[str], list[str]]:
        train = [self.patch_id(p) for p in self.parts["train"]]
        val = [self.patch_id(p) for p in self.parts[self.VAL]]
        return (train, val) if size is None else draw_budget(train, val, size, seed)

    @functools.cached_property
    def by_id(self) -> dict[str, P]:
        return {self.patch_id(p): p for part in self.parts.values() for p in part}

    def targets(self, ids: Sequence[str], label_type: str) -> Tensor:
        """Multi-hot rows (N x K); "single": their arg-max (not a BigEarthNet label)."""
        by_id = self.by_id
        rows = [self.multi_hot(by_id[pid]) for pid in ids]
        k = len(self.class_names)
        multi = torch.from_numpy(np.stack(rows).astype(np.float32)) if rows else torch.zeros(0, k)
        return multi if label_type == "multi" else multi.argmax(dim=1)  # N x K or N

    def samples(self, ids: Sequence[str], label_type: str) -> LabelledSamples:
        """Samples of ``ids`` in that order, with their labels as "target"."""
        by_id = self.by_id
        dataset = self.dataset([by_id[pid] for pid in ids])
        return LabelledSamples(dataset, range(len(ids)), self.targets(ids, label_type))
