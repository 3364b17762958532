"""Step times of pre-training, for throughput benchmarks: the real Lightning pipeline
(:class:`StepTimer` on :func:`~sensormoco.training.pretrain.run_pretrain`) and the bare model
it trains (:func:`bare_model_steps`), on the same device."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

from sensormoco.training.config import PretrainConfig
from sensormoco.training.pretrain import PretrainModule, run_pretrain


@dataclass(frozen=True)
class StepTimes:
    """Seconds of each timed step of one run, and whether the model ran channels_last."""

    times: list[float]
    channels_last: bool


def is_channels_last(module: torch.nn.Module) -> bool:
    """Whether the first convolution weight with a kernel wider than 1 is in channels_last (a
    1 x 1 kernel is contiguous in both layouts)."""
    weight = next(p for p in module.parameters() if p.ndim == 4 and p.shape[-1] > 1)
    return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing to wait for on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(L.Callback):
    """Records the end of every training step (device synchronised first): the interval
    between two ends is a whole step, data wait, transfer, augmentation and the loop included."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.channels_last = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.channels_last = is_channels_last(pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        synchronize(pl_module.device)
        self.ends.append(time.perf_counter())

    def result(self, steps: int, warmup: int) -> StepTimes:
        """The ``steps`` intervals after the first ``warmup`` steps (``warmup`` >= 1)."""
        intervals = [b - a for a, b in zip(self.ends[:-1], self.ends[1:], strict=True)]
        if warmup < 1 or len(intervals) < warmup - 1 + steps:
            raise ValueError(f"{len(self.ends)} steps recorded; {warmup} warm-up (>= 1) + "
                             f"{steps} timed were asked for")  # fmt: skip
        return StepTimes(intervals[warmup - 1 : warmup - 1 + steps], self.channels_last)


def timed_pretrain(
    config: PretrainConfig, data: Path, work: Path, steps: int, warmup: int
) -> StepTimes:
    """Step times of :func:`run_pretrain` on ``data`` into a fresh folder under ``work``;
    ``config.max_steps`` must cover ``warmup + steps + 1`` (the last step writes the checkpoint
    and is left out)."""
    timer = StepTimer()
    run_pretrain(config, data, Path(tempfile.mkdtemp(prefix="run.", dir=work)), callbacks=[timer])
    return timer.result(steps, warmup)


def bare_model_steps(
    config: PretrainConfig,
    steps: int,
    warmup: int,
    device: torch.device,
    bf16: bool,
    channels_last: bool,
) -> StepTimes:
    """Step times of the pipeline's network (``PretrainModule(config).moco``) on random tensors
    already on ``device``, without data, augmentation or Lightning. A step: zero_grad, MoCo
    forward (query forward, momentum update, key forward on the shuffled batch, InfoNCE against
    the queue, enqueue), backward, SGD step; the device synchronised at both ends."""
    torch.manual_seed(config.seed)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    moco = PretrainModule(config).moco.to(device).to(memory_format=layout).train()
    params = [p for p in moco.encoder_q.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.sgd_momentum,
                                weight_decay=config.weight_decay)  # fmt: skip
    shape = (config.batch_size, len(config.bands), config.crop_size, config.crop_size)
    x_q = torch.randn(shape, device=device).contiguous(memory_format=layout)  # N x C x S x S
    x_k = torch.randn(shape, device=device).contiguous(memory_format=layout)  # N x C x S x S
    groups = None
    if config.queue_groups > 1:  # half the keys of each sensor, as sensor pairs make them
        groups = torch.arange(config.batch_size, device=device) % config.queue_groups  # N
    times = []
    for _ in range(warmup + steps):
        synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = moco(x_q, x_k, groups).loss
        loss.backward()
        optimizer.step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return StepTimes(times[warmup:], is_channels_last(moco))
