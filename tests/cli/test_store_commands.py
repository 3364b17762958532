"""labels, stats, subset and split read a packed store as ROOT, with the tree's results."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensormoco.cli.main import main
from sensormoco.data.store.pack import pack_sen12ms


@pytest.fixture(scope="module")
def store(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "store"
    pack_sen12ms(synth_root, out)
    return out


def _both(synth_root: Path, store: Path, tmp_path: Path, *args: str) -> tuple[Path, Path]:
    outs = []
    for name, root in (("tree", synth_root), ("store", store)):
        out = tmp_path / name
        assert main([args[0], "sen12ms", str(root), "-o", str(out), *args[1:]]) == 0
        outs.append(out)
    return outs[0], outs[1]


def test_labels_equal(synth_root: Path, store: Path, tmp_path: Path) -> None:
    tree, packed = _both(synth_root, store, tmp_path, "labels", "--scheme", "igbp17")
    assert tree.read_text().count("\n") == 73
    assert tree.read_bytes() == packed.read_bytes()


def test_stats_equal(synth_root: Path, store: Path, tmp_path: Path) -> None:
    tree, packed = _both(synth_root, store, tmp_path, "stats", "--split", "all")
    assert tree.read_bytes() == packed.read_bytes()


def test_subset_equal(synth_root: Path, store: Path, tmp_path: Path) -> None:
    tree, packed = _both(synth_root, store, tmp_path, "subset", "--non-overlapping")
    assert 0 < tree.read_text().count("\n") < 72
    assert tree.read_bytes() == packed.read_bytes()


def test_split_equal(synth_root: Path, store: Path, tmp_path: Path, capsys) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(
        "".join(f"{p}\n" for p in sorted(store.joinpath("ids.txt").read_text().split())[:50])
    )
    tree, packed = _both(synth_root, store, tmp_path, "split", "--ids", str(ids), "--budget", "8")
    names = sorted(p.name for p in tree.iterdir())
    assert names == sorted(p.name for p in packed.iterdir())
    assert len(names) > 3
    for name in names:
        assert (tree / name).read_bytes() == (packed / name).read_bytes(), name
    capsys.readouterr()
    args = ["split", "sen12ms", str(store), "-o", str(tmp_path / "x"), "--index", str(ids)]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert f"{store}: is a packed store; --index applies to a GeoTIFF tree" in err
