"""BigEarthNet v2 on the real configilm sample: metadata, LMDB and tree readers, dataset, and
each bad input with its one-line message."""

from __future__ import annotations

import shutil
from pathlib import Path

import lmdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import torch
import torch.nn.functional as F
from safetensors.numpy import load as load_safetensors

from sensormoco.data.bands import BIGEARTHNET_S2_BANDS
from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.data.bigearthnet.v1 import FILE_SUFFIX
from sensormoco.data.bigearthnet.v2 import detect_version, open_source
from sensormoco.data.bigearthnet.v2_dataset import open_bigearthnet
from sensormoco.data.bigearthnet.v2_lmdb import open_environment
from sensormoco.data.bigearthnet.v2_metadata import METADATA, read_metadata_parquet
from sensormoco.data.bigearthnet.v2_tree import patch_dir
from sensormoco.data.geotiff import write_raster
from sensormoco.errors import DataError
from tests.data.benv2_sample import LMDB_FOLDER, PARQUETS


def raw(root: Path, key: str) -> dict[str, np.ndarray]:
    """The arrays of ``key`` straight from the sample's LMDB."""
    with open_environment(root / LMDB_FOLDER).begin() as txn:
        return load_safetensors(bytes(txn.get(key.encode())))


def test_the_sample_has_18_usable_patches_and_6_left_out(benv2_lmdb: Path, benv2_tree: Path):
    for root, kind in ((benv2_lmdb, "v2-lmdb"), (benv2_tree, "v2-tree")):
        assert detect_version(root) == kind
        meta = open_source(root).metadata
        assert [len(meta.split(s)) for s in ("train", "validation", "test")] == [6, 6, 6]
        assert len(meta.left_out) == 6
        reasons = sorted(p.left_out_reason or "" for p in meta.left_out)
        assert reasons == ["cloud or shadow"] * 3 + ["seasonal snow"] * 3
        assert "left out 6 snow/cloud/shadow" in meta.summary()
        kept = open_source(root, keep_snow_cloud=True).metadata
        assert (len(kept.patches), kept.left_out) == (24, [])


def test_labels_are_the_parquets_in_the_original_19_class_order(benv2_lmdb: Path):
    assert (CLASSES_19[0], CLASSES_19[4], CLASSES_19[18]) == (
        "Urban fabric", "Pastures", "Marine waters",
    )  # fmt: skip
    expected: dict[str, list[str]] = {}
    for name in PARQUETS:
        table = pq.read_table(benv2_lmdb / name)
        expected |= dict(zip(table["patch_id"].to_pylist(), table["labels"].to_pylist(),
                             strict=True))  # fmt: skip
    patches = open_source(benv2_lmdb, keep_snow_cloud=True).metadata.patches
    assert len(patches) == len(expected) == 24
    for p in patches:
        assert set(p.names) == set(expected[p.patch_id])
        assert p.multi == tuple(sorted(CLASSES_19.index(n) + 1 for n in expected[p.patch_id]))
    first = next(p for p in patches if p.patch_id.endswith("T33UUP_37_88"))
    assert first.multi == (5, 9, 10, 11, 18)  # Pastures, 3 forests, Inland waters
    assert first.s2v1_name == "S2A_MSIL2A_20170613T101031_37_88"
    assert first.s1_name == "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_37_88"


def test_pixels_are_the_lmdb_arrays_vv_first_and_bilinear_on_the_10m_grid(benv2_lmdb: Path):
    source = open_source(benv2_lmdb)
    patch = source.metadata.patches[0]
    s1, s2 = source.read_s1(patch), source.read_s2(patch)  # 2 x 120 x 120, 12 x 120 x 120
    arrays = raw(benv2_lmdb, patch.s1_name)
    assert np.array_equal(s1[0], arrays["VV"])
    assert np.array_equal(s1[1], arrays["VH"])
    assert not np.array_equal(arrays["VV"], arrays["VH"])
    bands = raw(benv2_lmdb, patch.patch_id)
    for i, band in enumerate(BIGEARTHNET_S2_BANDS):
        data = bands[FILE_SUFFIX[band]]
        # the authors' "120_bilinear" (their statistics): torch bilinear, align_corners False
        x = torch.from_numpy(data.astype(np.float32))[None, None]  # 1 x 1 x H x W
        reference = F.interpolate(x, (120, 120), mode="bilinear", align_corners=False)[0, 0]
        np.testing.assert_allclose(s2[i], reference.numpy(), rtol=1e-5)  # float32 rounding
        if data.shape == (120, 120):
            assert np.array_equal(s2[i], data.astype(np.float32))


