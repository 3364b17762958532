"""Per-sensor encoders (``encoder: per-sensor``; as CMC and DeCUR): an S1 and an S2 network.

Each sensor has its own :class:`~sensormoco.models.moco.MoCo` (query encoder, momentum key
encoder, queue of K / 2 keys of that sensor). Views come in the 12-channel fusion layout of the
sensor-pair modes, one sensor per view; each network takes its own sensor's bands. For a
location whose query is S2 and key S1 the query is ``f_S2(S2)``, the key ``f_S1^k(S1)`` and the
negatives are S1 keys of ``f_S1^k`` (the S1 queue), and the reverse for swapped rows: every
logit compares locations seen by one sensor through one network, and no network ever sees the
other sensor. Batch norm as in MoCo: each network's rows on ``bn_splits`` sub-batches, the key
pass dealt away from the query's sub-batches on one process.

Transfer (:class:`PairedFeatures`): an s1 or s2 input goes through its own network's adapter and
backbone; an s1s2 input through both, and the two feature vectors are **concatenated** (S1 then
S2), so the classifier sees both sensors without their features being mixed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sensormoco import distributed
from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS
from sensormoco.models.losses import info_nce, momentum_update
from sensormoco.models.moco import Encoder, MoCo, MoCoOutput, bn_sub_batches

SENSORS: tuple[str, ...] = ("s1", "s2")  # key_group indexes this (0: S1 key, 1: S2 key)
SENSOR_BANDS: dict[str, tuple[str, ...]] = {"s1": S1_BANDS, "s2": S2_LAND_BANDS}
# channels of each sensor in the fusion layout (10 S2 land bands, then VV, VH)
FUSION_SLICES: dict[str, slice] = {"s2": slice(0, 10), "s1": slice(10, 12)}


class PerSensorMoCo(nn.Module):
    """Two MoCo models, one per sensor, trained on each other's keys (see the module notes)."""

    def __init__(
        self,
        encoders: dict[str, Encoder],
        queue_size: int,
        momentum: float,
        temperature: float,
        shuffle_bn: bool = True,
        bn_splits: int = 1,
    ) -> None:
        super().__init__()
        if set(encoders) != set(SENSORS):
            raise ValueError(f"per-sensor encoders need one encoder per sensor {list(SENSORS)}")
        for sensor, encoder in encoders.items():
            if encoder.bands != SENSOR_BANDS[sensor]:
                raise ValueError(f"the {sensor} encoder must take {list(SENSOR_BANDS[sensor])}")
        if queue_size % 2:
            raise ValueError(f"queue_size {queue_size} must split into two equal sensor queues")
        self.temperature = temperature
        self.shuffle_bn, self.bn_splits = shuffle_bn, bn_splits
        self.mocos = nn.ModuleDict({s: MoCo(encoders[s], queue_size // 2, momentum, temperature,
                                            shuffle_bn, bn_splits) for s in SENSORS})  # fmt: skip

    @property
    def encoder_q(self) -> Encoder:
        """The S2 network's query encoder: for code that inspects one encoder (its layout,
        parameters' device); both networks are built alike."""
        return self.moco("s2").encoder_q

    def moco(self, sensor: str) -> MoCo:
        module = self.mocos[sensor]
        assert isinstance(module, MoCo)
        return module

    def forward(
        self, x_q: Tensor, x_k: Tensor, key_group: Tensor | None = None, diagnose: bool = False
    ) -> MoCoOutput:
        """Queries and keys in the fusion layout (N x 12 x H x W, one sensor each); ``key_group``
        (N,) the key's sensor (index into :data:`SENSORS`). ``own_kind_top1`` stays None: each
        queue holds one sensor."""
        if key_group is None or key_group.shape != (x_q.shape[0],):
            raise ValueError("per-sensor encoders need each key's sensor (key_group, N)")
        if distributed.world_size() > 1 and self.shuffle_bn:
            raise NotImplementedError("per-sensor encoders run on one process for now")
        n = x_q.shape[0]
        with torch.no_grad():  # as MoCo: f_k follows f_q before this step's keys
            for sensor in SENSORS:
                moco = self.moco(sensor)
                momentum_update(moco.encoder_q, moco.encoder_k, moco.momentum)
        loss_sum = x_q.new_zeros((), dtype=torch.float32)
        logits = keys = None
        for g, key_sensor in enumerate(SENSORS):
            query_sensor = SENSORS[1 - g]
            rows = (key_group == g).nonzero().squeeze(1)  # M: rows whose key is key_sensor
            if rows.numel() == 0:
                continue
            online, target = self.moco(query_sensor), self.moco(key_sensor)
            xq = x_q.index_select(0, rows)[:, FUSION_SLICES[query_sensor]]  # M x Cq x H x W
            xk = x_k.index_select(0, rows)[:, FUSION_SLICES[key_sensor]]  # M x Ck x H x W
            kind = torch.zeros(rows.numel(), dtype=torch.long, device=x_q.device)  # M
            split = self.shuffle_bn and self.bn_splits > 1
            q_sub = bn_sub_batches(kind, self.bn_splits) if split else None
            q = F.normalize(online._encode(online.encoder_q, xq, q_sub), dim=1)  # M x D
            with torch.no_grad():
                k_sub = bn_sub_batches(kind, self.bn_splits, q_sub) if split else None
                k = F.normalize(target._encode(target.encoder_k, xk, k_sub), dim=1)  # M x D
            queue = target.queue.clone().detach()  # D x K/2: keys of key_sensor
            loss, part = info_nce(q, k, queue, self.temperature)
            loss_sum = loss_sum + loss * rows.numel()
            if logits is None or keys is None:
                logits = part.new_zeros(n, part.shape[1])  # N x (1 + K/2)
                keys = k.new_zeros(n, k.shape[1])  # N x D
            logits[rows], keys[rows] = part.detach(), k
            target._dequeue_and_enqueue(k)
        assert logits is not None
        assert keys is not None
        labels = torch.zeros(n, dtype=torch.long, device=x_q.device)  # N
        return MoCoOutput(loss_sum / n, logits, labels, keys, None)


class PairedFeatures(nn.Module):
    """Transfer of per-sensor encoders: N x C x H x W -> N x F. ``input`` s1 or s2 takes that
    sensor's own bands through its network; s1s2 takes the fusion layout through both and
    concatenates their features (S1 then S2: F = F_S1 + F_S2)."""

    def __init__(self, encoders: dict[str, Encoder], input_: str) -> None:
        super().__init__()
        if input_ not in ("s1", "s2", "s1s2"):
            raise ValueError(f"unknown input {input_!r}; choose one of s1, s2, s1s2")
        self.input = input_
        self.sensors = [s for s in SENSORS if s in input_]
        self.adapters = nn.ModuleDict({s: encoders[s].adapter for s in self.sensors})
        self.backbones = nn.ModuleDict({s: encoders[s].backbone for s in self.sensors})

    @property
    def num_features(self) -> int:
        return sum(int(getattr(b, "num_features")) for b in self.backbones.values())  # noqa: B009

    def forward(self, x: Tensor) -> Tensor:
        if len(self.sensors) == 1:
            s = self.sensors[0]
            out: Tensor = self.backbones[s](self.adapters[s](x))  # N x F
            return out
        parts = [self.backbones[s](self.adapters[s](x[:, FUSION_SLICES[s]])) for s in SENSORS]
        return torch.cat(parts, dim=1)  # N x (F_S1 + F_S2)
