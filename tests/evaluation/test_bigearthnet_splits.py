"""What BigEarthNet's labelled datasets share: parts, budgets, multi-hot targets, samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from sensormoco.evaluation.bigearthnet_splits import BigEarthNetParts
from sensormoco.evaluation.samples import Sample

CLASSES = ("a", "b", "c")


class _Pixels(Dataset[Sample]):
    def __init__(self, patches: list[str]) -> None:
        self.patches = patches

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> Sample:
        value = float(CLASSES.index(self.patches[index][0]))
        return {"s1": torch.full((2, 1, 1), value), "s2": torch.full((3, 1, 1), value)}


@dataclass
class _Letters(BigEarthNetParts[str]):
    """Patches named by their class letter and a number: "a1", "b2", ..."""

    VAL: ClassVar[str] = "validation"
    parts: dict[str, list[str]]

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES

    def patch_id(self, patch: str) -> str:
        return patch

    def multi_hot(self, patch: str) -> np.ndarray:
        out = np.zeros(len(CLASSES), np.float32)  # K
        out[CLASSES.index(patch[0])] = 1.0
        return out

    def dataset(self, patches: list[str]) -> _Pixels:
        return _Pixels(patches)


DATA = _Letters({"train": ["a1", "b2", "c3", "a4"], "validation": ["b5"], "test": ["c6", "a7"]})


def test_the_parts_give_test_ids_and_budgets() -> None:
    assert DATA.test_ids == ["c6", "a7"]
    assert DATA.budget(None, 0) == (["a1", "b2", "c3", "a4"], ["b5"])
    train, val = DATA.budget(3, 0)
    assert set(train) <= set(DATA.parts["train"])
    assert set(val) <= {"b5"}
    assert DATA.budget(3, 0) == (train, val)  # seeded
    assert DATA.by_id["c3"] == "c3"


def test_targets_and_samples_follow_the_id_order() -> None:
    ids = ["c6", "a1", "b5"]
    multi = DATA.targets(ids, "multi")
    assert multi.dtype == torch.float32
    assert multi.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert DATA.targets(ids, "single").tolist() == [2, 0, 1]
    assert DATA.targets([], "multi").shape == (0, 3)
    samples = DATA.samples(ids, "single")
    assert [int(samples[i]["target"]) for i in range(3)] == [2, 0, 1]
    assert [float(samples[i]["s1"][0, 0, 0]) for i in range(3)] == [2.0, 0.0, 1.0]
