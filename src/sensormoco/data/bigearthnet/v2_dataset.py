"""BigEarthNet v2 as a PyTorch dataset: the samples of v1's ``BigEarthNetDataset`` (same keys,
dtypes, band selection and 120 px resampling) from a tree or an LMDB root.

:func:`open_bigearthnet` is the one entry point (its kinds are registered in data/sources.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco import defaults
from sensormoco.data.bands import BIGEARTHNET_V2_NORMALIZATION, Normalization, resolve_bands
from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.data.bigearthnet.v1 import resolve_s2_bands
from sensormoco.data.bigearthnet.v2 import V2Source, open_source
from sensormoco.data.bigearthnet.v2_metadata import V2Patch


def multi_hot_19(patch: V2Patch) -> np.ndarray:
    """The float32 19-vector of ``patch``'s classes (CLASSES_19 order)."""
    out = np.zeros(len(CLASSES_19), np.float32)
    out[[n - 1 for n in patch.multi]] = 1.0
    return out


class BigEarthNetV2Dataset(Dataset[dict[str, Tensor]]):
    """Samples ``{"s1": C1 x 120 x 120, "s2": C2 x 120 x 120, "target": 19, "index": ()}`` of
    ``patches`` (in that order; ``ids[index]`` names the patch, ``patches[index].s2v1_name``
    its v1 name). ``target`` is the float32 multi-hot vector of the 19 classes in the
    nomenclature's original order (``classes``). With a normalisation (by default the authors'
    train-split statistics of v2, data/bands.py) each sensor is standardised per band;
    ``normalization=None`` or ``raw`` returns dB / reflectance values (float32: the resampled
    S2 bands are not integers), for :func:`sensormoco.data.sources.standardize` on the batch.

    Pickling (to DataLoader workers) carries the root and the patch rows; an LMDB is opened
    once per process on first read.
    """

    classes = CLASSES_19

    def __init__(
        self,
        source: V2Source,
        patches: Sequence[V2Patch],
        s1_bands: str | Sequence[str] = defaults.S1_BANDS,
        s2_bands: str | Sequence[str] = defaults.S2_BANDS,
        normalization: Normalization | None = BIGEARTHNET_V2_NORMALIZATION,
        raw: bool = False,
    ) -> None:
        self.source = source
        self.raw = raw
        self.patches = list(patches)
        self.s1_bands = resolve_bands("s1", s1_bands)
        self.s2_bands = resolve_s2_bands(s2_bands)
        self.normalization = normalization
        self.norm_s1 = normalization.select(self.s1_bands) if normalization else None
        self.norm_s2 = normalization.select(self.s2_bands) if normalization else None

    @property
    def ids(self) -> list[str]:
        return [p.patch_id for p in self.patches]

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        patch = self.patches[index]
        s1 = self.source.read_s1(patch, self.s1_bands)  # C1 x 120 x 120
        s2 = self.source.read_s2(patch, self.s2_bands)  # C2 x 120 x 120
        if not self.raw and self.norm_s1 is not None and self.norm_s2 is not None:
            self.norm_s1.apply_(s1)
            self.norm_s2.apply_(s2)
        return {
            "s1": torch.from_numpy(s1),
            "s2": torch.from_numpy(s2),
            "target": torch.from_numpy(multi_hot_19(patch)),  # 19
            "index": torch.tensor(index),
        }


def open_bigearthnet(
    root: str | Path,
    splits: str | Sequence[str] | None = None,
    *,
    keep_snow_cloud: bool = False,
    s1_bands: str | Sequence[str] = defaults.S1_BANDS,
    s2_bands: str | Sequence[str] = defaults.S2_BANDS,
    normalization: Normalization | None = BIGEARTHNET_V2_NORMALIZATION,
    raw: bool = False,
) -> BigEarthNetV2Dataset:
    """The BigEarthNet v2 patches of ``root`` (a tree or an LMDB root) in the official
    ``splits`` (``train``, ``validation``, ``test``; all by default), in metadata order.
    Snow/cloud/shadow patches are left out unless ``keep_snow_cloud``
    (``dataset.source.metadata.left_out`` lists them); patches are validated when read;
    ``raw``: samples not standardised (see :class:`BigEarthNetV2Dataset`)."""
    source = open_source(root, keep_snow_cloud)
    patches = source.metadata.split(splits)
    return BigEarthNetV2Dataset(source, patches, s1_bands, s2_bands, normalization, raw)
