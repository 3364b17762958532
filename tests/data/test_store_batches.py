"""A store read a batch at a time (``StoreDataset.__getitems__``): the per-sample bits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler, default_collate

from sensormoco.data.samples import SampleOptions
from sensormoco.data.sen12ms.layout import clean_s1_
from sensormoco.data.store.dataset import SampleBatch, StoreDataset, collate_samples
from sensormoco.data.store.format import open_store
from sensormoco.data.store.pack import pack_sen12ms


@pytest.fixture(scope="module")
def packed(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "store"
    pack_sen12ms(synth_root, out)
    return out


def assert_same_batch(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(
    ("s1_bands", "s2_bands"),
    [("VV,VH", "s2-land"), ("VH", "s2-all"), ("VV,VH", ["B4", "B3", "B2"]), ("VV", "B12")],
)
def test_a_batch_is_its_samples_collated(
    packed: Path, s1_bands: str, s2_bands: str | Sequence[str]
) -> None:
    targets = {pid: torch.from_numpy(f) for pid, f in open_store(packed).igbp_fractions().items()}
    options = SampleOptions(s1_bands.split(","), s2_bands, None, True, targets, raw=True)
    dataset = StoreDataset(packed, None, options)
    indices = [5, 0, 17, 5, 40]
    batch = dataset.__getitems__(indices)
    assert isinstance(batch, SampleBatch)
    expected = default_collate([dataset[i] for i in indices])
    assert_same_batch(collate_samples(batch), expected)
    assert_same_batch(default_collate(batch), expected)  # a DataLoader's default collate too


def test_normalised_samples_are_read_one_by_one(packed: Path) -> None:
    dataset = StoreDataset(packed)
    samples = dataset.__getitems__([3, 1])
    assert not isinstance(samples, SampleBatch)
    assert_same_batch(collate_samples(samples), default_collate([dataset[3], dataset[1]]))


def test_workers_give_the_batches_of_one_process(packed: Path) -> None:
    dataset = StoreDataset(packed, options=SampleOptions(raw=True))

    def batches(workers: int) -> list[dict[str, Tensor]]:
        generator = torch.Generator().manual_seed(7)
        sampler = RandomSampler(dataset, num_samples=40, generator=generator)
        loader = DataLoader(
            dataset, 8, sampler=sampler, num_workers=workers, collate_fn=collate_samples
        )
        return list(loader)

    first, second = batches(0), batches(2)
    assert len(first) == len(second) == 5
    for a, b in zip(first, second, strict=True):
        assert_same_batch(a, b)
    assert second[0]["s2"].dtype == torch.int16


def test_s1_rule_is_nan_to_num_then_clip() -> None:
    values = [np.nan, np.inf, -np.inf, -0.0, 0.0, 3.5, -30.0, -12.25, -25.0]
    data = np.array(values * 3, dtype=np.float32).reshape(3, 3, 3)
    expected = np.clip(np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=-25.0), -25.0, 0.0)
    got = clean_s1_(data.copy())
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))  # bit for bit
