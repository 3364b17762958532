"""``sensormoco demo [--out DIR]``: the embedded default, end to end on a CPU.

Today it runs the data layer on the synthetic default: synthesise, index and validate, labels,
non-overlapping subset, official split and label budgets. Pre-training and evaluation stages
join the same command as they land.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sensormoco import defaults
from sensormoco.data.index import build_index, write_index_csv
from sensormoco.data.labels import label_rows, read_many_lc_fractions
from sensormoco.data.labels_csv import write_labels_csv
from sensormoco.data.sen12ms import write_id_list
from sensormoco.data.splits import official_split, write_budget, write_split
from sensormoco.data.subset import footprints, non_overlapping
from sensormoco.data.synth import SynthConfig, synthesize_sen12ms

DATA_DIR = "sen12ms-synthetic"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "run the embedded default end to end (synthetic SEN12MS, CPU)"
    parser = subparsers.add_parser("demo", help=help_text, description=help_text)
    parser.add_argument("--out", type=Path, default=Path(defaults.DEMO_OUT), help="output folder")
    parser.add_argument("--seed", type=int, default=defaults.SEED)
    parser.add_argument(
        "--workers", type=int, default=defaults.DEMO_WORKERS, help="processes for data steps"
    )
    parser.set_defaults(func=_run)


def _step(number: int, text: str, start: float) -> None:
    print(f"[{number}/5 {time.perf_counter() - start:6.1f} s] {text}", flush=True)


def _run(args: argparse.Namespace) -> int:
    out: Path = args.out
    root = out / f"{DATA_DIR}-seed{args.seed}"
    start = time.perf_counter()
    if root.is_dir():  # synthesis is all-or-nothing: an existing tree is a complete one
        _step(1, f"synthetic SEN12MS already in {root}", start)
    else:
        summary = synthesize_sen12ms(root, SynthConfig(seed=args.seed), workers=args.workers)
        _step(
            1, f"synthesised {summary.patches} patches in {summary.scenes} scenes -> {root}", start
        )

    index = build_index(root, read_pixels=True, workers=args.workers)
    write_index_csv(index, out / "index.csv")
    _step(2, f"index: {index.summary()}", start)

    records = index.usable
    lc = read_many_lc_fractions({r.patch_id: root / r.paths["lc"] for r in records}, args.workers)
    rows = label_rows(lc.fractions, defaults.LABEL_SCHEME, defaults.LABEL_THRESHOLD)
    write_labels_csv(out / "labels.csv", rows, defaults.LABEL_SCHEME)
    _step(3, f"labels: {len(rows)} patches ({defaults.LABEL_SCHEME}), {len(lc.errors)} bad", start)

    candidates = footprints(records)  # test scenes left out
    kept = non_overlapping(candidates)
    write_id_list(out / "nonoverlapping.txt", kept)
    _step(4, f"non-overlapping subset: kept {len(kept)} of {len(candidates)} train patches", start)

    split = official_split([r.patch_id for r in records], defaults.DEMO_VAL_FRACTION, args.seed)
    write_split(out / "splits", split)
    budget = defaults.LABEL_BUDGET
    train, val = write_budget(out / "splits", split, budget, args.seed)
    _step(
        5,
        f"split: train {len(split.train)}, val {len(split.val)}, test {len(split.test)}; "
        f"budget {budget}: {len(train)}/{len(val)} -> {out / 'splits'}",
        start,
    )
    return 0
