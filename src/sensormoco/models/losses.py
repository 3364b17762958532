"""MoCo's contrastive loss and key-encoder momentum update, as small pure functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def info_nce(
    q: Tensor,
    k: Tensor,
    queue: Tensor,
    temperature: float,
    key_group: Tensor | None = None,
    groups: int = 1,
) -> tuple[Tensor, Tensor]:
    """InfoNCE of queries against their positive keys and a queue of negatives (MoCo eq. 1).

    ``q`` and ``k`` (N x D) and the queue's columns (D x K) are expected L2-normalised. Returns
    the mean loss and the logits ``[l_pos, l_neg] / T`` (N x (1+K)): the positive is column 0,
    so the target labels are all zeros. Computed in float32 even under mixed precision: in bf16
    the logits of close keys tie (8 mantissa bits), which blurs the loss and its gradient.

    With ``groups`` > 1 the queue is ``groups`` equal segments of K / groups columns and row i
    contrasts only with segment ``key_group[i]`` (N,): the logits are then N x (1 + K / groups).
    """
    if q.ndim != 2 or q.shape != k.shape:
        raise ValueError(f"q and k must both be N x D, got {tuple(q.shape)} and {tuple(k.shape)}")
    if queue.ndim != 2 or queue.shape[0] != q.shape[1]:
        raise ValueError(f"queue must be D x K with D = {q.shape[1]}, got {tuple(queue.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    _check_groups(key_group, groups, q.shape[0], queue.shape[1])
    with torch.autocast(q.device.type, enabled=False):
        q, k, queue = q.float(), k.float(), queue.float()
        l_pos = torch.einsum("nd,nd->n", q, k).unsqueeze(-1)  # N x 1
        l_neg = q @ queue  # N x K
        if key_group is not None:
            n = q.shape[0]
            rows = torch.arange(n, device=q.device)  # N
            l_neg = l_neg.view(n, groups, -1)[rows, key_group]  # N x K/G
        logits = torch.cat([l_pos, l_neg], dim=1) / temperature  # N x (1+K)
        labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)  # N
        return F.cross_entropy(logits, labels), logits


def _check_groups(key_group: Tensor | None, groups: int, n: int, k: int) -> None:
    if groups < 1 or k % groups:
        raise ValueError(f"groups must be a positive divisor of the queue size {k}, got {groups}")
    if (key_group is None) != (groups == 1):
        raise ValueError(f"key_group is needed exactly when groups > 1 (groups = {groups})")
    if key_group is not None and (
        key_group.shape != (n,) or bool((key_group < 0).any() | (key_group >= groups).any())
    ):
        raise ValueError(f"key_group must hold N = {n} group indices in [0, {groups})")


def positive_accuracy(logits: Tensor) -> Tensor:
    """Share of rows whose positive (column 0) beats every negative: top-1 among 1 + K.

    Ties count as misses, so a collapsed encoder (all logits equal) scores 0, not 1.
    """
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be N x (1+K) with K >= 1, got {tuple(logits.shape)}")
    hits = logits[:, 0] > logits[:, 1:].max(dim=1).values  # N
    return hits.float().mean()


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, momentum: float) -> None:
    """Move ``target`` towards ``online``: ``theta_t <- m * theta_t + (1 - m) * theta_o``.

    Applies to parameters; buffers (e.g. batch-norm running statistics) are copied. Gradients
    are not touched. The two modules must have the same structure.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    for (name_o, p_o), (name_t, p_t) in zip(
        online.named_parameters(), target.named_parameters(), strict=True
    ):
        if name_o != name_t:
            raise ValueError(f"modules differ: parameter {name_o!r} meets {name_t!r}")
        p_t.mul_(momentum).add_(p_o.detach(), alpha=1.0 - momentum)
    for (name_o, b_o), (name_t, b_t) in zip(
        online.named_buffers(), target.named_buffers(), strict=True
    ):
        if name_o != name_t:
            raise ValueError(f"modules differ: buffer {name_o!r} meets {name_t!r}")
        b_t.copy_(b_o)
