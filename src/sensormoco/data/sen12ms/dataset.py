"""SEN12MS as a PyTorch dataset: per-sample dicts of tensors read from the GeoTIFF tree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco.data.bands import resolve_bands
from sensormoco.data.geotiff import read_raster
from sensormoco.data.samples import SampleOptions
from sensormoco.data.sen12ms.layout import PatchId, PatchRecord
from sensormoco.data.sen12ms.pixels import read_s1, read_s2, read_s2_raw


class SEN12MSDataset(Dataset[dict[str, Tensor]]):
    """Samples ``{"s1": C1 x H x W, "s2": C2 x H x W, "index": (), ["lc": 4 x H x W],
    ["target": ...]}`` for usable index records; ``ids[index]`` names the patch.

    ``options`` (data/samples.py; the defaults when None) says what a sample holds. Bands are
    chosen by name (a set name such as ``"s2-land"`` or a list). With a normalisation (the
    shipped SEN12MS statistics by default), each sensor is standardised per band;
    ``normalization=None`` returns dB / reflectance values. ``raw`` returns S2 as stored
    (reflectance x 1e4 clipped to 10000, as int16) and S1 in dB, both unnormalised: 40 %
    fewer bytes a sample to move between processes, standardised later on the batch
    (data/samples.py's ``standardize``).
    """

    def __init__(
        self,
        root: str | Path,
        records: Sequence[PatchRecord],
        options: SampleOptions | None = None,
    ) -> None:
        bad = [r for r in records if not r.ok]
        if bad:
            raise ValueError(f"{len(bad)} record(s) are not usable, e.g. {bad[0].reason}")
        self.root = Path(root)
        self.records = list(records)
        options = options or SampleOptions()
        self.s1_bands = resolve_bands("s1", options.s1_bands)
        self.s2_bands = resolve_bands("s2", options.s2_bands)
        normalization, targets = options.normalization, options.targets
        self.norm_s1 = normalization.select(self.s1_bands) if normalization else None
        self.norm_s2 = normalization.select(self.s2_bands) if normalization else None
        self.with_lc, self.raw = options.with_lc, options.raw
        self.targets = targets
        if targets is not None:
            missing = [r.patch_id for r in self.records if r.patch_id not in targets]
            if missing:
                raise ValueError(f"no target for {len(missing)} patch(es), e.g. {missing[0]}")

    @property
    def ids(self) -> list[PatchId]:
        return [r.patch_id for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        record = self.records[index]
        s1_np, _ = read_s1(self.root / record.paths["s1"], self.s1_bands)
        s1 = torch.from_numpy(s1_np)  # C1 x H x W
        read = read_s2_raw if self.raw else read_s2
        s2 = torch.from_numpy(read(self.root / record.paths["s2"], self.s2_bands))  # C2 x H x W
        if self.norm_s1 is not None and self.norm_s2 is not None and not self.raw:
            s1, s2 = self.norm_s1.apply(s1), self.norm_s2.apply(s2)
        sample = {"s1": s1, "s2": s2, "index": torch.tensor(index)}
        if self.with_lc:
            lc, _ = read_raster(self.root / record.paths["lc"])
            sample["lc"] = torch.from_numpy(lc.astype(np.int64))  # 4 x H x W
        if self.targets is not None:
            sample["target"] = self.targets[record.patch_id]
        return sample
