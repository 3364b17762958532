"""MoCo v2 (He et al. 2020; Chen et al. 2020): encoders, queue of negative keys, InfoNCE."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sensormoco import defaults, distributed
from sensormoco.data.presence import sensor_presence
from sensormoco.models.adapters import InputAdapter, build_adapter
from sensormoco.models.backbones import Backbone, build_backbone
from sensormoco.models.heads import ProjectionHead
from sensormoco.models.losses import info_nce, momentum_update


class Encoder(nn.Module):
    """adapter -> backbone -> projection head: N x C x H x W -> N x D."""

    def __init__(self, adapter: InputAdapter, backbone: Backbone, head: ProjectionHead) -> None:
        super().__init__()
        if adapter.out_channels != backbone.in_chans:
            raise ValueError(
                f"adapter gives {adapter.out_channels} channels, backbone takes {backbone.in_chans}"
            )
        if head.in_dim != backbone.num_features:
            raise ValueError(
                f"head takes {head.in_dim} features, backbone gives {backbone.num_features}"
            )
        self.adapter = adapter
        self.backbone = backbone
        self.head = head

    @property
    def bands(self) -> tuple[str, ...]:
        return self.adapter.bands

    @property
    def out_dim(self) -> int:
        return self.head.out_dim

    def features(self, x: Tensor) -> Tensor:
        """Backbone features without the head: N x C x H x W -> N x F."""
        out: Tensor = self.backbone(self.adapter(x))  # N x F
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Projected embeddings (not normalised): N x C x H x W -> N x D."""
        out: Tensor = self.head(self.features(x))  # N x D
        return out


def build_encoder(
    bands: Sequence[str],
    backbone: str = defaults.BACKBONE,
    adapter: str = defaults.ADAPTER,
    dim: int = defaults.MOCO_DIM,
    adapter_trainable: bool = True,
) -> Encoder:
    """An encoder for ``bands``; the head's hidden width is the backbone's feature width
    (2048-2048-128 on ResNet-50, as MoCo v2)."""
    adapter_module, channels = build_adapter(adapter, bands, adapter_trainable)
    net = build_backbone(backbone, channels)
    head = ProjectionHead(net.num_features, net.num_features, dim)
    return Encoder(adapter_module, net, head)


def bn_sub_batches(kind: Tensor, splits: int, spread: Tensor | None = None) -> Tensor:
    """The batch-norm sub-batch of each row (N,) for ``splits`` equal sub-batches (N divisible
    by ``splits``). Rows are ordered by (``kind``, ``spread``, random) and dealt round-robin, so
    every sub-batch holds each kind in equal share (to one row), and rows with equal ``spread``
    (e.g. those of one sub-batch of the query pass) land in different sub-batches."""
    n = kind.shape[0]
    if n % splits:
        raise ValueError(f"batch size {n} is not a multiple of bn_splits {splits}")
    noise = torch.randperm(n, device=kind.device)  # N: random order among equals
    rank = kind.long() * splits + (0 if spread is None else spread.long())  # N
    order = torch.argsort(rank * n + noise)  # N
    sub_batch = torch.empty_like(order)
    sub_batch[order] = torch.arange(n, device=kind.device) % splits
    return sub_batch  # N, values in [0, splits)


@torch.no_grad()
def own_kind_top1(q: Tensor, q_kind: Tensor, queue: Tensor, queue_kind: Tensor) -> Tensor | None:
    """Share of queries (N x D, kinds N) whose most similar key in the whole queue (D x K,
    kinds K; kind 0, an initial random key, is skipped) is of the query's own kind: near 1 when
    embeddings cluster by sensor (a modality gap), near the kind's share of the queue when they
    do not. None while the queue holds no real key."""
    known = queue_kind > 0  # K
    if not bool(known.any()):
        return None
    nearest = (q.float() @ queue[:, known].float()).argmax(dim=1)  # N
    return (queue_kind[known][nearest] == q_kind).float().mean()


class MoCoOutput(NamedTuple):
    loss: Tensor  # scalar InfoNCE
    logits: Tensor  # N x (1 + K / queue_groups), positive first, already divided by T
    labels: Tensor  # N, all zeros
    keys: Tensor  # N x D, this rank's normalised keys (unshuffled)
    # with ``diagnose``: share of queries whose nearest key in the whole queue (every segment)
    # holds the query's own sensors; None without diagnose or before any key was enqueued
    own_kind_top1: Tensor | None = None


