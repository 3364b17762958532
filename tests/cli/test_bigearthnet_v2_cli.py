"""``index|labels|stats bigearthnet`` on the real BigEarthNet v2 sample (configilm)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.numpy import load as load_safetensors

from sensormoco.cli.main import main
from sensormoco.data.bands import BIGEARTHNET_V2_STATISTICS
from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.data.bigearthnet.v1 import FILE_SUFFIX, NATIVE_SIZE
from sensormoco.data.bigearthnet.v2_lmdb import open_environment
from sensormoco.data.bigearthnet.v2_tree import patch_dir
from tests.data.benv2_sample import LMDB_FOLDER, PARQUETS


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("root", ["benv2_lmdb", "benv2_tree"])
def test_index_lists_18_usable_and_6_left_out(
    root: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = request.getfixturevalue(root)
    out = tmp_path / "index.csv"
    assert main(["index", "bigearthnet", str(data), "-o", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["patch_id", "split", "status", "s1_name", "s2v1_name"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert [sum(r["split"] == s for r in ok) for s in ("train", "validation", "test")] == [6] * 3
    left = [r for r in rows if r["status"].startswith("left out: ")]
    assert len(left) == 6
    assert len(rows) == 24
    assert "18 usable (train 6, validation 6, test 6), 0 bad, 6 snow/cloud/shadow left out" in (
        capsys.readouterr().out
    )
    assert main(["index", "bigearthnet", str(data), "-o", str(out), "--keep-snow-cloud"]) == 0
    assert all(r["status"] == "ok" for r in _rows(out))


def test_index_reports_a_missing_band_file(benv2_tree: Path, tmp_path: Path):
    root = tmp_path / "tree"
    shutil.copytree(benv2_tree, root)
    first = _rows_of_parquet(root)[0]
    (patch_dir(root, first) / f"{first}_B11.tif").unlink()
    out = tmp_path / "index.csv"
    assert main(["index", "bigearthnet", str(root), "-o", str(out)]) == 0
    status = {r["patch_id"]: r["status"] for r in _rows(out)}
    assert f"no B11 band file ({first}_B11.tif)" in status[first]
    assert sum(s == "ok" for s in status.values()) == 17
    # presence only: the band is not looked at
    assert main(["index", "bigearthnet", str(root), "-o", str(out), "--headers-only"]) == 0
    assert sum(r["status"] == "ok" for r in _rows(out)) == 18


def _rows_of_parquet(root: Path, name: str = PARQUETS[0]) -> list[str]:
    return [str(p) for p in pq.read_table(root / name)["patch_id"].to_pylist()]


def test_labels_are_the_parquets_numbers_in_original_order(benv2_lmdb: Path, tmp_path: Path):
    out = tmp_path / "labels.csv"
    assert main(["labels", "bigearthnet", str(benv2_lmdb), "-o", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["patch_id", "split", "multi", "names"]
    table = pq.read_table(benv2_lmdb / PARQUETS[0])
    expected = dict(zip(table["patch_id"].to_pylist(), table["labels"].to_pylist(), strict=True))
    splits = dict(zip(table["patch_id"].to_pylist(), table["split"].to_pylist(), strict=True))
    assert [r["patch_id"] for r in rows] == list(expected)
    for r in rows:
        numbers = [int(n) for n in r["multi"].split(";")]
        assert numbers == sorted(CLASSES_19.index(n) + 1 for n in expected[r["patch_id"]])
        assert r["names"].split(";") == [CLASSES_19[n - 1] for n in numbers]
        assert r["split"] == splits[r["patch_id"]]


def test_stats_of_the_train_split_are_the_lmdb_arrays_means(benv2_lmdb: Path, tmp_path: Path):
    out = tmp_path / "stats.json"
    assert main(["stats", "bigearthnet", str(benv2_lmdb), "-o", str(out), "--split", "train"]) == 0
    stats = json.loads(out.read_text())
    assert list(stats)[:3] == ["VV", "VH", "B1"]
    assert len(stats) == 14
    table = pq.read_table(benv2_lmdb / PARQUETS[0]).to_pylist()
    train = [r for r in table if r["split"] == "train"]
    assert len(train) == 6
    arrays: dict[str, list[np.ndarray]] = {}
    with open_environment(benv2_lmdb / LMDB_FOLDER).begin() as txn:
        for r in train:
            for key in (r["patch_id"], r["s1_name"]):
                for band, data in load_safetensors(bytes(txn.get(key.encode()))).items():
                    arrays.setdefault(band, []).append(data.astype(np.float64))
    for band, value in stats.items():
        mean = float(np.mean(arrays[FILE_SUFFIX[band]]))
        # bands at 120 px are not resampled; bilinear upsampling keeps the mean within ~0.5 %
        rtol = 1e-9 if NATIVE_SIZE[band] == 120 else 5e-3
        assert value["mean"] == pytest.approx(mean, rel=rtol), band
        assert value["std"] > 0


def test_a_parquet_without_a_needed_column_is_one_line(
    benv2_lmdb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    root = tmp_path / "lmdb"
    shutil.copytree(benv2_lmdb, root)
    table = pq.read_table(root / PARQUETS[0]).drop_columns(["split"])
    pq.write_table(table, root / PARQUETS[0])
    assert main(["labels", "bigearthnet", str(root), "-o", str(tmp_path / "l.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert f"{root / PARQUETS[0]}: no column 'split'" in err
    assert not (tmp_path / "l.csv").exists()


def test_a_v1_root_is_refused_by_the_v2_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["labels", "bigearthnet", str(tmp_path), "-o", str(tmp_path / "l.csv")]) == 2
    assert "not a BigEarthNet v2 root (no metadata.parquet)" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(("root", "mode"), [("benv2_lmdb", "sensor-pairs"),
                                            ("benv2_tree", "fusion-partial")])  # fmt: skip
def test_pretrain_runs_on_bigearthnet_v2_pairs(
    root: str, mode: str, request: pytest.FixtureRequest, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
):  # fmt: skip
    data = request.getfixturevalue(root)
    out = tmp_path / "run"
    code = main(["pretrain", "--data", str(data), "--out", str(out), "--mode", mode,
                 "--config", "cpu-small", "--crop-size", "32", "--batch-size", "4",
                 "--queue-size", "16", "--workers", "0", "--max-steps", "3",
                 "--log-every", "1"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3
    assert (summary["patches"], summary["excluded_test_patches"]) == (12, 6)
    assert np.isfinite(summary["final_loss"])
    assert "6 snow/cloud/shadow patch(es)" in capsys.readouterr().err
    payload = torch.load(out / summary["encoder"], map_location="cpu", weights_only=True)
    assert payload["metadata"]["normalization"]["VV"]["mean"] == BIGEARTHNET_V2_STATISTICS["VV"][0]
