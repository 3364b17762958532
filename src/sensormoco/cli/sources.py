"""Which patches a command works on: a SEN12MS tree or packed store, optionally an index and an
id list (data/sources.py opens either).

Every command that reads patches skips bad ones the same way and says how many it skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sensormoco.cli.parser import Parser, add_input, add_workers
from sensormoco.data.sources import PatchSource, open_source
from sensormoco.errors import DataError


def add_dataset_parser(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: str,
    help_text: str,
    bigearthnet: Callable[[Parser], None] | None = None,
) -> Parser:
    """Add ``sensormoco COMMAND`` with its dataset choice ``sen12ms`` and, when ``bigearthnet``
    is given (it fills that parser), ``bigearthnet``; return the ``sen12ms`` parser."""
    parser = subparsers.add_parser(command, help=help_text, description=help_text)
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    dataset: Parser = datasets.add_parser(
        "sen12ms", help=f"{help_text} (SEN12MS)", description=help_text
    )
    if bigearthnet is not None:
        bigearthnet(
            datasets.add_parser(
                "bigearthnet", help=f"{help_text} (BigEarthNet v2)", description=help_text
            )
        )
    return dataset


def add_source_arguments(parser: Parser) -> None:
    add_input(parser, "SEN12MS root folder or packed store")
    parser.add_argument(
        "--index",
        type=Path,
        metavar="CSV",
        help="use this index.csv instead of scanning ROOT (a tree; a store carries its own)",
    )
    parser.add_argument("--ids", type=Path, metavar="TXT", help="only these patch ids")
    parser.add_argument(
        "--headers-only",
        action="store_true",
        help="when scanning a tree, check headers only (fast; misses truncated data and "
        "all-NaN S1)",
    )
    add_workers(parser, "for scanning")


def load_source(args: argparse.Namespace) -> PatchSource:
    """The usable patches of ``args.root`` (a tree, validated as ``sensormoco index`` does or
    by ``args.index``; or a packed store), restricted to ``args.ids``; reports skipped and
    absent counts on stderr and fails when nothing is usable."""
    source = open_source(
        args.root,
        args.ids,
        index_csv=args.index,
        read_pixels=not args.headers_only,
        workers=args.workers,
    )
    bad, absent = source.bad, source.absent
    if bad or absent:
        print(
            f"skipped {len(bad)} bad patch(es) and {len(absent)} listed id(s) not in the data"
            + (f"; first: {bad[0].reason}" if bad else f"; first absent: {absent[0]}"),
            file=sys.stderr,
        )
    if not source.ids:
        raise DataError(args.root, "no usable SEN12MS patches")
    return source
