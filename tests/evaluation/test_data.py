"""Labelled SEN12MS from a tree and from its packed store: ids and labels, samples on demand."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import torch

from sensormoco.cli.main import main
from sensormoco.data.sen12ms.dataset import SEN12MSDataset
from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.data.store.dataset import StoreDataset
from sensormoco.evaluation.data import LabelledSEN12MS, load_sen12ms


def _same_labels(a: LabelledSEN12MS, b: LabelledSEN12MS) -> None:
    assert a.split == b.split
    assert (a.single, a.multi, a.skipped) == (b.single, b.multi, b.skipped)


def test_a_store_gives_the_trees_labels_split_and_samples(synth_root: Path, synth_store: Path):
    tree = load_sen12ms(synth_root, val_fraction=0.2)
    store = load_sen12ms(synth_store, val_fraction=0.2)
    assert (tree.kind, store.kind) == ("tree", "store")
    assert isinstance(tree.patches, SEN12MSDataset)
    assert isinstance(store.patches, StoreDataset)
    _same_labels(tree, store)  # the store's igbp.npy labels as the tree's lc files do
    assert len(tree.test_ids) == 9
    ids = tree.test_ids[:3] + tree.split.train[:2]
    for label in ("single", "multi"):
        assert torch.equal(tree.targets(ids, label), store.targets(ids, label))
        from_tree, from_store = tree.samples(ids, label), store.samples(ids, label)
        assert len(from_tree) == len(from_store) == len(ids)
        for i in range(len(ids)):
            a, b = from_tree[i], from_store[i]
            assert a.keys() == b.keys() == {"s1", "s2", "target", "index"}
            assert all(torch.equal(a[k], b[k]) for k in a)
            assert int(a["index"]) == i


def test_samples_follow_the_id_order_with_their_targets(synth_root: Path) -> None:
    data = load_sen12ms(synth_root, val_fraction=0.2)
    ids = list(reversed(data.test_ids))
    samples = data.samples(ids, "multi")
    targets = data.targets(ids, "multi")
    assert tuple(targets.shape) == (9, 10)
    assert data.targets(ids, "single").dtype == torch.long
    direct = data.patches[data.patches.ids.index(ids[2])]
    assert torch.equal(samples[2]["s2"], direct["s2"])
    assert torch.equal(samples[2]["target"], targets[2])
    assert set(torch.nonzero(targets[2]).flatten().tolist()) == set(data.multi[ids[2]])


def test_labels_csv_gives_the_same_labels_for_tree_and_store(
    synth_root: Path, synth_store: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "labels.csv"
    assert main(["labels", "sen12ms", str(synth_root), "-o", str(csv)]) == 0
    from_lc = load_sen12ms(synth_root, val_fraction=0.2)
    for source in (synth_root, synth_store):
        _same_labels(load_sen12ms(source, labels_csv=csv, val_fraction=0.2), from_lc)


def test_samples_carry_no_pixels(synth_store: Path) -> None:
    data = load_sen12ms(synth_store, val_fraction=0.2)
    ids = data.split.train
    pixels = len(ids) * 12 * 32 * 32 * 4  # float32 s1 + s2 of every sample
    assert len(pickle.dumps(data.samples(ids, "single"))) < pixels / 20  # what workers get


def test_fingerprint_follows_ids_and_files(synth_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(synth_root, root)
    data = load_sen12ms(root, val_fraction=0.2)
    ids = data.test_ids
    first = data.fingerprint(ids)
    assert data.fingerprint(list(ids)) == first
    assert len({first, data.fingerprint(ids[:-1]), data.fingerprint(ids[::-1])}) == 3
    assert isinstance(data.patches, SEN12MSDataset)
    s2 = root / data.patches.records[data.positions[ids[0]]].paths["s2"]
    stat = s2.stat()
    os.utime(s2, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten in place
    assert data.fingerprint(ids) != first


def test_store_fingerprint_is_its_manifest(synth_root: Path, synth_store: Path, tmp_path: Path):
    whole = load_sen12ms(synth_store, val_fraction=0.2)
    ids = whole.test_ids
    write_id_list(tmp_path / "ids.txt", ids + whole.split.train[:40] + whole.split.val)
    other = tmp_path / "store"
    assert main(["pack", "sen12ms", str(synth_root), "-o", str(other), "--ids",
                 str(tmp_path / "ids.txt")]) == 0  # fmt: skip
    part = load_sen12ms(other, val_fraction=0.2)
    assert part.test_ids == ids
    assert whole.fingerprint(ids) == load_sen12ms(synth_store, val_fraction=0.2).fingerprint(ids)
    assert part.fingerprint(ids) != whole.fingerprint(ids)
