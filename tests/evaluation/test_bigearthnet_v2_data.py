"""Evaluation on the real BigEarthNet v2 sample (configilm), from its LMDB and its tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.cli.main import main
from sensormoco.data.bands import BIGEARTHNET_V2_NORMALIZATION
from sensormoco.evaluation.bigearthnet_data import load_bigearthnet
from sensormoco.evaluation.bigearthnet_v2_data import LabelledBigEarthNetV2


def test_loads_the_official_v2_splits(benv2_lmdb: Path, benv2_tree: Path):
    a, b = load_bigearthnet(benv2_lmdb), load_bigearthnet(benv2_tree)
    assert isinstance(a, LabelledBigEarthNetV2)
    assert isinstance(b, LabelledBigEarthNetV2)
    assert [len(a.parts[p]) for p in ("train", "validation", "test")] == [6, 6, 6]
    assert a.skipped == 6  # the snow/cloud/shadow patches
    assert a.normalization == BIGEARTHNET_V2_NORMALIZATION
    x = next(iter(DataLoader(a.samples(a.test_ids, "multi"), batch_size=6)))
    y = next(iter(DataLoader(b.samples(b.test_ids, "multi"), batch_size=6)))
    assert tuple(x["s1"].shape) == (6, 2, 120, 120)
    assert tuple(x["s2"].shape) == (6, 10, 120, 120)
    assert tuple(x["target"].shape) == (6, 19)
    assert torch.equal(x["target"], a.targets(a.test_ids, "multi"))
    for name in ("s1", "s2", "target"):
        assert torch.equal(x[name], y[name])
    assert a.fingerprint(a.test_ids) != b.fingerprint(b.test_ids)  # different sources
    assert a.fingerprint(a.test_ids) == a.fingerprint(list(a.test_ids))
    assert a.fingerprint(a.test_ids) != a.fingerprint(a.test_ids[::-1])
    train, val = a.budget(5, 0)
    assert (len(train), len(val)) == (4, 1)
    assert {p.patch_id for p in a.parts["validation"]} >= set(val)


def test_v2_roots_refuse_v1_split_files(benv2_lmdb: Path, tmp_path: Path):
    with pytest.raises(ValueError, match=r"official splits in metadata\.parquet"):
        load_bigearthnet(benv2_lmdb, "19", tmp_path)
    with pytest.raises(ValueError, match="19-class nomenclature only"):
        load_bigearthnet(benv2_lmdb, "43")


@pytest.mark.slow
@pytest.mark.parametrize(("root", "protocol"), [("benv2_lmdb", "linear"), ("benv2_tree", "knn")])
def test_cli_evaluates_bigearthnet_v2(
    root: str, protocol: str, request: pytest.FixtureRequest, tmp_path: Path
):
    data = request.getfixturevalue(root)
    stats = tmp_path / "stats.json"
    assert main(["stats", "bigearthnet", str(data), "-o", str(stats), "--split", "train"]) == 0
    out = tmp_path / protocol
    code = main(["evaluate", "--dataset", "bigearthnet", "--data", str(data), "--budget",
                 "full", "--seeds", "0", "--protocol", protocol, "--epochs", "1",
                 "--batch-size", "6", "--input", "s1s2", "--backbone", "resnet18",
                 "--stats", str(stats), "--out", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads((out / "metrics.json").read_text())
    assert (result["dataset"], result["scheme"], result["label_type"]) == (
        "bigearthnet", "19", "multi",
    )  # fmt: skip
    assert result["classes"][0] == "Urban fabric"
    assert (result["test_patches"], result["skipped_patches"]) == (6, 6)
    assert result["per_seed"][0]["train"] == 6
    assert set(result["aggregate"]) >= {"micro_f1", "macro_map", "sample_oa", "hamming"}
