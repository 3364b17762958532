"""BigEarthNet-MM (v1) as a PyTorch dataset: per-sample dicts of tensors read from the paired
S1/S2 folders (data/bigearthnet/v1.py), with multi-hot targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco import defaults
from sensormoco.data.bands import BIGEARTHNET_NORMALIZATION, Normalization, resolve_bands
from sensormoco.data.bigearthnet.labels import SCHEMES, multi_hot
from sensormoco.data.bigearthnet.v1 import (
    BigEarthNetRecord,
    metadata_file,
    read_s1,
    read_s2,
    resolve_s2_bands,
)


class BigEarthNetDataset(Dataset[dict[str, Tensor]]):
    """Samples ``{"s1": C1 x 120 x 120, "s2": C2 x 120 x 120, "target": K, "index": ()}``,
    ``target`` the float32 multi-hot vector of the ``labels`` scheme ("19" or "43" classes,
    names in ``classes``).

    Bands are chosen by name, as for SEN12MS (S2 defaults to the 10 land bands, those of the
    BigEarthNet-MM 19-class models). With a normalisation (the published BigEarthNet statistics
    by default) each sensor is standardised per band; ``normalization=None`` returns dB /
    reflectance values. A patch whose labels are all dropped by the 19-class scheme gets an
    all-zero target (the official splits leave such patches out).
    """

    def __init__(
        self,
        records: Sequence[BigEarthNetRecord],
        labels: str = "19",
        s1_bands: str | Sequence[str] = defaults.S1_BANDS,
        s2_bands: str | Sequence[str] = defaults.S2_BANDS,
        normalization: Normalization | None = BIGEARTHNET_NORMALIZATION,
    ) -> None:
        if labels not in SCHEMES:
            raise ValueError(f"unknown BigEarthNet label scheme {labels!r}; expected '19' or '43'")
        self.records = list(records)
        self.classes = SCHEMES[labels]
        self.s1_bands = resolve_bands("s1", s1_bands)
        self.s2_bands = resolve_s2_bands(s2_bands)
        self.norm_s1 = normalization.select(self.s1_bands) if normalization else None
        self.norm_s2 = normalization.select(self.s2_bands) if normalization else None
        targets = [multi_hot(r.labels, labels, metadata_file(r.s1_dir)) for r in self.records]
        self.targets = np.stack(targets) if targets else np.zeros((0, len(self.classes)))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        record = self.records[index]
        s1 = torch.from_numpy(read_s1(record.s1_dir, self.s1_bands))  # C1 x 120 x 120
        s2 = torch.from_numpy(read_s2(record.s2_dir, self.s2_bands))  # C2 x 120 x 120
        if self.norm_s1 is not None and self.norm_s2 is not None:
            s1, s2 = self.norm_s1.apply(s1), self.norm_s2.apply(s2)
        target = torch.from_numpy(self.targets[index].astype(np.float32))  # K
        return {"s1": s1, "s2": s2, "target": target, "index": torch.tensor(index)}
