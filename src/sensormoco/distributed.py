"""Collectives for MoCo under data parallelism; each does nothing useful-but-harmless on one
process, so every code path runs on a CPU without ``torch.distributed`` being initialised.

Shuffle-BN (MoCo §3.3): keys are computed on a batch shuffled across ranks, so the batch-norm
statistics a key sees come from a different set of samples than its query's, and the model
cannot cheat through them. On one process :func:`batch_shuffle` is a local permutation only:
batch statistics are permutation-invariant, so it does not by itself change what BN sees (it
keeps one code path); :class:`~sensormoco.models.moco.MoCo` does not call it there, and instead
normalises keys over other sub-batches than their queries (``bn_splits``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group is available and initialised."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank in the default group (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


@torch.no_grad()
def gather_all(t: Tensor) -> Tensor:
    """Concatenate ``t`` (N x ...) from every rank along dim 0, in rank order, without grad.

    Every rank must pass the same shape. Returns ``t`` itself when not distributed.
    """
    size = world_size()
    if size == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)  # (world x N) x ...


@torch.no_grad()
def batch_shuffle(x: Tensor) -> tuple[Tensor, Tensor]:
    """Shuffle the global batch across ranks; returns this rank's share and the inverse index.

    ``x`` is the local batch (N x ...), equal N on every rank. The permutation is drawn on
    rank 0 and broadcast. On one process it is a local permutation (see the module notes).
    """
    size = world_size()
    if size == 1:
        idx_shuffle = torch.randperm(x.shape[0], device=x.device)  # N
        return x[idx_shuffle], torch.argsort(idx_shuffle)
    x_all = gather_all(x)  # (world x N) x ...
    idx_shuffle = torch.randperm(x_all.shape[0], device=x.device)  # world x N
    dist.broadcast(idx_shuffle, src=0)
    idx_unshuffle = torch.argsort(idx_shuffle)  # world x N
    idx_this = idx_shuffle.view(size, -1)[rank()]  # N
    return x_all[idx_this], idx_unshuffle


@torch.no_grad()
def batch_unshuffle(x: Tensor, idx_unshuffle: Tensor) -> Tensor:
    """Undo :func:`batch_shuffle`: this rank's rows (N x ...) back in their original order."""
    size = world_size()
    if size == 1:
        return x[idx_unshuffle]
    x_all = gather_all(x)  # (world x N) x ...
    idx_this = idx_unshuffle.view(size, -1)[rank()]  # N
    return x_all[idx_this]
