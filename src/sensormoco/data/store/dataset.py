"""One dataset interface over a SEN12MS tree and a packed store.

:class:`StoreDataset` returns exactly the samples of :class:`SEN12MSDataset` (same keys,
dtypes, band selection, S1/S2 preprocessing and normalisation, bit for bit) from a store;
:func:`open_patches` opens whichever of the two a path holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
from sensormoco.data.sen12ms.dataset import SEN12MSDataset
from sensormoco.data.sen12ms.index import build_index, read_index_csv, restrict
from sensormoco.data.sen12ms.layout import PatchId, clean_s1_, clip_s2_, read_id_list
from sensormoco.data.store.format import Store, is_store, open_store


class StoreDataset(Dataset[dict[str, Tensor]]):
    """Samples ``{"s1": C1 x H x W, "s2": C2 x H x W, "index": (), ["lc": 4 x H x W],
    ["target": ...]}`` of store rows ``rows`` (all rows by default), in that order;
    ``ids[index]`` names the patch. Arguments as :class:`SEN12MSDataset`.

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
        self.with_lc = with_lc
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
        if self.norm_s1 is not None and self.norm_s2 is not None:
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
        data = np.empty((len(self.s2_bands), *raw.shape[1:]), np.float32)  # C2 x H x W
        for start, stop, first in self._s2_runs:
            data[start:stop] = raw[first : first + stop - start]
        return clip_s2_(data)


def _runs(indices: Sequence[int]) -> list[tuple[int, int, int]]:
    """Runs of consecutive ``indices`` as (start, stop, first index) of the output."""
    runs: list[tuple[int, int, int]] = []
    for position, value in enumerate(indices):
        if runs and runs[-1][2] + position - runs[-1][0] == value:
            runs[-1] = (runs[-1][0], position + 1, runs[-1][2])
        else:
            runs.append((position, position + 1, value))
    return runs


@dataclass(frozen=True)
class Patches:
    """A dataset over a tree or a store, and what was left out of it."""

    dataset: SEN12MSDataset | StoreDataset
    ids: list[PatchId]  # dataset.ids, in sample order (ascending patch id)
    kind: str  # "tree" or "store"
    absent: list[PatchId]  # requested ids the source does not hold at all
    skipped_bad: int  # bad triplets left out (for a store: those the pack skipped)
    excluded: int  # usable patches dropped by ``exclude``


def open_patches(
    source: str | Path,
    ids: str | Path | Iterable[PatchId] | None = None,
    exclude: Callable[[PatchId], bool] | None = None,
    *,
    s1_bands: str | Sequence[str] = defaults.S1_BANDS,
    s2_bands: str | Sequence[str] = defaults.S2_BANDS,
    normalization: Normalization | None = SEN12MS_NORMALIZATION,
    with_lc: bool = False,
    targets: Mapping[PatchId, Tensor] | None = None,
    index_csv: str | Path | None = None,
    read_pixels: bool = False,
    workers: int = defaults.SCAN_WORKERS,
) -> Patches:
    """The usable patches of a SEN12MS tree or a packed store at ``source`` (a store when it
    holds a manifest.json), restricted to ``ids`` (an ids file or ids) and without those for
    which ``exclude`` is true, in ascending patch-id order: the same ids give the same samples
    from a tree and from its store. ``index_csv``, ``read_pixels`` and ``workers`` apply to a
    tree only (how it is validated: headers only by default)."""
    wanted = (
        None if ids is None else set(read_id_list(ids) if isinstance(ids, (str, Path)) else ids)
    )
    skip = exclude or (lambda _: False)
    dataset: SEN12MSDataset | StoreDataset
    if is_store(source):
        store = open_store(source)
        held = [i for i, pid in enumerate(store.ids) if wanted is None or pid in wanted]
        rows = [i for i in held if not skip(store.ids[i])]
        dataset = StoreDataset(store, rows, s1_bands, s2_bands, normalization, with_lc, targets)
        bad = {p for p, kind in store.skipped().items() if kind != "absent"}
        bad = bad if wanted is None else bad & wanted
        absent = [] if wanted is None else sorted(wanted - set(store.ids) - bad)
        return Patches(dataset, dataset.ids, "store", absent, len(bad), len(held) - len(rows))
    if index_csv:
        index = read_index_csv(index_csv, source)
    else:
        index = build_index(source, read_pixels=read_pixels, workers=workers)
    absent = []
    if wanted is not None:
        index, absent = restrict(index, wanted)
    usable = sorted(index.usable, key=lambda r: r.patch_id)
    records = [r for r in usable if not skip(r.patch_id)]
    dataset = SEN12MSDataset(source, records, s1_bands, s2_bands, normalization, with_lc, targets)
    excluded = len(usable) - len(records)
    return Patches(dataset, dataset.ids, "tree", absent, len(index.bad), excluded)