class MoCo(nn.Module):
    """MoCo v2: query encoder f_q, momentum key encoder f_k, a queue of K negative keys.

    ``queue`` (D x K, normalised columns) and ``queue_ptr`` are buffers: checkpointed, moved
    with the module. Keys from every rank enter the queue, so K must be a multiple of the
    global batch (local batch x world size).

    With ``queue_groups`` G > 1 the queue is G segments of K / G keys, one per key group (e.g.
    the key's sensor): each key enters its group's segment, and a query contrasts only with
    the segment of its own key's group. For sensor pairs this keeps every negative in the
    positive's sensor, so the loss ranks locations and cannot be lowered by telling sensors
    apart (as CMC's one memory bank per view, Tian et al. 2020).

    Batch norm must not let a query and its key share statistics (MoCo §3.3). ``bn_splits`` S
    computes both encoders on S equal sub-batches per process. With ``shuffle_bn``:

    - the sub-batches are balanced by input kind (which sensors a row holds, read from the
      data: :func:`bn_sub_batches`), so S1-only and S2-only rows are never mixed at random;
    - on several processes keys are computed on a batch shuffled across ranks (MoCo's
      shuffle-BN), then split as above;
    - on one process (shuffle-BN emulation) the key pass deals the rows that shared a query
      sub-batch over different key sub-batches: a key's sub-batch holds only about 1/S of its
      query's sub-batch (about N / S^2 rows), as MoCo's shuffle over S GPUs does in
      expectation. With S = 1 on one process the statistics are shared (a leak):
      the pre-training config refuses it.

    Without ``shuffle_bn`` sub-batches are consecutive chunks (one rank's share under DDP).
    """

    queue: Tensor
    queue_ptr: Tensor
    queue_kind: Tensor

    def __init__(
        self,
        encoder: Encoder,
        queue_size: int = defaults.MOCO_QUEUE_SIZE,
        momentum: float = defaults.MOCO_KEY_MOMENTUM,
        temperature: float = defaults.MOCO_TEMPERATURE,
        shuffle_bn: bool = True,
        bn_splits: int = 1,  # the pre-training config's default is defaults.MOCO_BN_SPLITS
        queue_groups: int = 1,
    ) -> None:
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size must be positive, got {queue_size}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if bn_splits < 1:
            raise ValueError(f"bn_splits must be at least 1, got {bn_splits}")
        if queue_groups < 1 or queue_size % queue_groups:
            raise ValueError(f"queue_groups must divide the queue size {queue_size} into equal "
                             f"segments, got {queue_groups}")  # fmt: skip
        self.queue_groups = queue_groups
        self.momentum = momentum
        self.temperature = temperature
        self.shuffle_bn = shuffle_bn
        self.bn_splits = bn_splits

        self.encoder_q = encoder  # f_q
        self.encoder_k = copy.deepcopy(encoder)  # f_k: starts equal, follows f_q by momentum
        self.encoder_k.requires_grad_(False)

        queue = F.normalize(torch.randn(encoder.out_dim, queue_size), dim=0)  # D x K
        self.register_buffer("queue", queue)
        # one write position per segment (a single one without groups)
        self.register_buffer("queue_ptr", torch.zeros(queue_groups, dtype=torch.long))
        # input kind of each column's key (a bit per sensor; 0: an initial random key), for
        # diagnostics only: not checkpointed (a resumed run relearns it as the queue refills)
        self.register_buffer("queue_kind", torch.zeros(queue_size, dtype=torch.long),
                             persistent=False)  # fmt: skip

    @property
    def queue_size(self) -> int:
        return self.queue.shape[1]

    def _check_batch(self, global_batch: int) -> None:
        if self.queue_size % global_batch != 0:
            raise ValueError(
                f"queue size {self.queue_size} is not a multiple of the global batch size "
                f"{global_batch} (batch per process x {distributed.world_size()} process(es)); "
                "choose a queue size divisible by it, and drop incomplete last batches"
            )

    def _encode(self, encoder: Encoder, x: Tensor, sub_batch: Tensor | None = None) -> Tensor:
        """``encoder(x)``, with BN statistics over ``bn_splits`` sub-batches: N x C x H x W ->
        N x D. ``sub_batch`` (N,) assigns each row (equal counts); consecutive chunks when None."""
        if self.bn_splits == 1:
            out: Tensor = encoder(x)  # N x D
            return out
        if sub_batch is None:
            return torch.cat([encoder(part) for part in x.chunk(self.bn_splits)])  # N x D
        order = torch.argsort(sub_batch, stable=True)  # N: sub-batch 0's rows first
        parts = torch.cat([encoder(part) for part in x[order].chunk(self.bn_splits)])  # N x D
        return parts[torch.argsort(order)]  # N x D, back in input order

    def _kinds(self, x: Tensor) -> Tensor:
        """Each row's input kind: a bit per sensor it holds (N,)."""
        present = sensor_presence(x, list(self.encoder_q.adapter.groups.values()))  # N x G
        weights = 2 ** torch.arange(present.shape[1], device=x.device)  # G
        return (present.long() * weights).sum(dim=1)  # N

    @torch.no_grad()
    def _dequeue_and_enqueue(
        self, keys: Tensor, key_group: Tensor | None = None, key_kind: Tensor | None = None
    ) -> None:
        """Replace the oldest keys of each group's segment (the whole queue without groups) by
        the keys of every rank (N x D each), in rank order; ``key_kind`` (N,) is recorded in
        :attr:`queue_kind`."""
        keys = distributed.gather_all(keys)  # (world x N) x D
        kinds = None if key_kind is None else distributed.gather_all(key_kind)  # (world x N)
        if key_group is None:  # one segment: the whole queue
            self._check_batch(keys.shape[0])
            key_group = torch.zeros(keys.shape[0], dtype=torch.long, device=keys.device)
        else:
            key_group = distributed.gather_all(key_group)  # (world x N)
        size = self.queue_size // self.queue_groups
        for g in range(self.queue_groups):
            new = keys[key_group == g]  # M x D
            if new.shape[0] > size:
                raise ValueError(f"{new.shape[0]} keys of group {g} in one step overflow its "
                                 f"queue segment of {size}; use a larger queue_size")  # fmt: skip
            ptr = int(self.queue_ptr[g])
            offsets = torch.arange(new.shape[0], device=keys.device)  # M
            columns = g * size + (ptr + offsets) % size  # M
            self.queue[:, columns] = new.T.to(self.queue.dtype)  # D x M
            if kinds is not None:
                self.queue_kind[columns] = kinds[key_group == g]
            self.queue_ptr[g] = (ptr + new.shape[0]) % size

    def forward(
        self, x_q: Tensor, x_k: Tensor, key_group: Tensor | None = None, diagnose: bool = False
    ) -> MoCoOutput:
        """Queries ``x_q`` and their positive keys ``x_k``, both N x C x H x W; ``key_group``
        (N,) is each key's group, given exactly when the queue has groups. ``diagnose`` also
        measures :attr:`MoCoOutput.own_kind_top1` (one N x K product)."""
        if x_q.shape[0] != x_k.shape[0]:
            raise ValueError(f"x_q and x_k batch sizes differ: {x_q.shape[0]} != {x_k.shape[0]}")
        if x_q.shape[0] % self.bn_splits != 0:
            raise ValueError(
                f"batch size {x_q.shape[0]} is not a multiple of bn_splits {self.bn_splits}"
            )
        if (key_group is None) != (self.queue_groups == 1):
            raise ValueError(f"key_group is needed exactly when the queue has groups "
                             f"(queue_groups = {self.queue_groups})")  # fmt: skip
        if self.queue_groups == 1:
            self._check_batch(x_q.shape[0] * distributed.world_size())

        split = self.shuffle_bn and self.bn_splits > 1
        q_kind, k_kind = self._kinds(x_q), self._kinds(x_k)  # N each
        q_sub = bn_sub_batches(q_kind, self.bn_splits) if split else None  # N
        q = F.normalize(self._encode(self.encoder_q, x_q, q_sub), dim=1)  # N x D
        with torch.no_grad():
            momentum_update(self.encoder_q, self.encoder_k, self.momentum)
            if self.shuffle_bn and distributed.world_size() > 1:
                x_k, idx_unshuffle = distributed.batch_shuffle(x_k)
                k_sub = bn_sub_batches(self._kinds(x_k), self.bn_splits) if split else None
                k = self._encode(self.encoder_k, x_k, k_sub)  # N x D
                k = distributed.batch_unshuffle(k, idx_unshuffle)  # N x D
            else:  # one process: keys dealt away from their query's sub-batch
                k_sub = bn_sub_batches(k_kind, self.bn_splits, q_sub) if split else None
                k = self._encode(self.encoder_k, x_k, k_sub)  # N x D
            k = F.normalize(k, dim=1)  # N x D

        # the queue is cloned: enqueueing below modifies it in place before backward
        queue = self.queue.clone().detach()  # D x K
        loss, logits = info_nce(q, k, queue, self.temperature, key_group, self.queue_groups)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)  # N
        own = own_kind_top1(q.detach(), q_kind, queue, self.queue_kind) if diagnose else None
        self._dequeue_and_enqueue(k, key_group, k_kind)
        return MoCoOutput(loss, logits, labels, k, own)
