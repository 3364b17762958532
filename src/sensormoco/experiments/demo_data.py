"""The embedded default's data steps: synthesise SEN12MS, index and validate it, labels, the
non-overlapping subset, the official split and the label budgets, each written into the demo
folder. An existing synthetic tree is reused (synthesis is all-or-nothing). The experiment then
reads the tree packed into a store (:func:`demo_store`): the same samples, about 7x less CPU
per patch read than decoding its GeoTIFFs (docs/performance.md, "The demo").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sensormoco import defaults
from sensormoco.data.sen12ms.index import build_index, write_index_csv
from sensormoco.data.sen12ms.labels import label_rows, read_many_lc_fractions
from sensormoco.data.sen12ms.labels_csv import write_labels_csv
from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.data.sen12ms.splits import official_split, write_budget, write_split
from sensormoco.data.sen12ms.subset import footprints, non_overlapping
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.data.store.pack import pack_sen12ms

DATA_DIR = "sen12ms-synthetic"
DATA_STEPS = 5
Step = Callable[[int, str], None]  # step number (1-5), what it did


def demo_root(out: Path, seed: int) -> Path:
    """Where the demo's synthetic tree lives."""
    return out / f"{DATA_DIR}-seed{seed}"


def demo_store(out: Path, root: Path, workers: int = defaults.DEMO_WORKERS) -> tuple[Path, str]:
    """The tree ``root`` packed into a store beside it (validated by the data steps'
    ``index.csv``; an existing store is reused: a store appears only when complete), and a
    line saying what was done."""
    store = root.with_name(f"{root.name}-store")
    if store.is_dir():
        return store, f"store: already in {store}"
    summary = pack_sen12ms(root, store, index_csv=out / "index.csv", workers=workers)
    return store, f"store: {summary.rows} patches packed in {summary.seconds:.0f} s -> {store}"


def prepare_demo_data(
    out: Path,
    seed: int = defaults.SEED,
    workers: int = defaults.DEMO_WORKERS,
    step: Step = print,
    scenes: int = defaults.SYNTH_SCENES,
    budget: int = defaults.LABEL_BUDGET,
) -> Path:
    """Run the data steps into ``out`` (each reported through ``step``); returns the tree.
    ``scenes`` and ``budget`` (the budget lists written): the default's unless told."""
    root = demo_root(out, seed)
    if root.is_dir():  # synthesis is all-or-nothing: an existing tree is a complete one
        step(1, f"synthetic SEN12MS already in {root}")
    else:
        config = SynthConfig(scenes=scenes, seed=seed)
        summary = synthesize_sen12ms(root, config, workers=workers)
        step(1, f"synthesised {summary.patches} patches in {summary.scenes} scenes -> {root}")

    index = build_index(root, read_pixels=True, workers=workers)
    write_index_csv(index, out / "index.csv")
    step(2, f"index: {index.summary()}")

    records = index.usable
    lc = read_many_lc_fractions({r.patch_id: root / r.paths["lc"] for r in records}, workers)
    rows = label_rows(lc.fractions, defaults.LABEL_SCHEME, defaults.LABEL_THRESHOLD)
    write_labels_csv(out / "labels.csv", rows, defaults.LABEL_SCHEME)
    step(3, f"labels: {len(rows)} patches ({defaults.LABEL_SCHEME}), {len(lc.errors)} bad")

    candidates = footprints(records)  # test scenes left out
    kept = non_overlapping(candidates)
    write_id_list(out / "nonoverlapping.txt", kept)
    step(4, f"non-overlapping subset: kept {len(kept)} of {len(candidates)} train patches")

    split = official_split([r.patch_id for r in records], defaults.DEMO_VAL_FRACTION, seed)
    write_split(out / "splits", split)
    train, val = write_budget(out / "splits", split, budget, seed)
    step(
        5,
        f"split: train {len(split.train)}, val {len(split.val)}, test {len(split.test)}; "
        f"budget {budget}: {len(train)}/{len(val)} -> {out / 'splits'}",
    )
    return root
