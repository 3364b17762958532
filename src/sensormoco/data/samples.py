"""What a dataset's samples hold (:class:`SampleOptions`, taken by every SEN12MS dataset and
by :meth:`PatchSource.dataset`), and the standardisation of ``raw`` samples on the batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sensormoco import defaults
from sensormoco.data.bands import SEN12MS_NORMALIZATION, Normalization

if TYPE_CHECKING:
    from torch import Tensor

    from sensormoco.data.sen12ms.layout import PatchId


@dataclass(frozen=True)
class SampleOptions:
    """What a dataset's samples hold (see :class:`SEN12MSDataset`); ``raw``: S1 in dB (clean,
    float32) and S2 as stored (clipped to 10000, as int16), not normalised (see
    :func:`standardize`)."""

    s1_bands: str | Sequence[str] = defaults.S1_BANDS
    s2_bands: str | Sequence[str] = defaults.S2_BANDS
    normalization: Normalization | None = SEN12MS_NORMALIZATION
    with_lc: bool = False
    targets: Mapping[PatchId, Tensor] | None = None
    raw: bool = False


def standardize(
    batch: dict[str, Tensor], s1: Normalization, s2: Normalization
) -> dict[str, Tensor]:
    """A batch of ``raw`` samples standardised as the non-raw samples are, bit for bit (the
    same float32 operations): ``s1`` N x C1 x H x W dB, ``s2`` N x C2 x H x W int16; run on
    the device, after the transfer. The result shares no memory with ``batch`` (its other
    tensors, the indices, are copied), so ``batch``'s buffers may be released for reuse
    (data/store/batch_pool.py)."""
    import torch  # here: the data commands that read no pixels never import torch

    out = {key: value.clone() for key, value in batch.items() if key not in ("s1", "s2")}
    for key, norm in (("s1", s1), ("s2", s2)):
        x = batch[key]  # N x C x H x W
        mean = torch.tensor(norm.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
        std = torch.tensor(norm.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
        y = torch.empty(x.shape, dtype=torch.float32, device=x.device)  # N x C x H x W
        # in place; on a CPU a sample at a time, so it stays in cache (a batch is ~25 MB)
        pairs = zip(x, y, strict=True) if x.device.type == "cpu" else ((x, y),)
        for source, target in pairs:
            target.copy_(source).sub_(mean).div_(std)  # (x - mean) / std: Normalization.apply
        out[key] = y
    return out
