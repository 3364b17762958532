"""``sensormoco demo [--out DIR]``: the embedded default, end to end on a CPU.

Data steps on the synthetic default (synthesise, index and validate, labels, non-overlapping
subset, official split and label budgets), then the demo experiment (the packaged copy of
``configs/demo/experiment.yaml``): pre-training in two modes, evaluation against supervised and
random-init baselines over 3 seeds, retrieval, and ``DIR/experiment/report.md``. Everything is
cached: running it again reuses what is done.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sensormoco import defaults
from sensormoco.data.sen12ms.index import build_index, write_index_csv
from sensormoco.data.sen12ms.labels import label_rows, read_many_lc_fractions
from sensormoco.data.sen12ms.labels_csv import write_labels_csv
from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.data.sen12ms.splits import official_split, write_budget, write_split
from sensormoco.data.sen12ms.subset import footprints, non_overlapping
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.progress import is_quiet

DATA_DIR = "sen12ms-synthetic"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "run the embedded default end to end (synthetic SEN12MS, CPU)"
    parser = subparsers.add_parser("demo", help=help_text, description=help_text)
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path(defaults.DEMO_OUT),
        help="output folder (finished steps in it are reused)",
    )
    parser.add_argument("--seed", type=int, default=defaults.SEED, help="seed of the data")
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.DEMO_WORKERS,
        help="processes scanning and reading files",
    )
    parser.add_argument(
        "--data-only", action="store_true", help="stop after the data steps (no training)"
    )
    parser.set_defaults(func=_run)


STEPS = 7  # data steps 1-5, experiment 6, report 7


def _step(number: int, text: str, start: float) -> None:
    if is_quiet() and number < STEPS:
        return
    print(f"[{number}/{STEPS} {time.perf_counter() - start:6.1f} s] {text}", flush=True)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.rundir import run_folder
    from sensormoco.runlog import log_to

    # one writer at a time; finished steps are reused
    with run_folder(args.out, resume=True, keep=True), log_to(args.out / "console.log"):
        return _demo(args)


def _demo(args: argparse.Namespace) -> int:
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
    if args.data_only:
        return 0
    from sensormoco.experiments.matrix import demo_experiment
    from sensormoco.experiments.runner import run_and_report

    _step(
        6, "experiment: pre-training and evaluation (about 10 min on an idle 2-core machine)", start
    )
    progress = (lambda _: None) if is_quiet() else print
    report = run_and_report(demo_experiment(), out / "experiment", progress, data=str(root))
    _step(7, f"report: {report}", start)
    return 0
