"""Pre-training data: the non-test SEN12MS patches, in batches whose order depends only on
(seed, step), so a resumed run sees exactly the batches an uninterrupted one would.

Pre-training uses the official train + val ids (every scene but the hold-out test scenes),
optionally restricted to an ids file. :func:`pretrain_dataset` is the one place the dataset is
built (from a tree or a packed store).

Samples cross process boundaries raw (S2 reflectance as int16, S1 dB as float32: 28 instead
of 48 bytes a pixel) and are standardised on the batch after its transfer to the device
(:meth:`PretrainDataModule.on_after_batch_transfer`), with the same float32 operations and so
the same bits as per-sample standardisation. From a packed store a worker reads a whole batch
at once, each row straight into the batch's shared memory (``StoreDataset.__getitems__``,
passed through by ``collate_samples``); on the CPU the workers reuse those buffers once the
batch is standardised (``reuse_buffers`` and ``release_batch``, data/store/batch_pool.py), on
CUDA the pinning thread copies each batch and the buffers stay fresh. BigEarthNet v2 roots
(tree, LMDB or store) give their train + validation pairs, S2 raw as float32 (its 20 m and
60 m bands are resampled to 120 px on read), standardised after the transfer with v2's
statistics.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from sensormoco.data.bands import (
    BIGEARTHNET_V2_NORMALIZATION,
    SEN12MS_NORMALIZATION,
    Normalization,
)
from sensormoco.data.bigearthnet.v2_dataset import open_bigearthnet
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.data.sources import BIGEARTHNET_V2, open_patches, source_kind, standardize
from sensormoco.data.store.batch_pool import release_batch
from sensormoco.data.store.dataset import StoreDataset, collate_samples
from sensormoco.errors import DataError
from sensormoco.training.config import PretrainConfig


@dataclass(frozen=True)
class PretrainData:
    """The pre-training dataset and how it was drawn."""

    dataset: Dataset[dict[str, Tensor]]
    ids: list[Any]  # SEN12MS PatchIds or BigEarthNet v2 patch_ids
    norms: tuple[Normalization, Normalization]  # S1's and S2's, of the dataset's bands
    excluded_test: int  # test-scene patches left out
    absent: int  # subset ids not in the data
    skipped_bad: int  # unusable triplets
    normalization: Normalization = SEN12MS_NORMALIZATION  # what the dataset standardises with
    left_out: int = 0  # BigEarthNet v2: snow/cloud/shadow patches left out


def pretrain_dataset(
    root: str | Path,
    subset: str | Path | None = None,
    normalization: Normalization = SEN12MS_NORMALIZATION,
    workers: int = 0,
    raw: bool = False,
) -> PretrainData:
    """The usable non-test patches of the SEN12MS tree or packed store ``root`` (those in
    ``subset`` if given), normalised (``raw``: as stored, for :func:`standardize` with
    ``norms``); a tree's headers are validated up front (``workers`` processes), pixels as
    they are read."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such data directory")
    if source_kind(root).dataset == BIGEARTHNET_V2:
        return _bigearthnet_v2(root, subset, raw)
    # a tree is validated on headers only: a full pixel scan of SEN12MS takes ~30 min on 2
    # cores; a file broken since fails with a one-line error naming it when it is read
    p = open_patches(
        root, subset, exclude=is_test, normalization=normalization, workers=workers, raw=raw
    )
    if not p.ids:
        raise DataError(root, "no usable non-test SEN12MS patches to pre-train on")
    norms = (normalization.select(p.dataset.s1_bands), normalization.select(p.dataset.s2_bands))
    return PretrainData(
        p.dataset, p.ids, norms, p.excluded, len(p.absent), p.skipped_bad, normalization
    )


def loader_workers(num_workers: int | None, local_processes: int = 1) -> int:
    """``num_workers``, or when None this machine's cores (CPU affinity, never more) shared by
    its ``local_processes`` training processes, less one for each main process, at least 1:
    Lightning's own suggestion, so it warns about none."""
    if num_workers is not None:
        return num_workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, local_processes) - 1)


class StandardizedLoader(DataLoader[dict[str, Tensor]]):
    """A DataLoader of raw batches that yields them standardised (in this process), for a
    caller without a Trainer; under a Trainer the datamodule standardises on the device."""

    def __init__(
        self, *args: Any, norms: tuple[Normalization, Normalization], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.norms = norms

    def __iter__(self) -> Iterator[dict[str, Tensor]]:  # type: ignore[override]
        for batch in super().__iter__():
            standardized = standardize(batch, *self.norms)
            release_batch(batch)  # the raw batch's buffers may now be reused
            yield standardized


def _bigearthnet_v2(root: Path, subset: str | Path | None, raw: bool) -> PretrainData:
    """BigEarthNet v2's train + validation pairs (those in ``subset``, an ids file of patch_ids,
    if given) that have both sensors, standardised with v2's train-split statistics (``raw``:
    after the transfer, with ``norms``)."""
    norm = BIGEARTHNET_V2_NORMALIZATION
    dataset = open_bigearthnet(root, ("train", "validation"), normalization=norm, raw=raw)
    source = dataset.source
    test = {p.patch_id for p in source.metadata.split("test")}
    excluded, absent = len(test), 0
    if subset is not None:
        wanted = {line.strip() for line in Path(subset).read_text(encoding="utf-8").splitlines()}
        wanted.discard("")
        excluded = len(wanted & test)
        absent = len(wanted - test - set(dataset.ids))
        dataset.patches = [p for p in dataset.patches if p.patch_id in wanted]
    paired = [p for p in dataset.patches if source.check(p, read_pixels=False) is None]
    unpaired = len(dataset.patches) - len(paired)
    dataset.patches = paired
    if not paired:
        raise DataError(root, "no usable non-test BigEarthNet v2 pairs to pre-train on")
    norms = (norm.select(dataset.s1_bands), norm.select(dataset.s2_bands))
    return PretrainData(
        dataset, dataset.ids, norms, excluded, absent, unpaired, norm, len(source.metadata.left_out)
    )


def step_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (e.g. seed, epoch or step, rank)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(2, np.uint64)[0] >> np.uint64(1))


