"""The demo's data steps write every file the demo's experiment and a reader need."""

from __future__ import annotations

from pathlib import Path

from sensormoco.data.sen12ms.layout import read_id_list
from sensormoco.experiments.demo_data import demo_root, prepare_demo_data


def test_data_steps_run_in_order_and_reuse_the_tree(tmp_path: Path) -> None:
    steps: list[tuple[int, str]] = []
    root = prepare_demo_data(tmp_path, 0, 0, lambda n, text: steps.append((n, text)), 4, 20)
    assert root == demo_root(tmp_path, 0)
    assert [n for n, _ in steps] == [1, 2, 3, 4, 5]
    assert "256 patch ids: 256 usable, 0 bad" in steps[1][1]
    assert steps[4][1].split("; ")[1].startswith("budget 20: 16/4")
    for name in ("index.csv", "labels.csv", "nonoverlapping.txt", "splits/test.txt"):
        assert (tmp_path / name).is_file()
    assert len(read_id_list(tmp_path / "splits" / "budget20_seed0_val.txt")) == 4
    again: list[tuple[int, str]] = []
    prepare_demo_data(tmp_path, 0, 0, lambda n, text: again.append((n, text)), 4, 20)
    assert again[0][1].startswith("synthetic SEN12MS already in")


def test_the_experiment_reads_the_tree_packed_into_a_store(tmp_path: Path) -> None:
    from sensormoco.data.sources import source_kind
    from sensormoco.data.store.format import open_store
    from sensormoco.experiments.demo_data import demo_store

    root = prepare_demo_data(tmp_path, 0, 0, lambda n, text: None, 4, 20)
    store, done = demo_store(tmp_path, root, 0)
    assert store == tmp_path / f"{root.name}-store"
    assert done.startswith("store: 256 patches packed")
    assert source_kind(store).name == "store"
    assert len(open_store(store).ids) == 256
    assert demo_store(tmp_path, root, 0) == (store, f"store: already in {store}")
