"""The packed store: identical samples to the tree, validation, restart, skipped triplets."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sensormoco.data.bands import SEN12MS_NORMALIZATION
from sensormoco.data.samples import SampleOptions
from sensormoco.data.sen12ms.index import build_index
from sensormoco.data.sen12ms.labels import read_lc_fractions
from sensormoco.data.sen12ms.layout import PatchId, write_id_list
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.data.store import chunks as store_chunks
from sensormoco.data.store.dataset import StoreDataset, open_patches
from sensormoco.data.store.format import open_store
from sensormoco.data.store.pack import pack_sen12ms
from sensormoco.errors import DataError

CHUNK = 16  # 72 patches: chunks of 16, 16, 16, 16, 8


@pytest.fixture(scope="module")
def packed(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "store"
    pack_sen12ms(synth_root, out, chunk_rows=CHUNK)
    return out


def assert_same_samples(a: Dataset[dict[str, Tensor]], b: Dataset[dict[str, Tensor]]) -> None:
    assert len(a) == len(b)  # type: ignore[arg-type]
    for i in range(len(a)):  # type: ignore[arg-type]
        x, y = a[i], b[i]
        assert x.keys() == y.keys()
        for key in x:
            assert x[key].dtype == y[key].dtype, key
            assert torch.equal(x[key], y[key]), (i, key)


def test_tree_and_store_give_identical_samples(synth_root: Path, packed: Path) -> None:
    targets = {pid: torch.from_numpy(f) for pid, f in open_store(packed).igbp_fractions().items()}
    tree = open_patches(synth_root, with_lc=True, targets=targets)
    store = open_patches(packed, with_lc=True, targets=targets)
    assert (tree.kind, store.kind) == ("tree", "store")
    assert tree.ids == store.ids == sorted(tree.ids)
    assert len(tree.ids) == 72
    assert_same_samples(tree.dataset, store.dataset)
    sample = store.dataset[3]
    assert set(sample) == {"s1", "s2", "index", "lc", "target"}
    assert sample["s2"].shape == (10, 32, 32)
    tree, store = (
        open_patches(p, s1_bands=["VH"], s2_bands="s2-all", normalization=None)
        for p in (synth_root, packed)
    )
    assert_same_samples(tree.dataset, store.dataset)


def test_preprocessing_is_the_tree_readers(tmp_path: Path, make_triplet) -> None:
    s1 = np.full((2, 16, 16), -8.0, np.float32)
    s1[0, :2, :2] = [[np.nan, np.inf], [-np.inf, 3.0]]
    s1[1, 5, 5] = -40.0
    s2 = np.full((13, 16, 16), 12000, np.uint16)
    s2[:, 0, 0] = 0
    make_triplet(tmp_path / "tree", "ROIs1158_spring_1_p1", s1=s1, s2=s2)
    make_triplet(tmp_path / "tree", "ROIs1158_spring_1_p2", seed=1)
    pack_sen12ms(tmp_path / "tree", tmp_path / "store")
    opened = open_store(tmp_path / "store")
    assert np.array_equal(opened.read("s1", 0), s1, equal_nan=True)  # stored as in the file
    assert opened.manifest["s1_nonfinite"] == {"pixels": 3, "patches": 1}
    cases = [("s2-land", SEN12MS_NORMALIZATION), ("s2-land", None), (["B12", "B1", "B10"], None)]
    for bands, norm in cases:
        tree, store = (
            open_patches(tmp_path / p, s2_bands=bands, normalization=norm)
            for p in ("tree", "store")
        )
        assert_same_samples(tree.dataset, store.dataset)


def test_store_contents(synth_root: Path, packed: Path) -> None:
    store = open_store(packed)
    manifest = store.manifest
    assert (manifest["count"], manifest["height"], manifest["width"]) == (72, 32, 32)
    assert manifest["arrays"]["s2"]["bands"][10] == "B10"
    assert manifest["source"]["root"] == str(synth_root.resolve())
    assert np.load(packed / "s2.npy", mmap_mode="r").shape == (72, 13, 32, 32)
    index = {r.patch_id: r for r in build_index(synth_root, read_pixels=False).records}
    first = store.footprints()[0]
    assert (first.crs, first.bounds) == (index[first.patch_id].crs, index[first.patch_id].bounds)
    fractions = store.igbp_fractions()
    pid = store.ids[7]
    expected, _ = read_lc_fractions(synth_root / index[pid].paths["lc"])
    assert np.array_equal(fractions[pid], expected)
    assert store.verify() == []


def test_subset_via_ids(synth_root: Path, tmp_path: Path) -> None:
    all_ids = sorted(r.patch_id for r in build_index(synth_root, read_pixels=False).records)
    chosen = [all_ids[i] for i in (40, 3, 17, 60, 8)]
    nowhere = PatchId("ROIs2017_winter", 999, 1)
    ids_file = tmp_path / "ids.txt"
    write_id_list(ids_file, [*chosen, nowhere])
    summary = pack_sen12ms(synth_root, tmp_path / "store", ids_file, chunk_rows=2)
    assert (summary.rows, summary.absent, summary.skipped) == (5, 1, {})
    store = open_store(tmp_path / "store")
    assert store.ids == sorted(chosen)
    assert store.skipped() == {nowhere: "absent"}
    wanted = [chosen[0], chosen[2], nowhere]
    tree, packed = open_patches(synth_root, wanted), open_patches(tmp_path / "store", wanted)
    assert tree.ids == packed.ids == sorted(wanted[:2])
    assert tree.absent == packed.absent == [nowhere]
    assert_same_samples(tree.dataset, packed.dataset)


def _copy(packed: Path, tmp_path: Path) -> Path:
    shutil.copytree(packed, tmp_path / "copy")
    return tmp_path / "copy"


def _one_line_error(path: Path, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern) as caught:
        open_store(path)
    assert "\n" not in str(caught.value)


def test_truncated_missing_and_wrong_version(packed: Path, tmp_path: Path) -> None:
    store = _copy(packed, tmp_path)
    with (store / "s2.npy").open("r+b") as f:
        f.truncate(5000)
    _one_line_error(store, r"copy/s2\.npy: 5000 bytes, expected 1917056 \(truncated\?\)")
    (store / "s2.npy").unlink()
    _one_line_error(store, r"copy/s2\.npy: missing array file of the store")
    shutil.copy(packed / "s2.npy", store / "s2.npy")
    manifest = json.loads((store / "manifest.json").read_text())
    (store / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    _one_line_error(
        store,
        r"copy/manifest\.json: format version 99, this sensormoco reads "
        r"version 1",
    )
    (store / "manifest.json").write_text(json.dumps(manifest))
    (store / "ids.txt").write_text((packed / "ids.txt").read_text().replace("p1\n", "p2\n", 1))
    _one_line_error(store, r"copy/ids\.txt: does not match its sha256")
    (store / "manifest.json").unlink()
    _one_line_error(store, r"copy/manifest\.json: missing: not a packed store")


def test_verify_names_corrupt_rows(packed: Path, tmp_path: Path) -> None:
    store = _copy(packed, tmp_path)
    size = 13 * 32 * 32 * 2
    with (store / "s2.npy").open("r+b") as f:
        f.seek(128 + 20 * size + 99)  # row 20: chunk 1 (rows 16-31)
        f.write(b"\xff\xff")
    problems = open_store(store).verify()
    assert problems == [f"{store / 's2.npy'}: rows 16-31 do not match their sha256 (corrupt)"]


def test_interrupted_pack_resumes(
    synth_root: Path, packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store_chunks.write_chunk

    def crash_at_chunk_2(partial, number: int, *args):
        if number == 2:
            raise RuntimeError("simulated crash")
        return real(partial, number, *args)

    monkeypatch.setattr(store_chunks, "write_chunk", crash_at_chunk_2)
    out = tmp_path / "store"
    with pytest.raises(RuntimeError, match="simulated crash"):
        pack_sen12ms(synth_root, out, chunk_rows=CHUNK)
    assert not out.exists()
    assert sorted(p.name for p in (tmp_path / "store.partial" / "chunks").iterdir()) == [
        "000000.json",
        "000001.json",
    ]
    with pytest.raises(DataError, match=r"store: an interrupted pack, not a store yet"):
        open_store(out)
    with pytest.raises(DataError, match="an interrupted pack of other inputs"):
        pack_sen12ms(synth_root, out, chunk_rows=CHUNK + 1)
    monkeypatch.setattr(store_chunks, "write_chunk", real)
    summary = pack_sen12ms(synth_root, out, chunk_rows=CHUNK)
    assert (summary.resumed, summary.chunks, summary.rows) == (2, 5, 72)
    assert not (tmp_path / "store.partial").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in packed.iterdir())
    for path in packed.iterdir():
        if path.name != "manifest.json":
            assert (out / path.name).read_bytes() == path.read_bytes(), path.name
    manifests = [json.loads((p / "manifest.json").read_text()) for p in (out, packed)]
    for manifest in manifests:
        del manifest["created"]
    assert manifests[0] == manifests[1]


def test_bad_triplets_are_skipped_and_counted(tmp_path: Path, make_triplet) -> None:
    root = tmp_path / "tree"
    make_triplet(root, "ROIs1158_spring_1_p1")
    make_triplet(root, "ROIs1158_spring_1_p2", lc=None)  # found by the index scan
    make_triplet(root, "ROIs1158_spring_1_p3", s1=np.full((2, 16, 16), np.nan, np.float32))
    make_triplet(root, "ROIs1158_spring_1_p4")
    summary = pack_sen12ms(root, tmp_path / "store")
    assert (summary.rows, summary.skipped) == (2, {"missing": 1, "nan": 1})
    assert summary.first_problem.endswith("missing lc file of patch ROIs1158_spring_1_p2")
    store = open_store(tmp_path / "store")
    assert store.manifest["skipped"] == {"missing": 1, "nan": 1}
    assert "every S1 pixel is NaN or Inf" in (tmp_path / "store" / "skipped.csv").read_text()
    assert [str(p) for p in store.ids] == ["ROIs1158_spring_1_p1", "ROIs1158_spring_1_p4"]
    assert open_patches(tmp_path / "store").skipped_bad == 2


def test_existing_store_is_not_overwritten(synth_root: Path, packed: Path) -> None:
    before = (packed / "manifest.json").read_bytes()
    with pytest.raises(DataError, match="is already a packed store; remove it"):
        pack_sen12ms(synth_root, packed)
    assert (packed / "manifest.json").read_bytes() == before


def test_workers_read_the_same_samples(packed: Path) -> None:
    dataset = StoreDataset(packed, options=SampleOptions(with_lc=True))
    dataset[0]  # descriptors opened here must not travel to the workers
    assert len(pickle.dumps(dataset)) < 20_000
    batches = [list(DataLoader(dataset, batch_size=8, num_workers=n)) for n in (0, 2)]
    for a, b in zip(*batches, strict=True):
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_open_patches_excludes_alike(synth_root: Path, packed: Path) -> None:
    tree, store = (open_patches(p, exclude=is_test) for p in (synth_root, packed))
    assert tree.ids == store.ids
    assert tree.excluded == store.excluded > 0
    assert not any(is_test(p) for p in store.ids)
