"""``sensormoco index sen12ms ROOT -o index.csv``: scan and validate every triplet."""

from __future__ import annotations

import argparse
import sys
import time

from sensormoco import defaults
from sensormoco.cli import bigearthnet
from sensormoco.cli.parser import add_input, add_output, add_workers
from sensormoco.cli.sources import add_dataset_parser
from sensormoco.data.sen12ms.index import build_index, write_index_csv


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers,
        "index",
        "scan a dataset and validate every file, one row per patch",
        bigearthnet.add_index,
    )
    add_input(parser, "SEN12MS root folder")
    add_output(parser, "index CSV to write", "CSV")
    parser.add_argument(
        "--headers-only",
        action="store_true",
        help="check headers only (fast); by default every pixel is read",
    )
    add_workers(parser, "scanning and reading files")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    index = build_index(args.root, read_pixels=not args.headers_only, workers=args.workers)
    write_index_csv(index, args.out)
    for record in index.bad[: defaults.SHOWN_PROBLEMS]:
        print(f"bad: {record.reason}", file=sys.stderr)
    if len(index.bad) > defaults.SHOWN_PROBLEMS:
        print(
            f"... and {len(index.bad) - defaults.SHOWN_PROBLEMS} more in {args.out}",
            file=sys.stderr,
        )
    for path in index.unrecognised[: defaults.SHOWN_PROBLEMS]:
        print(f"unrecognised: {index.root / path}: not a SEN12MS patch file name", file=sys.stderr)
    print(f"{index.summary()}; {time.perf_counter() - start:.1f} s; wrote {args.out}")
    return 0 if index.usable else 1
