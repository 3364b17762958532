"""Labelled BigEarthNet v2 for transfer evaluation (multi-label, 19 classes), with the same
interface as v1's :class:`LabelledBigEarthNet` (evaluation/bigearthnet_data.py).

``ROOT`` is a v2 root (tree or LMDB, detected); the splits are the official ones of
``metadata.parquet`` (``train``, ``validation``, ``test``), snow/cloud/shadow patches left out.
A budget draws 80 % from train and 20 % from validation with the run's seed. Inputs are
standardised with the authors' train-split statistics of v2 (data/bands.py
``BIGEARTHNET_V2_NORMALIZATION``), or those of a ``sensormoco stats bigearthnet`` file.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sensormoco.data.bands import BIGEARTHNET_V2_NORMALIZATION, Normalization
from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.data.bigearthnet.v2 import V2Source, open_source
from sensormoco.data.bigearthnet.v2_dataset import BigEarthNetV2Dataset
from sensormoco.data.bigearthnet.v2_metadata import V2Patch
from sensormoco.data.sen12ms.splits import draw_budget
from sensormoco.errors import DataError
from sensormoco.evaluation.data import Tensors


@dataclass
class LabelledBigEarthNetV2:
    """BigEarthNet v2 patches by official split; reads pixels on demand."""

    source: V2Source
    parts: dict[str, list[V2Patch]]  # train / validation / test
    skipped: int  # snow/cloud/shadow patches left out, pairs without one of their sensors
    scheme: str = "19"
    normalization: Normalization = BIGEARTHNET_V2_NORMALIZATION
    cache: dict[str, tuple[Tensor, Tensor, Tensor]] = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES_19

    @property
    def test_ids(self) -> list[str]:
        return [p.patch_id for p in self.parts["test"]]

    def budget(self, size: int | None, seed: int) -> tuple[list[str], list[str]]:
        train = [p.patch_id for p in self.parts["train"]]
        val = [p.patch_id for p in self.parts["validation"]]
        return (train, val) if size is None else draw_budget(train, val, size, seed)

    @functools.cached_property
    def by_id(self) -> dict[str, V2Patch]:
        return {p.patch_id: p for part in self.parts.values() for p in part}

    def tensors(self, ids: Sequence[Any]) -> Tensors:
        by_id = self.by_id
        todo = [pid for pid in ids if pid not in self.cache]
        dataset = BigEarthNetV2Dataset(self.source, [by_id[pid] for pid in todo],
                                       normalization=self.normalization)  # fmt: skip
        for i, pid in enumerate(todo):
            sample = dataset[i]
            self.cache[pid] = (sample["s1"], sample["s2"], sample["target"])
        multi = torch.stack([self.cache[pid][2] for pid in ids])  # N x 19
        return Tensors(
            list(ids),
            torch.stack([self.cache[pid][0] for pid in ids]),  # N x 2 x 120 x 120
            torch.stack([self.cache[pid][1] for pid in ids]),  # N x 10 x 120 x 120
            multi.argmax(dim=1),  # N (not a BigEarthNet label: multi-label only)
            multi,
        )


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
