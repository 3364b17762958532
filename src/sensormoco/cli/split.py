"""``sensormoco split sen12ms ROOT -o DIR``: official split, validation scenes, label budgets."""

from __future__ import annotations

import argparse
from pathlib import Path

from sensormoco import defaults
from sensormoco.cli.parser import add_output
from sensormoco.cli.sources import add_dataset_parser, add_source_arguments, load_source
from sensormoco.data.sen12ms.splits import label_budget, official_split, write_budget, write_split
from sensormoco.errors import DataError
from sensormoco.rundir import check_run_folder, run_folder


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers, "split", "write train/val/test id lists and seeded label budgets"
    )
    add_source_arguments(parser)
    add_output(parser, "folder to write", "DIR")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=defaults.VAL_FRACTION,
        help="share of non-test patches in validation scenes",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.SEED, help="seed of the validation scenes"
    )
    parser.add_argument(
        "--budget", type=int, nargs="*", default=[], metavar="N", help="label budget sizes"
    )
    parser.add_argument(
        "--budget-seeds",
        type=int,
        nargs="+",
        default=[defaults.SEED],
        metavar="S",
        help="seeds of the budget draws",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if not 0.0 <= args.val_fraction < 1.0:
        raise DataError("--val-fraction", f"must be in [0, 1), got {args.val_fraction}")
    if any(size <= 0 for size in args.budget):
        raise DataError("--budget", f"sizes must be positive, got {args.budget}")
    check_run_folder(out, resumes=False)
    ids = load_source(args).ids
    split = official_split(ids, args.val_fraction, args.seed)
    for size in args.budget:  # every budget drawable before anything is written
        try:
            label_budget(split, size)
        except ValueError as exc:
            raise DataError(
                "--budget",
                f"{exc}; choose a smaller --budget or a larger "
                f"--val-fraction (now {args.val_fraction})",
            ) from None
    lines = [f"train {len(split.train)}, val {len(split.val)}, test {len(split.test)} -> {out}"]
    with run_folder(out, resumes=False):
        write_split(out, split)
        for size in args.budget:
            for seed in args.budget_seeds:
                train, val = write_budget(out, split, size, seed)
                lines.append(f"budget {size} seed {seed}: train {len(train)}, val {len(val)}")
    print("\n".join(lines))
    return 0
