"""Shared-memory batch buffers that a loader worker reuses once the consumer has released them.

A loader worker hands a batch to the main process in shared memory. A fresh shared buffer per
batch pays for its pages on every batch: allocated and zeroed by the kernel in the worker (about
3 us a 4 KiB page on a small VM, as much CPU as reading the batch), mapped again and freed in
the main process. With buffer reuse on, a worker instead keeps up to :data:`SLOTS` buffers, one
batch (S1 and S2) each, ended by a trailer that the worker and the consumer share:
``[MAGIC, state]``. The worker writes a batch only into a buffer whose state is FREE, marks it
BUSY, and the consumer sets it FREE again with :func:`release_batch` once it no longer reads the
raw batch (after standardising it into new tensors, or copying it to the device). A consumer
that never releases gets fresh buffers once the SLOTS are taken (the behaviour without reuse),
never one it may still read. The main process keeps the mappings of the buffers it released
(:data:`MAPPED` of them), so receiving a reused buffer maps nothing (torch's receive-side cache
finds it by its file).
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

SLOTS = 6  # per worker: prefetch_factor (2) batches queued, 1 being read, 1 prefetched, + slack
MAPPED = 16  # buffers whose mapping the main process keeps (2-3 workers x SLOTS)
MAGIC = 0x5E12_B0FF_E25E_4D0C  # marks a pooled buffer's trailer (int64)
FREE, BUSY, UNPOOLED = 0, 1, 2
_TRAILER = 2  # int64 words: MAGIC, state


@dataclass(frozen=True)
class Field:
    """One tensor of a batch buffer."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _layout(fields: Sequence[Field]) -> tuple[list[int], int]:
    """Byte offsets of ``fields`` (each aligned to 64 bytes) and of the trailer."""
    offsets, position = [], 0
    for field in fields:
        offsets.append(position)
        position += -(-field.nbytes // 64) * 64
    return offsets, position


def _last_words(storage: torch.UntypedStorage) -> Tensor:
    """The last two int64 words of ``storage`` (a pooled buffer's trailer)."""
    start = storage.nbytes() // 8 - _TRAILER
    return torch.empty(0, dtype=torch.int64).set_(storage, start, (_TRAILER,), (1,))


def _trailer(storage: torch.UntypedStorage) -> Tensor | None:
    """The buffer's ``[MAGIC, state]`` words (int64), or None if ``storage`` is no pooled buffer."""
    if storage.device.type != "cpu" or storage.nbytes() < 8 * _TRAILER or storage.nbytes() % 8:
        return None
    trailer = _last_words(storage)
    return trailer if int(trailer[0]) == MAGIC else None


def _views(storage: torch.UntypedStorage, fields: Sequence[Field]) -> dict[str, Tensor]:
    offsets, _ = _layout(fields)
    return {
        field.name: torch.empty(0, dtype=field.dtype).set_(
            storage, offset // field.dtype.itemsize, field.shape, ()
        )
        for field, offset in zip(fields, offsets, strict=True)
    }


class WorkerBuffers:
    """A loader worker's batch buffers (one instance per process: :func:`worker_buffers`)."""

    def __init__(self) -> None:
        self.storages: list[torch.UntypedStorage] = []
        self.reused = 0  # batches written into a buffer used before

    def take(self, fields: Sequence[Field]) -> dict[str, Tensor]:
        """Tensors of ``fields`` in shared memory, in a FREE buffer of this worker (now BUSY),
        else a new one; contents undefined."""
        _, trailer_at = _layout(fields)
        nbytes = trailer_at + 8 * _TRAILER
        for kept in self.storages:
            trailer = _trailer(kept)
            if kept.nbytes() == nbytes and trailer is not None and int(trailer[1]) == FREE:
                trailer[1] = BUSY
                self.reused += 1
                return _views(kept, fields)
        storage = torch.UntypedStorage._new_shared(nbytes)  # type: ignore[no-untyped-call]
        pooled = len(self.storages) < SLOTS
        if pooled:
            self.storages.append(storage)
        trailer = _last_words(storage)
        trailer[0], trailer[1] = MAGIC, BUSY if pooled else UNPOOLED
        return _views(storage, fields)


_WORKER: tuple[int, WorkerBuffers] | None = None
_MAPPED: OrderedDict[tuple[int, int], torch.UntypedStorage] = OrderedDict()


def worker_buffers() -> WorkerBuffers:
    """This process's :class:`WorkerBuffers` (a forked child starts its own)."""
    global _WORKER
    if _WORKER is None or _WORKER[0] != os.getpid():
        _WORKER = (os.getpid(), WorkerBuffers())
    return _WORKER[1]


def release_batch(batch: Mapping[str, Tensor]) -> None:
    """Let the workers reuse the buffers of ``batch`` (call once nothing reads its raw tensors
    any more); a no-op for tensors in any other memory (a batch built in this process, pinned,
    on a device).

    Each buffer is set FREE once, after all of the batch's buffers are known: its tensors share
    one buffer, and a second look at it after the first FREE could meet the worker's next batch
    there (the worker may take it at once) and free that batch while it is still on its way."""
    storages: dict[tuple[int, int], torch.UntypedStorage] = {}
    for tensor in batch.values():  # all of them before any write
        storage = tensor.untyped_storage()
        storages.setdefault((storage.data_ptr(), storage.nbytes()), storage)
    for key, storage in storages.items():
        trailer = _trailer(storage)
        if trailer is None or int(trailer[1]) != BUSY:
            continue
        _MAPPED[key] = storage
        _MAPPED.move_to_end(key)
        while len(_MAPPED) > MAPPED:
            _MAPPED.popitem(last=False)
        trailer[1] = FREE
