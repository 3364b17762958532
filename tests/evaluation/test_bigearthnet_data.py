"""Evaluation on the six real BigEarthNet-MM example pairs (multi-label, 19 classes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.cli.main import main
from sensormoco.errors import DataError
from sensormoco.evaluation.bigearthnet_data import LabelledBigEarthNet, load_bigearthnet

S2 = [
    ("S2A_MSIL2A_20170613T101031_87_48", "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"),
    ("S2A_MSIL2A_20170617T113321_36_85", "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85"),
    ("S2A_MSIL2A_20170617T113321_4_55", "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_4_55"),
    ("S2B_MSIL2A_20170924T93020_69_24", "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24"),
    ("S2A_MSIL2A_20171221T112501_56_35", "S1A_IW_GRDH_1SDV_20171221T064238_29SND_56_35"),
    ("S2B_MSIL2A_20180204T94161_57_38", "S1A_IW_GRDH_1SDV_20180204T043253_35VPK_57_38"),
]


@pytest.fixture
def splits(tmp_path: Path) -> Path:
    for name, rows in (("train", S2[:3]), ("val", S2[3:4]), ("test", S2[4:])):
        (tmp_path / f"{name}.csv").write_text("".join(f"{a},{b}\n" for a, b in rows))
    return tmp_path


def test_loads_the_official_split_of_the_real_pairs(ben: tuple[Path, Path], splits: Path):
    data = load_bigearthnet(ben[0].parent, "19", splits)
    assert isinstance(data, LabelledBigEarthNet)
    assert [len(data.parts[p]) for p in ("train", "val", "test")] == [3, 1, 2]
    test = next(iter(DataLoader(data.samples(data.test_ids, "multi"), batch_size=2)))
    assert tuple(test["s1"].shape) == (2, 2, 120, 120)
    assert tuple(test["s2"].shape) == (2, 10, 120, 120)
    assert tuple(test["target"].shape) == (2, 19)
    assert torch.equal(test["target"], data.targets(data.test_ids, "multi"))
    assert data.budget(4, 0) == ([a for a, _ in S2[:3]], [S2[3][0]])


def test_missing_split_file_is_a_one_line_error(ben: tuple[Path, Path], tmp_path: Path):
    with pytest.raises(DataError, match=r"train\.csv: no official split file"):
        load_bigearthnet(ben[0].parent, "19", tmp_path)


def test_cli_evaluates_bigearthnet_multi_label(ben: tuple[Path, Path], splits: Path, tmp_path):
    out = tmp_path / "run"
    code = main(["evaluate", "--dataset", "bigearthnet", "--data", str(ben[0].parent),
                 "--splits", str(splits), "--budget", "4", "--seeds", "0", "--protocol", "knn",
                 "--input", "s1s2", "--backbone", "resnet18", "--out", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads((out / "metrics.json").read_text())
    assert (result["dataset"], result["scheme"], result["label_type"]) == ("bigearthnet", "19",
                                                                          "multi")  # fmt: skip
    assert len(result["classes"]) == 19
    assert set(result["aggregate"]) >= {"micro_f1", "macro_map", "sample_oa", "hamming"}
