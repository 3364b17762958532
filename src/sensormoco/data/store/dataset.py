"""The packed store as a dataset.

:class:`StoreDataset` returns exactly the samples of :class:`SEN12MSDataset` (same keys,
dtypes, band selection, S1/S2 preprocessing and normalisation, bit for bit) from a store;
data/sources.py's ``open_patches`` opens whichever of the two a path holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco import defaults
from sensormoco.data.bands import (
    S1_BANDS,
    S2_BANDS,
    SEN12MS_NORMALIZATION,
    Normalization,
    resolve_bands,
)
from sensormoco.data.sen12ms.layout import PatchId, clean_s1_, clip_s2_, clip_s2_raw_
from sensormoco.data.store.format import Store, open_store

if TYPE_CHECKING:  # re-exported lazily below (data/sources.py imports this module)
    from sensormoco.data.sources import Patches, open_patches

__all__ = ["Patches", "StoreDataset", "open_patches"]


class StoreDataset(Dataset[dict[str, Tensor]]):
    """Samples ``{"s1": C1 x H x W, "s2": C2 x H x W, "index": (), ["lc": 4 x H x W],
    ["target": ...]}`` of store rows ``rows`` (all rows by default), in that order;
    ``ids[index]`` names the patch. Arguments as :class:`SEN12MSDataset` (``raw``: S2 as
    stored, clipped, as int16, and nothing normalised).

    Pickling (to DataLoader workers) carries the store's path, ids and the row numbers, never
    array data; each process opens its own file descriptors on first read.
    """

    def __init__(
        self,
        store: Store | str | Path,
        rows: Sequence[int] | None = None,
        s1_bands: str | Sequence[str] = defaults.S1_BANDS,
        s2_bands: str | Sequence[str] = defaults.S2_BANDS,
        normalization: Normalization | None = SEN12MS_NORMALIZATION,
        with_lc: bool = False,
        targets: Mapping[PatchId, Tensor] | None = None,
        raw: bool = False,
    ) -> None:
        self.store = store if isinstance(store, Store) else open_store(store)
        count = self.store.count
        self.rows = np.arange(count) if rows is None else np.asarray(rows, dtype=np.int64)  # N
        if self.rows.size and (self.rows.min() < 0 or self.rows.max() >= count):
            raise ValueError(f"rows must lie in [0, {count}) for {self.store.path}")
        self.s1_bands = resolve_bands("s1", s1_bands)
        self.s2_bands = resolve_bands("s2", s2_bands)
        self._s1_index = np.array([S1_BANDS.index(b) for b in self.s1_bands])  # C1
        self._s2_runs = _runs([S2_BANDS.index(b) for b in self.s2_bands])
        self.norm_s1 = normalization.select(self.s1_bands) if normalization else None
        self.norm_s2 = normalization.select(self.s2_bands) if normalization else None
        self.with_lc, self.raw = with_lc, raw
        self.targets: list[Tensor] | None = None
        if targets is not None:
            missing = [pid for pid in self.ids if pid not in targets]
            if missing:
                raise ValueError(f"no target for {len(missing)} patch(es), e.g. {missing[0]}")
            self.targets = [targets[pid] for pid in self.ids]

    @property
    def ids(self) -> list[PatchId]:
        return [self.store.ids[row] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        row = int(self.rows[index])
        s1, s2 = self._s1(row), self._s2(row)  # C1 x H x W, C2 x H x W
        if self.norm_s1 is not None and self.norm_s2 is not None and not self.raw:
            # in numpy, without torch's intra-op threads; the same bits as Normalization.apply
            self.norm_s1.apply_(s1)
            self.norm_s2.apply_(s2)
        sample = {
            "s1": torch.from_numpy(s1),
            "s2": torch.from_numpy(s2),
            "index": torch.tensor(index),
        }
        if self.with_lc:
            sample["lc"] = torch.from_numpy(self.store.read("lc", row).astype(np.int64))  # 4xHxW
        if self.targets is not None:
            sample["target"] = self.targets[index]
        return sample

    def _s1(self, row: int) -> np.ndarray:
        """S1 bands of ``row`` in dB after SEN12MS's rule (sen12ms.clean_s1_)."""
        return clean_s1_(self.store.read("s1", row)[self._s1_index])  # C1 x H x W, a copy

    def _s2(self, row: int) -> np.ndarray:
        """S2 bands of ``row`` as float32: sen12ms.preprocess_s2 (clip), band runs cast once."""
        raw = self.store.read("s2", row)  # 13 x H x W uint16
        dtype = np.uint16 if self.raw else np.float32
        data = np.empty((len(self.s2_bands), *raw.shape[1:]), dtype)  # C2 x H x W
        for start, stop, first in self._s2_runs:
            data[start:stop] = raw[first : first + stop - start]
        return clip_s2_raw_(data) if self.raw else clip_s2_(data)


def _runs(indices: Sequence[int]) -> list[tuple[int, int, int]]:
    """Runs of consecutive ``indices`` as (start, stop, first index) of the output."""
    runs: list[tuple[int, int, int]] = []
    for position, value in enumerate(indices):
        if runs and runs[-1][2] + position - runs[-1][0] == value:
            runs[-1] = (runs[-1][0], position + 1, runs[-1][2])
        else:
            runs.append((position, position + 1, value))
    return runs


def __getattr__(name: str) -> object:
    """``open_patches`` and ``Patches`` moved to data/sources.py; old imports keep working."""
    if name in ("open_patches", "Patches"):
        from sensormoco.data import sources

        return getattr(sources, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