class StepSampler(Sampler[int]):
    """Sample indices of this rank, epoch after epoch: epoch e is a permutation drawn from
    (seed, e), cut into global batches of ``batch_size x world`` (the rest dropped); rank r takes
    its share of each. Each iteration starts at the step ``current_step()`` returns, so a
    resumed run continues mid-epoch with the very next batch. ``len`` is a full epoch."""

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        current_step: Callable[[], int],
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.current_step = current_step
        self.rank, self.world = rank, world
        self.steps_per_epoch = size // (batch_size * world)
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{size} samples do not fill one global batch of {batch_size} x {world} process(es)"
            )

    def __len__(self) -> int:
        return self.steps_per_epoch * self.batch_size

    def __iter__(self) -> Iterator[int]:
        epoch, done = divmod(self.current_step(), self.steps_per_epoch)
        generator = torch.Generator().manual_seed(step_seed(self.seed, epoch))
        order = torch.randperm(self.size, generator=generator)  # size
        n = self.steps_per_epoch * self.batch_size * self.world
        batches = order[:n].view(self.steps_per_epoch, self.world, self.batch_size)  # S x W x B
        yield from batches[done:, self.rank].flatten().tolist()


def seed_worker(worker_id: int) -> None:
    """Seed numpy's global generator and random in a loader worker from its torch seed (base
    seed + worker id), for datasets that draw from them."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002 (third-party code draws from the legacy global state)
    random.seed(seed)


class PretrainDataModule(L.LightningDataModule):
    """Batches ``{"s1", "s2", "index"}`` of the pre-training patches for a Lightning run.

    Batches are ``config.batch_size`` per process, always full (the queue takes whole global
    batches); the order is a function of (seed, step) only (:class:`StepSampler`), so the
    Trainer must run with ``use_distributed_sampler=False``.
    """

    def __init__(self, root: str | Path, config: PretrainConfig, start_step: int = 0) -> None:
        super().__init__()
        self.root = Path(root)
        self.config = config
        self.start_step = start_step  # a resumed run's step (loaders may start before restore)
        self.data: PretrainData | None = None

    def setup(self, stage: str) -> None:
        if self.data is None:
            scan = loader_workers(self.config.num_workers)  # header scan of a tree
            self.data = pretrain_dataset(self.root, self.config.subset, workers=scan, raw=True)
            d = self.data
            if d.excluded_test or d.absent or d.skipped_bad or d.left_out:
                weather = f", {d.left_out} snow/cloud/shadow patch(es)" if d.left_out else ""
                print(
                    f"pre-training on {len(d.ids)} patches; left out "
                    f"{d.excluded_test} test-scene patch(es), {d.skipped_bad} "
                    f"bad triplet(s), {d.absent} subset id(s) not in the data{weather}",
                    file=sys.stderr,
                )
            if len(self.data.ids) < self.config.global_batch:
                raise DataError(
                    self.root,
                    f"{len(self.data.ids)} pre-training patches do not "
                    f"fill one global batch of {self.config.global_batch}",
                )

    def _current_step(self) -> int:
        # Lightning may start the first loader (whose workers draw indices at once) before it
        # restores the step of a resumed run: the step is never below the one resumed from.
        step = self.trainer.global_step if self.trainer is not None else 0
        return max(step, self.start_step)

    def train_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        if self.data is None:
            self.setup("fit")
        assert self.data is not None
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        sampler = StepSampler(
            len(self.data.ids),
            self.config.batch_size,
            self.config.seed,
            self._current_step,
            rank,
            world,
        )
        workers = loader_workers(self.config.num_workers, trainer.num_devices if trainer else 1)
        # under a Trainer, on_after_batch_transfer standardises on the device
        loader = DataLoader if trainer else partial(StandardizedLoader, norms=self.data.norms)
        pin = trainer is not None and trainer.strategy.root_device.type == "cuda"
        if isinstance(self.data.dataset, StoreDataset):
            # workers reuse batch buffers that standardising releases (pinning copies them
            # in another thread, which releases nothing: buffers stay fresh there)
            self.data.dataset.reuse_buffers = workers > 0 and not pin
        return loader(
            self.data.dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=workers > 0,
            worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(step_seed(self.config.seed, rank)),
            collate_fn=collate_samples,  # a store's batch, read whole in the worker, as it is
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Standardise the raw batch where it now is (the training device)."""
        assert self.data is not None
        standardized = standardize(batch, *self.data.norms)
        release_batch(batch)  # on the CPU: the raw batch's buffers may now be reused
        return standardized
