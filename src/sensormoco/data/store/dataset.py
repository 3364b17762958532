"""The packed store as a dataset.

:class:`StoreDataset` returns exactly the samples of :class:`SEN12MSDataset` (same keys,
dtypes, band selection, S1/S2 preprocessing and normalisation, bit for bit) from a store;
data/sources.py's ``open_patches`` opens whichever of the two a path holds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate, get_worker_info

from sensormoco.data.bands import (
    S1_BANDS,
    S2_BANDS,
    resolve_bands,
)
from sensormoco.data.samples import SampleOptions
from sensormoco.data.sen12ms.layout import PatchId, clean_s1_, clip_s2_, clip_s2_raw_
from sensormoco.data.store.batch_pool import Field, worker_buffers
from sensormoco.data.store.format import LC_LAYERS, Store, open_store

if TYPE_CHECKING:  # re-exported lazily below (data/sources.py imports this module)
    from sensormoco.data.sources import Patches, open_patches

__all__ = ["Patches", "SampleBatch", "StoreDataset", "collate_samples", "open_patches"]


class StoreDataset(Dataset[dict[str, Tensor]]):
    """Samples ``{"s1": C1 x H x W, "s2": C2 x H x W, "index": (), ["lc": 4 x H x W],
    ["target": ...]}`` of store rows ``rows`` (all rows by default), in that order;
    ``ids[index]`` names the patch. ``options`` as :class:`SEN12MSDataset`'s (``raw``: S2 as
    stored, clipped, as int16, and nothing normalised).

    Pickling (to DataLoader workers) carries the store's path, ids and the row numbers, never
    array data; each process opens its own file descriptors on first read.
    """

    def __init__(
        self,
        store: Store | str | Path,
        rows: Sequence[int] | None = None,
        options: SampleOptions | None = None,
    ) -> None:
        self.store = store if isinstance(store, Store) else open_store(store)
        options = options or SampleOptions()
        normalization, targets = options.normalization, options.targets
        count = self.store.count
        self.rows = np.arange(count) if rows is None else np.asarray(rows, dtype=np.int64)  # N
        if self.rows.size and (self.rows.min() < 0 or self.rows.max() >= count):
            raise ValueError(f"rows must lie in [0, {count}) for {self.store.path}")
        self.s1_bands = resolve_bands("s1", options.s1_bands)
        self.s2_bands = resolve_bands("s2", options.s2_bands)
        self._s1_index = np.array([S1_BANDS.index(b) for b in self.s1_bands])  # C1
        self._s2_runs = _runs([S2_BANDS.index(b) for b in self.s2_bands])
        self.norm_s1 = normalization.select(self.s1_bands) if normalization else None
        self.norm_s2 = normalization.select(self.s2_bands) if normalization else None
        self.with_lc, self.raw = options.with_lc, options.raw
        self.reuse_buffers = False  # see __getitems__
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

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Tensor]]:
        """The samples of ``indices`` (the DataLoader's batched fetch). Raw samples are read as
        one batch (a :class:`SampleBatch`): each row straight into its slot of the batch
        arrays (``os.preadv``; in a loader worker those lie in shared memory, so the batch
        crosses to the main process without a copy), S1 cleaned and S2 clipped once on the
        batch; the same bits as ``[self[i] for i in indices]``. With ``reuse_buffers`` set, a
        worker writes S1 and S2 into one of its reusable buffers (data/store/batch_pool.py):
        the consumer must then call ``release_batch`` on each batch once it is done with it."""
        if not self.raw:
            return [self[i] for i in indices]
        n, rows = len(indices), [int(self.rows[i]) for i in indices]
        size = (self.store.height, self.store.width)
        fields = (
            Field("s1", (n, len(self.s1_bands), *size), torch.float32),  # N x C1 x H x W
            Field("s2", (n, len(self.s2_bands), *size), torch.int16),  # N x C2 x H x W
            Field("index", (n,), torch.int64),  # N
        )
        if self.reuse_buffers and get_worker_info() is not None:
            pooled = worker_buffers().take(fields)  # one buffer crosses, not three
            s1, s2, index = pooled["s1"], pooled["s2"], pooled["index"]
        else:
            s1, s2, index = (_empty(field.shape, field.dtype) for field in fields)
        index.copy_(torch.as_tensor([int(i) for i in indices], dtype=torch.int64))
        s1_np, s2_np = s1.numpy(), s2.numpy().view(np.uint16)  # the same bytes
        s1_all = np.array_equal(self._s1_index, np.arange(len(S1_BANDS)))
        for i, row in enumerate(rows):
            if s1_all:
                self.store.read_into("s1", row, [s1_np[i]])
            else:
                s1_np[i] = self.store.read("s1", row)[self._s1_index]
            buffers = _scatter(s2_np[i], self._s2_runs)
            if buffers is None:  # bands out of stored order: through one copy
                s2_np[i] = self._s2(row).view(np.uint16)
            else:
                self.store.read_into("s2", row, buffers)
        clean_s1_(s1_np)  # elementwise: per sample or per batch alike
        clip_s2_raw_(s2_np)
        batch = {"s1": s1, "s2": s2, "index": index}
        if self.with_lc:
            lc = _empty((n, len(LC_LAYERS), *size), torch.int64)  # N x 4 x H x W
            lc_np = lc.numpy()
            for i, row in enumerate(rows):
                lc_np[i] = self.store.read("lc", row)
            batch["lc"] = lc
        if self.targets is not None:
            batch["target"] = default_collate([self.targets[i] for i in indices])
        return SampleBatch(batch)

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


class SampleBatch(list[dict[str, Tensor]]):
    """Samples read as one batch: ``collated`` holds them stacked (N x ...) and the list holds
    views of it, so ``default_collate`` (which stacks again) gives the same batch and
    :func:`collate_samples` gives it without a copy."""

    def __init__(self, collated: dict[str, Tensor]) -> None:
        n = len(collated["index"])
        super().__init__({key: value[i] for key, value in collated.items()} for i in range(n))
        self.collated = collated


def collate_samples(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """A DataLoader's ``collate_fn``: a :class:`SampleBatch` as it is, else ``default_collate``."""
    if isinstance(samples, SampleBatch):
        return samples.collated
    collated: dict[str, Tensor] = default_collate(samples)
    return collated


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """An uninitialised tensor; in a loader worker in shared memory, as ``default_collate``
    allocates its output, so sending it to the main process moves no bytes."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    storage: torch.UntypedStorage = torch.UntypedStorage._new_shared(nbytes)  # type: ignore[no-untyped-call]
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape, ())


def _scatter(out: np.ndarray, runs: Sequence[tuple[int, int, int]]) -> list[np.ndarray] | None:
    """Buffers that ``os.preadv`` fills from one stored S2 row (13 x H x W) so that the bands
    of ``runs`` land in ``out`` (C2 x H x W) and the others in a scratch buffer; None when the
    bands are not in stored order."""
    if any(b[2] <= a[2] for a, b in itertools.pairwise(runs)):
        return None
    buffers, band = [], 0  # band: the next stored band
    for start, stop, first in runs:
        if first > band:
            buffers.append(_scratch(out[0].nbytes * (first - band)))
        buffers.append(out[start:stop])
        band = first + stop - start
    return buffers


@lru_cache(maxsize=8)
def _scratch(nbytes: int) -> np.ndarray:
    """A reusable buffer for bytes read and thrown away (one per size and process)."""
    return np.empty(nbytes, np.uint8)


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
