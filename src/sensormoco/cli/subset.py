"""``sensormoco subset sen12ms ROOT --non-overlapping -o ids.txt``."""

from __future__ import annotations

import argparse

from sensormoco import defaults
from sensormoco.cli.parser import add_output
from sensormoco.cli.sources import add_dataset_parser, add_source_arguments, load_source
from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.data.sen12ms.subset import non_overlapping


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(subparsers, "subset", "select a subset of patch ids")
    add_source_arguments(parser)
    parser.add_argument(
        "--non-overlapping",
        action="store_true",
        required=True,
        help="greedy non-overlapping subset per UTM zone (season, scene, patch order)",
    )
    add_output(parser, "ids.txt to write", "TXT")
    parser.add_argument(
        "--include-test", action="store_true", help="also consider the hold-out test scenes"
    )
    parser.add_argument(
        "--max-overlap",
        type=float,
        default=defaults.MAX_OVERLAP_FRACTION,
        help="drop a patch overlapping a kept one by more than this share of its area "
        "(default: %(default)s)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    every = load_source(args).footprints()
    candidates = [f for f in every if args.include_test or not is_test(f.patch_id)]
    excluded = len(every) - len(candidates)
    kept = non_overlapping(candidates, args.max_overlap)
    write_id_list(args.out, kept)
    print(
        f"kept {len(kept)}, dropped {len(candidates) - len(kept)} overlapping, "
        f"excluded {excluded} test patch(es); wrote {args.out}"
    )
    return 0