def test_lmdb_and_tree_roots_give_identical_samples(benv2_lmdb: Path, benv2_tree: Path):
    a = open_bigearthnet(benv2_lmdb, keep_snow_cloud=True, s2_bands="s2-bigearthnet")
    b = open_bigearthnet(benv2_tree, keep_snow_cloud=True, s2_bands="s2-bigearthnet")
    assert a.ids == b.ids
    assert len(a) == 24
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert set(x) == {"s1", "s2", "target", "index"}
        assert tuple(x["s2"].shape) == (12, 120, 120)
        assert tuple(x["s1"].shape) == (2, 120, 120)
        for key in x:
            assert torch.equal(x[key], y[key]), (a.ids[i], key)


def test_splits_select_the_official_parts(benv2_lmdb: Path):
    test = open_bigearthnet(benv2_lmdb, "test")
    assert len(test) == 6
    assert {p.split for p in test.patches} == {"test"}
    assert len(open_bigearthnet(benv2_lmdb, ("train", "validation"))) == 12
    with pytest.raises(ValueError, match="unknown BigEarthNet v2 split 'val'"):
        open_bigearthnet(benv2_lmdb, "val")


# --- bad inputs, each a one-line error naming the patch or file -----------------------------


def _copy(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / root.name
    shutil.copytree(root, out)
    return out


def _one_line(message: str, *parts: str) -> None:
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_a_missing_band_file(benv2_tree: Path, tmp_path: Path):
    root = _copy(benv2_tree, tmp_path)
    source = open_source(root)
    patch = source.metadata.patches[0]
    (patch_dir(root, patch.patch_id) / f"{patch.patch_id}_B05.tif").unlink()
    with pytest.raises(DataError) as info:
        source.read_s2(patch)
    _one_line(str(info.value), patch.patch_id, "no B05 band file")
    assert source.check(patch) == str(info.value)
    assert source.check(source.metadata.patches[1]) is None


def test_a_band_of_the_wrong_size(benv2_tree: Path, tmp_path: Path):
    root = _copy(benv2_tree, tmp_path)
    source = open_source(root)
    patch = source.metadata.patches[0]
    path = patch_dir(root, patch.patch_id) / f"{patch.patch_id}_B8A.tif"
    with rasterio.open(path) as src:
        data, crs, transform = src.read(), src.crs.to_string(), src.transform
    write_raster(path, np.repeat(np.repeat(data, 2, 1), 2, 2), crs, transform)  # 1 x 120 x 120
    with pytest.raises(DataError) as info:
        source.read_s2(patch)
    _one_line(str(info.value), patch.patch_id, "B8A is 120 x 120 pixels, expected 60 x 60")


def test_a_truncated_lmdb_value(benv2_lmdb: Path, tmp_path: Path):
    root = _copy(benv2_lmdb, tmp_path)
    source = open_source(root)
    patch = source.metadata.patches[2]
    env = lmdb.open(str(root / LMDB_FOLDER))
    with env.begin(write=True) as txn:
        value = txn.get(patch.s1_name.encode())
        assert value is not None
        txn.put(patch.s1_name.encode(), value[: len(value) // 2])
    env.close()
    with pytest.raises(DataError) as info:
        source.read_s1(patch)
    _one_line(str(info.value), f"[{patch.s1_name}]", "truncated or corrupt safetensors value")
    assert info.value.kind == "truncated"


def _rewrite_parquet(root: Path, change: str) -> Path:
    path = root / METADATA
    table = pq.read_table(path)
    if change == "drop s1_name":
        table = table.drop_columns(["s1_name"])
    else:
        labels = table["labels"].to_pylist()
        labels[3] = [*labels[3][:-1], "Broadleaved forest"]
        column = table.schema.get_field_index("labels")
        table = table.set_column(column, "labels", pa.array(labels))
    pq.write_table(table, path)
    return path


def test_a_parquet_without_a_needed_column(benv2_lmdb: Path, tmp_path: Path):
    root = _copy(benv2_lmdb, tmp_path)
    path = _rewrite_parquet(root, "drop s1_name")
    with pytest.raises(DataError) as info:
        open_source(root)
    _one_line(str(info.value), str(path), "no column 's1_name'")


def test_an_unknown_label_name(benv2_lmdb: Path, tmp_path: Path):
    root = _copy(benv2_lmdb, tmp_path)
    _rewrite_parquet(root, "bad label")
    pid = read_metadata_parquet(benv2_lmdb / METADATA)[3].patch_id
    with pytest.raises(DataError) as info:
        open_source(root)
    _one_line(str(info.value), pid, "unknown BigEarthNet-19 label 'Broadleaved forest'")


@pytest.mark.parametrize("kind", ["tree", "lmdb"])
def test_an_s2_patch_without_its_s1_partner(
    kind: str, benv2_lmdb: Path, benv2_tree: Path, tmp_path: Path
):
    root = _copy(benv2_tree if kind == "tree" else benv2_lmdb, tmp_path)
    source = open_source(root)
    patch = source.metadata.patches[4]
    if kind == "tree":
        shutil.rmtree(patch_dir(root, patch.s1_name))
    else:
        env = lmdb.open(str(root / LMDB_FOLDER))
        with env.begin(write=True) as txn:
            txn.delete(patch.s1_name.encode())
        env.close()
        source = open_source(root)  # the key set is read once per reader
    for read_pixels in (True, False):
        message = source.check(patch, read_pixels) or ""
        _one_line(message, patch.patch_id, f"its S1 partner {patch.s1_name} is not in")


def test_version_detection(benv2_lmdb: Path, tmp_path: Path):
    assert detect_version(tmp_path) == "v1"
    with pytest.raises(DataError, match="not a BigEarthNet v2 root"):
        open_source(tmp_path)
    shutil.copy(benv2_lmdb / METADATA, tmp_path / METADATA)
    with pytest.raises(DataError, match="neither an LMDB folder"):
        detect_version(tmp_path)
    with pytest.raises(DataError, match="no such data directory"):
        detect_version(tmp_path / "absent")


def test_forked_loader_workers_read_the_lmdb_the_parent_has_open(benv2_lmdb: Path):
    dataset = open_bigearthnet(benv2_lmdb)
    expected = torch.stack([dataset[i]["s2"] for i in range(len(dataset))])  # parent reads first
    loader = torch.utils.data.DataLoader(dataset, batch_size=6, num_workers=2,
                                         multiprocessing_context="fork")  # fmt: skip
    got = torch.cat([batch["s2"] for batch in loader])
    assert torch.equal(got, expected)


def test_a_parquet_that_is_not_one_or_has_labels_as_text(benv2_lmdb: Path, tmp_path: Path):
    path = tmp_path / METADATA
    path.write_bytes(b"PAR1 not really a parquet file")
    with pytest.raises(DataError) as info:
        read_metadata_parquet(path)
    _one_line(str(info.value), str(path), "not a readable parquet file")
    table = pq.read_table(benv2_lmdb / METADATA)
    labels = [";".join(x) for x in table["labels"].to_pylist()]
    column = table.schema.get_field_index("labels")
    pq.write_table(table.set_column(column, "labels", pa.array(labels)), path)
    with pytest.raises(DataError, match="column 'labels' must be a list of names, not string"):
        read_metadata_parquet(path)


@pytest.mark.parametrize(("column", "message"), [
    ("split", "unknown split 'val' in"), ("patch_id", "listed twice in"),
])  # fmt: skip
def test_an_unknown_split_or_a_patch_listed_twice(
    column: str, message: str, benv2_lmdb: Path, tmp_path: Path
):
    table = pq.read_table(benv2_lmdb / METADATA)
    values = table[column].to_pylist()
    values[2] = "val" if column == "split" else values[1]
    path = tmp_path / METADATA
    index = table.schema.get_field_index(column)
    pq.write_table(table.set_column(index, column, pa.array(values)), path)
    with pytest.raises(DataError) as info:
        read_metadata_parquet(path)
    _one_line(str(info.value), table["patch_id"][1 if column == "patch_id" else 2].as_py(),
              message, str(path))  # fmt: skip
