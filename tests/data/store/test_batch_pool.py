"""Loader workers reuse a batch's shared buffers only after the consumer released it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, SequentialSampler, default_collate

from sensormoco.data.samples import SampleOptions
from sensormoco.data.store.batch_pool import (
    BUSY,
    FREE,
    SLOTS,
    Field,
    WorkerBuffers,
    release_batch,
)
from sensormoco.data.store.dataset import StoreDataset, collate_samples
from sensormoco.data.store.pack import pack_sen12ms

BATCH = 4


@pytest.fixture(scope="module")
def packed(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "store"
    pack_sen12ms(synth_root, out)
    return out


def loader(dataset: StoreDataset) -> DataLoader[dict[str, Tensor]]:
    return DataLoader(
        dataset,
        BATCH,
        sampler=SequentialSampler(dataset),
        num_workers=2,
        collate_fn=collate_samples,
    )


def expected_batches(dataset: StoreDataset) -> list[dict[str, Tensor]]:
    """The batches as one process reads them (private memory, no buffers to reuse)."""
    starts = range(0, len(dataset) - len(dataset) % BATCH, BATCH)
    return [collate_samples(dataset.__getitems__(range(i, i + BATCH))) for i in starts]


def test_released_buffers_are_reused_and_batches_stay_exact(packed: Path) -> None:
    dataset = StoreDataset(packed, options=SampleOptions(raw=True))
    expected = expected_batches(dataset)
    dataset.reuse_buffers = True
    storages = set()
    count = 0
    for batch, want in zip(loader(dataset), expected, strict=False):
        for key in ("s1", "s2", "index"):
            assert torch.equal(batch[key], want[key]), key
        storages.add(batch["s2"].untyped_storage().data_ptr())
        assert batch["s1"].untyped_storage().data_ptr() == batch["s2"].untyped_storage().data_ptr()
        release_batch(batch)
        count += 1
    assert count >= 12
    assert len(storages) <= 2 * SLOTS < count  # each worker cycles through its own buffers


def test_batches_kept_unreleased_are_never_overwritten(packed: Path) -> None:
    dataset = StoreDataset(packed, options=SampleOptions(raw=True))
    expected = expected_batches(dataset)
    dataset.reuse_buffers = True
    kept = list(loader(dataset))  # nothing released: the workers must use fresh buffers
    assert len(kept) == len(expected) > 2 * SLOTS
    for batch, want in zip(kept, expected, strict=True):
        assert torch.equal(batch["s1"], want["s1"])
        assert torch.equal(batch["s2"], want["s2"])
    assert len({b["s2"].untyped_storage().data_ptr() for b in kept}) == len(kept)


def test_a_worker_takes_only_free_buffers() -> None:
    buffers = WorkerBuffers()
    fields = [Field("a", (3, 5), torch.float32), Field("b", (2, 7), torch.int16)]
    first = buffers.take(fields)
    second = buffers.take(fields)  # the first is still BUSY
    assert first["a"].untyped_storage().data_ptr() != second["a"].untyped_storage().data_ptr()
    release_batch(first)
    third = buffers.take(fields)
    assert third["a"].untyped_storage().data_ptr() == first["a"].untyped_storage().data_ptr()
    assert buffers.reused == 1
    taken = [buffers.take(fields) for _ in range(2 * SLOTS)]  # past SLOTS: fresh, unpooled
    assert len(buffers.storages) == SLOTS
    for batch in [second, third, *taken]:
        release_batch(batch)  # unpooled ones are left alone
    assert all(_state(storage) == FREE for storage in buffers.storages)


def test_release_never_frees_the_workers_next_batch() -> None:
    """A batch's tensors share one buffer. Should the worker take that buffer for its next
    batch as soon as the first tensor's release made it FREE, releasing the batch's other
    tensors must not free it again (the race that corrupted batches under load)."""
    buffers = WorkerBuffers()
    fields = [Field("s1", (2, 3), torch.float32), Field("s2", (2, 5), torch.int16)]
    batch = buffers.take(fields)
    taken: list[dict[str, Tensor]] = []

    class WorkerInBetween(dict[str, Tensor]):
        def values(self):  # a generator: the worker runs between two tensors
            yield self["s1"]
            taken.append(buffers.take(fields))  # the worker, between two tensors
            yield self["s2"]

    release_batch(WorkerInBetween(batch))
    (following,) = taken
    assert _state(following["s1"].untyped_storage()) == BUSY  # on its way: never FREE


def test_release_leaves_other_memory_alone() -> None:
    own = {"x": torch.arange(64, dtype=torch.int64)}  # in this process's heap
    shared = default_collate([torch.arange(16), torch.arange(16)])  # plain shared tensor
    shared.share_memory_()
    before = own["x"].clone(), shared.clone()
    release_batch(own)
    release_batch({"y": shared})
    assert torch.equal(own["x"], before[0])
    assert torch.equal(shared, before[1])


def test_busy_marks_a_taken_buffer() -> None:
    buffers = WorkerBuffers()
    taken = buffers.take([Field("a", (4,), torch.float32)])
    assert _state(taken["a"].untyped_storage()) == BUSY


def _state(storage: torch.UntypedStorage) -> int:
    words = torch.empty(0, dtype=torch.int64).set_(storage, storage.nbytes() // 8 - 2, (2,), (1,))
    return int(words[1])
