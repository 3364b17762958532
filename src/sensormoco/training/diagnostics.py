"""Pre-training diagnostics, logged every ``diagnostics_every_n_steps`` steps (cheap).

- ``diag/gap_norm_q`` and ``diag/gap_norm_k``: the modality gap of each encoder, the norm of
  (mean normalised embedding of the S2 views) - (mean of the S1 views) over a fixed probe batch
  (the same locations every time, centre-cropped, network in eval mode). 0: the sensors of a
  location embed alike on average; up to 2: they sit at opposite poles.
- ``diag/gap_cos_qk``: cosine between the query encoder's and the key encoder's gap vectors;
  the momentum encoder lags the query encoder, and a gap that turns between them makes
  positives (one sensor from f_q, the other from f_k) drift apart.
- ``diag/own_sensor_top1``: share of this step's queries whose most similar key in the whole
  queue (every segment) holds the query's own sensors
  (:func:`~sensormoco.models.moco.own_kind_top1`): near 1 when embeddings cluster by sensor
  instead of by place.

The gaps need an encoder that takes either sensor alone (the fusion layout); for the others
(mode ``augment`` on one sensor) only ``own_sensor_top1`` is logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco.data.bands import FUSION_BANDS, Normalization
from sensormoco.data.sources import standardize
from sensormoco.models.adapters import to_fusion_layout
from sensormoco.models.moco import Encoder, MoCo
from sensormoco.models.per_sensor import FUSION_SLICES, PerSensorMoCo

PROBE_SIZE = 32  # locations in the probe batch


@dataclass(frozen=True)
class Probe:
    """The same locations seen by S1 alone and by S2 alone, in the fusion layout."""

    s1: Tensor  # P x 12 x crop x crop, S2 slots zero
    s2: Tensor  # P x 12 x crop x crop, S1 slots zero


def _centre(x: Tensor, size: int) -> Tensor:
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[..., top : top + size, left : left + size]


def make_probe(
    dataset: Dataset[dict[str, Tensor]] | Sequence[dict[str, Tensor]],
    length: int,
    bands: tuple[str, ...],
    crop: int,
    device: torch.device,
    size: int = PROBE_SIZE,
    norms: tuple[Normalization, Normalization] | None = None,
) -> Probe | None:
    """A probe of ``size`` locations spread evenly over the dataset (of ``length`` items),
    centre-cropped to ``crop``; None when the encoder's ``bands`` are not the fusion layout.
    ``norms`` (S1's, S2's): the dataset's samples are raw and are standardised here."""
    if tuple(bands) != FUSION_BANDS or length < 1:
        return None
    picks = sorted({round(i * (length - 1) / max(1, size - 1)) for i in range(min(size, length))})
    items = [dataset[i] for i in picks]
    batch = {key: torch.stack([item[key] for item in items]) for key in ("s1", "s2")}
    if norms is not None:
        batch = standardize(batch, *norms)
    s1 = _centre(batch["s1"], crop).to(device)  # P x 2 x c x c
    s2 = _centre(batch["s2"], crop).to(device)  # P x 10 x c x c
    return Probe(to_fusion_layout(None, s1), to_fusion_layout(s2, None))


@torch.no_grad()
def _mean_embedding(encoder: Encoder, x: Tensor) -> Tensor:
    """Mean normalised embedding of ``x`` (P x C x H x W) in eval mode: D."""
    training = encoder.training
    encoder.eval()
    try:
        return F.normalize(encoder(x).float(), dim=1).mean(dim=0)  # D
    finally:
        encoder.train(training)


def _gap(s1: Encoder, s2: Encoder, probe: Probe, own_bands: bool) -> Tensor:
    """S2 mean minus S1 mean; ``own_bands``: each encoder takes its sensor's bands alone."""
    x_s1 = probe.s1[:, FUSION_SLICES["s1"]] if own_bands else probe.s1
    x_s2 = probe.s2[:, FUSION_SLICES["s2"]] if own_bands else probe.s2
    return _mean_embedding(s2, x_s2) - _mean_embedding(s1, x_s1)  # D


def modality_gaps(moco: MoCo | PerSensorMoCo, probe: Probe) -> dict[str, float]:
    """Gap norms of both encoders and the cosine between their gaps, on ``probe`` (per-sensor
    encoders: the S2 network's S2 mean minus the S1 network's S1 mean)."""
    if isinstance(moco, PerSensorMoCo):
        s1, s2 = moco.moco("s1"), moco.moco("s2")
        gap_q = _gap(s1.encoder_q, s2.encoder_q, probe, own_bands=True)
        gap_k = _gap(s1.encoder_k, s2.encoder_k, probe, own_bands=True)
    else:
        gap_q = _gap(moco.encoder_q, moco.encoder_q, probe, own_bands=False)
        gap_k = _gap(moco.encoder_k, moco.encoder_k, probe, own_bands=False)
    return {
        "gap_norm_q": float(gap_q.norm()),
        "gap_norm_k": float(gap_k.norm()),
        "gap_cos_qk": float(F.cosine_similarity(gap_q, gap_k, dim=0)),
    }
