"""How evaluation reads samples: DataLoaders in a fixed order, batches moved to the device.

Every loader here is given its own generator, so iterating one never draws from torch's global
random state (a classifier initialised after ``torch.manual_seed`` gets the same weights
whether or not features were computed first). On CUDA, batches are pinned and copied
without blocking.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from sensormoco.evaluation.samples import Sample
from sensormoco.evaluation.variants import model_input

CPU = torch.device("cpu")


def resolve_device(name: str | None) -> torch.device:
    """``name`` as a device; None or "auto": CUDA when available, else the CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class LoaderSettings:
    """Batch size, worker processes (0: this process) and the device batches go to."""

    batch_size: int
    workers: int = 0
    device: torch.device = CPU

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.workers < 0:
            raise ValueError(f"workers must be at least 0, got {self.workers}")


class EpochBatches(Sampler[list[int]]):
    """Index batches of a random order drawn anew for each pass from one seeded generator:
    ``torch.split(torch.randperm(n, generator), batch_size)``."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator)  # N
        for part in torch.split(order, self.batch_size):
            yield part.tolist()


def loader(
    dataset: Dataset[Sample], settings: LoaderSettings, batches: Sampler[list[int]] | None = None
) -> DataLoader[Sample]:
    """Batches of ``dataset`` in order (or as ``batches`` gives them)."""
    options: dict[str, Any] = {
        "num_workers": settings.workers,
        "pin_memory": settings.device.type == "cuda",
        "persistent_workers": settings.workers > 0,  # epochs reuse one set of workers
        "generator": torch.Generator().manual_seed(0),
    }
    if batches is not None:
        return DataLoader(dataset, batch_sampler=batches, **options)
    return DataLoader(dataset, batch_size=settings.batch_size, shuffle=False, **options)


def inputs(batch: Sample, input_: str, bands: Sequence[str], device: torch.device) -> Tensor:
    """The network input (N x C x H x W) of a batch on ``device``."""
    on = {k: batch[k].to(device, non_blocking=device.type == "cuda") for k in ("s1", "s2")}
    return model_input(on, input_, bands)
