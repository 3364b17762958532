"""BigEarthNet-MM (v1) as a dataset, on the six real S1/S2 example pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.data.bands import BIGEARTHNET_NORMALIZATION, BIGEARTHNET_STATISTICS
from sensormoco.data.bigearthnet.labels import CLASSES_19, labels_43, to_19
from sensormoco.data.bigearthnet.v1 import read_s1, scan_pairs
from sensormoco.data.bigearthnet.v1_dataset import BigEarthNetDataset


def test_dataset_samples(ben: tuple[Path, Path]) -> None:
    records = scan_pairs(*ben).records
    ds = BigEarthNetDataset(records)
    assert len(ds) == 6
    sample = ds[0]
    assert sample["s1"].shape == (2, 120, 120)
    assert sample["s2"].shape == (10, 120, 120)  # the 10 land bands by default
    assert sample["target"].dtype == torch.float32
    assert sample["target"].tolist() == to_19(labels_43(records[0].labels)).tolist()
    assert int(sample["index"]) == 0
    assert ds.classes == CLASSES_19
    ds43 = BigEarthNetDataset(records, labels="43", s2_bands="s2-bigearthnet")
    assert ds43[5]["target"].shape == (43,)
    assert ds43[5]["s2"].shape == (12, 120, 120)
    batch = next(iter(DataLoader(ds43, batch_size=4)))
    assert batch["s2"].shape == (4, 12, 120, 120)
    assert batch["target"].shape == (4, 43)


def test_dataset_normalisation(ben: tuple[Path, Path]) -> None:
    record = scan_pairs(*ben).records[0]
    raw = BigEarthNetDataset([record], s2_bands="s2-rgb", normalization=None)[0]
    torch.testing.assert_close(raw["s1"], torch.from_numpy(read_s1(record.s1_dir)))
    normalised = BigEarthNetDataset([record], s2_bands="s2-rgb")[0]
    vv_mean, vv_std = BIGEARTHNET_STATISTICS["VV"]
    torch.testing.assert_close(normalised["s1"][0], (raw["s1"][0] - vv_mean) / vv_std)
    expected = BIGEARTHNET_NORMALIZATION.select(("B4", "B3", "B2")).apply(raw["s2"])
    torch.testing.assert_close(normalised["s2"], expected)
    with pytest.raises(ValueError, match="label scheme"):
        BigEarthNetDataset([record], labels="10")
