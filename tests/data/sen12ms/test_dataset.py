from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.data.bands import SEN12MS_NORMALIZATION
from sensormoco.data.samples import SampleOptions
from sensormoco.data.sen12ms.dataset import SEN12MSDataset
from sensormoco.data.sen12ms.index import build_index
from sensormoco.data.sen12ms.pixels import read_s1, read_s2
from sensormoco.errors import DataError


def test_samples_from_a_synthetic_tree(synth_root: Path) -> None:
    index = build_index(synth_root, read_pixels=False)
    ds = SEN12MSDataset(synth_root, index.usable, SampleOptions(with_lc=True))
    assert len(ds) == 72
    sample = ds[5]
    assert sample["s1"].shape == (2, 32, 32)
    assert sample["s1"].dtype == torch.float32
    assert sample["s2"].shape == (10, 32, 32)
    assert sample["s2"].dtype == torch.float32
    assert sample["lc"].shape == (4, 32, 32)
    assert sample["lc"].dtype == torch.int64
    assert int(sample["index"]) == 5
    assert ds.ids[5] == index.usable[5].patch_id
    assert torch.isfinite(sample["s1"]).all()
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["s2"].shape == (4, 10, 32, 32)


def test_bands_by_name_and_raw_values(synth_root: Path) -> None:
    index = build_index(synth_root, read_pixels=False)
    record = index.usable[0]
    options = SampleOptions(s1_bands=["VH"], s2_bands="s2-rgb", normalization=None)
    ds = SEN12MSDataset(synth_root, [record], options)
    sample = ds[0]
    raw = read_s2(synth_root / record.paths["s2"], ("B4", "B3", "B2"))
    assert torch.equal(sample["s2"], torch.from_numpy(raw))
    vh, _ = read_s1(synth_root / record.paths["s1"], ("VH",))
    assert torch.equal(sample["s1"], torch.from_numpy(vh))
    normalised = SEN12MSDataset(synth_root, [record], SampleOptions(s2_bands="s2-rgb"))[0]["s2"]
    expected = SEN12MS_NORMALIZATION.select(("B4", "B3", "B2")).apply(torch.from_numpy(raw))
    torch.testing.assert_close(normalised, expected)


def test_bands_without_statistics_need_computed_ones(synth_root: Path) -> None:
    index = build_index(synth_root, read_pixels=False)
    with pytest.raises(ValueError, match=r"no statistics for band\(s\) \['B1', 'B9', 'B10'\]"):
        SEN12MSDataset(synth_root, index.usable, SampleOptions(s2_bands="s2-all"))


def test_s1_nan_pixels_become_finite(tmp_path: Path, make_triplet) -> None:
    s1 = np.full((2, 16, 16), -8.0, np.float32)
    s1[1, 3, 3] = np.nan
    pid = make_triplet(tmp_path, s1=s1)
    data, nonfinite = read_s1(tmp_path / pid.relpath("s1"), ("VV", "VH"))
    assert nonfinite == 1
    assert data[1, 3, 3] == 0.0


def test_wrong_dtype_at_read_time_names_the_file(tmp_path: Path, make_triplet) -> None:
    pid = make_triplet(tmp_path, s2=np.zeros((13, 16, 16), np.int16))
    with pytest.raises(DataError, match=r"s2_1_p1.tif: dtype int16, expected uint16"):
        read_s2(tmp_path / pid.relpath("s2"), ("B2",))
