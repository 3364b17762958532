"""``pack bigearthnet``: a store of the real v2 sample gives the samples of its source."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import lmdb
import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.cli.main import main
from sensormoco.data.bigearthnet.v2 import detect_version, open_source
from sensormoco.data.bigearthnet.v2_dataset import open_bigearthnet
from sensormoco.data.bigearthnet.v2_pack import pack_bigearthnet
from sensormoco.errors import DataError
from sensormoco.evaluation.bigearthnet_data import load_bigearthnet
from tests.data.benv2_sample import LMDB_FOLDER


@pytest.fixture(scope="module")
def store(benv2_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("benv2-store") / "store"
    assert main(["pack", "bigearthnet", str(benv2_tree), "-o", str(out),
                 "--keep-snow-cloud"]) == 0  # fmt: skip
    return out


def test_a_store_gives_the_samples_of_its_source(store: Path, benv2_lmdb: Path):
    assert detect_version(store) == "v2-store"
    assert not store.with_name("store.partial").exists()
    a = open_bigearthnet(store, keep_snow_cloud=True, s2_bands="s2-bigearthnet")
    b = open_bigearthnet(benv2_lmdb, keep_snow_cloud=True, s2_bands="s2-bigearthnet")
    assert len(a) == len(b) == 24
    assert a.ids == b.ids
    for i in range(len(a)):
        for key, value in a[i].items():
            assert torch.equal(value, b[i][key]), (a.ids[i], key)
    # by default the store, like any v2 root, leaves the snow/cloud/shadow patches out
    assert len(open_source(store).metadata.patches) == 18
    data, lmdb_data = load_bigearthnet(store), load_bigearthnet(benv2_lmdb)
    x = next(iter(DataLoader(data.samples(data.test_ids, "multi"), batch_size=6)))
    y = next(iter(DataLoader(lmdb_data.samples(data.test_ids, "multi"), batch_size=6)))
    assert torch.equal(x["s2"], y["s2"])


def test_an_unreadable_pair_is_skipped_and_listed(benv2_lmdb: Path, tmp_path: Path):
    root = tmp_path / "lmdb"
    shutil.copytree(benv2_lmdb, root)
    patch = open_source(root).metadata.patches[1]
    env = lmdb.open(str(root / LMDB_FOLDER))
    with env.begin(write=True) as txn:
        value = txn.get(patch.patch_id.encode())
        assert value is not None
        txn.put(patch.patch_id.encode(), value[:100])
    env.close()
    summary = pack_bigearthnet(root, tmp_path / "store")
    assert (summary.rows, summary.skipped, summary.left_out) == (17, 1, 6)
    with (tmp_path / "store" / "skipped.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["patch_id"] for r in rows] == [patch.patch_id]
    assert "truncated or corrupt safetensors value" in rows[0]["reason"]
    source = open_source(tmp_path / "store")
    assert "its S2 patch is not in" in (source.check(patch) or "")


def test_a_truncated_store_array_is_one_line(store: Path, tmp_path: Path):
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    array = copy / "s2_20m.npy"
    array.write_bytes(array.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"s2_20m\.npy: \d+ bytes, expected \d+ \(truncated\?\)"):
        open_source(copy)


def test_pack_refuses_a_store_and_a_non_empty_output(store: Path, tmp_path: Path):
    with pytest.raises(DataError, match="is already a packed store"):
        pack_bigearthnet(store, tmp_path / "again")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(DataError, match="exists and is not an empty folder"):
        pack_bigearthnet(store, tmp_path / "full")


def test_pretraining_reads_a_store_like_its_source(store: Path, benv2_lmdb: Path):
    from sensormoco.training.datamodule import pretrain_dataset

    a, b = pretrain_dataset(store), pretrain_dataset(benv2_lmdb)
    assert a.ids == b.ids
    assert (len(a.ids), a.excluded_test, a.left_out) == (12, 6, 6)
    assert torch.equal(a.dataset[3]["s1"], b.dataset[3]["s1"])
