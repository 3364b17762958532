"""Pre-training's loader: raw batches standardised on the device, workers from the machine."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.data.bands import BIGEARTHNET_V2_NORMALIZATION
from sensormoco.data.store.dataset import StoreDataset
from sensormoco.data.store.pack import pack_sen12ms
from sensormoco.training.config import load_config
from sensormoco.training.datamodule import PretrainDataModule, loader_workers, pretrain_dataset
from sensormoco.training.pretrain import run_pretrain


def test_default_workers_follow_the_machine() -> None:
    cores = len(os.sched_getaffinity(0))
    assert loader_workers(None) == max(1, cores - 1)
    assert loader_workers(None, local_processes=cores) == 1
    assert 1 <= loader_workers(None, 2) <= cores
    assert loader_workers(0) == 0
    assert loader_workers(5) == 5


def test_raw_batches_standardise_to_the_normalised_ones(synth_root: Path, tmp_path: Path) -> None:
    config = load_config("cpu-small", {"mode": "sensor-pairs", "batch_size": 8, "queue_size": 32})
    store = tmp_path / "store"
    pack_sen12ms(synth_root, store)
    for root in (synth_root, store):
        module = PretrainDataModule(root, config)
        module.setup("fit")
        assert module.data is not None
        assert module.data.dataset[0]["s2"].dtype == torch.int16  # what crosses to the main one
        raw = next(iter(DataLoader(module.data.dataset, batch_size=8)))
        on_device = module.on_after_batch_transfer(raw, 0)
        plain = pretrain_dataset(root).dataset  # standardised per sample, as before
        expected = next(iter(DataLoader(plain, batch_size=8)))
        for key in expected:
            assert on_device[key].dtype == expected[key].dtype, key
            assert torch.equal(on_device[key], expected[key]), key


def test_worker_batches_reuse_buffers_and_equal_one_process_batches(
    synth_root: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    pack_sen12ms(synth_root, store)

    def batches(workers: int) -> tuple[PretrainDataModule, list[dict[str, torch.Tensor]]]:
        settings = {"mode": "sensor-pairs", "batch_size": 4, "queue_size": 16}
        module = PretrainDataModule(
            store, load_config("cpu-small", settings | {"num_workers": workers})
        )
        loader = module.train_dataloader()  # no Trainer: standardised (and released) here
        return module, [batch for _, batch in zip(range(16), loader, strict=False)]

    (one, expected), (two, got) = batches(0), batches(2)
    assert one.data is not None
    assert two.data is not None
    assert isinstance(two.data.dataset, StoreDataset)
    assert two.data.dataset.reuse_buffers
    assert isinstance(one.data.dataset, StoreDataset)
    assert not one.data.dataset.reuse_buffers
    for a, b in zip(expected, got, strict=True):
        for key in ("s1", "s2", "index"):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_default_workers_raise_no_warning(synth_root: Path, tmp_path: Path) -> None:
    settings = {"mode": "sensor-pairs", "batch_size": 8, "queue_size": 32, "max_steps": 2}
    config = load_config("cpu-small", {**settings, "num_workers": None})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = run_pretrain(config, synth_root, tmp_path / "run")
    assert summary["steps"] == 2
    texts = [str(w.message) for w in caught]
    assert not [t for t in texts if "workers" in t], texts


def test_raw_bigearthnet_v2_batches_standardise_to_the_normalised_ones(benv2_lmdb: Path) -> None:
    config = load_config("cpu-small", {"mode": "sensor-pairs", "batch_size": 4, "queue_size": 16})
    module = PretrainDataModule(benv2_lmdb, config)
    module.setup("fit")
    assert module.data is not None
    assert module.data.normalization == BIGEARTHNET_V2_NORMALIZATION
    assert [len(n.bands) for n in module.data.norms] == [2, 10]
    raw = next(iter(DataLoader(module.data.dataset, batch_size=6)))
    assert raw["s1"].abs().max() > 5  # dB as distributed, not standardised
    on_device = module.on_after_batch_transfer(raw, 0)
    plain = pretrain_dataset(benv2_lmdb).dataset  # standardised per sample
    expected = next(iter(DataLoader(plain, batch_size=6)))
    for key in expected:
        assert on_device[key].dtype == expected[key].dtype, key
        assert torch.equal(on_device[key], expected[key]), key
