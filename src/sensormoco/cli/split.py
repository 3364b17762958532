"""``sensormoco split sen12ms ROOT -o DIR``: official split, validation scenes, label budgets."""

from __future__ import annotations

import argparse
from pathlib import Path

from sensormoco import defaults
from sensormoco.cli.sources import add_dataset_parser, add_source_arguments, load_source
from sensormoco.data.sen12ms.splits import official_split, write_budget, write_split


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers, "split", "write train/val/test id lists and seeded label budgets"
    )
    add_source_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to write")
    parser.add_argument("--val-fraction", type=float, default=defaults.VAL_FRACTION)
    parser.add_argument("--seed", type=int, default=defaults.SEED, help="validation scenes")
    parser.add_argument(
        "--budget", type=int, nargs="*", default=[], metavar="N", help="label budget sizes"
    )
    parser.add_argument("--budget-seeds", type=int, nargs="+", default=[defaults.SEED], metavar="S")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    ids = load_source(args).ids
    split = official_split(ids, args.val_fraction, args.seed)
    out: Path = args.output
    write_split(out, split)
    print(f"train {len(split.train)}, val {len(split.val)}, test {len(split.test)} -> {out}")
    for size in args.budget:
        for seed in args.budget_seeds:
            train, val = write_budget(out, split, size, seed)
            print(f"budget {size} seed {seed}: train {len(train)}, val {len(val)}")
    return 0
