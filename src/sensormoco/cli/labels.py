"""``sensormoco labels sen12ms ROOT -o labels.csv``: scene labels from the IGBP layer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sensormoco import defaults
from sensormoco.cli import bigearthnet
from sensormoco.cli.parser import add_output
from sensormoco.cli.sources import add_dataset_parser, add_source_arguments, load_source
from sensormoco.data.sen12ms.labels import SCHEMES, label_rows
from sensormoco.data.sen12ms.labels_csv import write_labels_csv
from sensormoco.data.sen12ms.probability_merge import merge_fractions, write_disagreements
from sensormoco.data.sen12ms.probability_pickle import (
    ProbabilityComparison,
    compare_probabilities,
    load_probability_pickle,
)
from sensormoco.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers,
        "labels",
        "scene labels (single and multi) from the IGBP land-cover layer",
        bigearthnet.add_labels,
    )
    add_source_arguments(parser)
    add_output(parser, "labels CSV to write", "CSV")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default=defaults.LABEL_SCHEME)
    parser.add_argument(
        "--threshold",
        type=float,
        default=defaults.LABEL_THRESHOLD,
        help="multi-label: classes with fraction >= this (default: %(default)s)",
    )
    parser.add_argument(
        "--probabilities",
        type=Path,
        metavar="PKL",
        help="IGBP_probability_labels.pkl: label from it, and report where it disagrees with lc",
    )
    parser.set_defaults(func=_run)


def _report_disagreements(comparison: ProbabilityComparison, output: Path) -> None:
    print(comparison.summary(defaults.PROBABILITY_TOLERANCE), file=sys.stderr)
    report = write_disagreements(comparison, output)
    if report is None:
        return
    for d in comparison.disagreements[: defaults.SHOWN_PROBLEMS]:
        print(
            f"disagrees: {d.patch_id}: pickle and lc differ by {d.max_difference:.4g} "
            f"on IGBP {d.code}",
            file=sys.stderr,
        )
    print(f"all {len(comparison.disagreements)} disagreement(s) in {report}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if not 0.0 < args.threshold <= 1.0:
        raise DataError("--threshold", f"must be in (0, 1], got {args.threshold}")
    # the pickle first: a bad one fails before any lc file is read
    pickle = load_probability_pickle(args.probabilities) if args.probabilities else None
    if pickle is not None and pickle.skipped:
        print(
            f"skipped {len(pickle.skipped)} bad pickle entr(y/ies); first: {pickle.skipped[0]}",
            file=sys.stderr,
        )
    lc = load_source(args).igbp_fractions(args.workers)
    for error in list(lc.errors.values())[: defaults.SHOWN_PROBLEMS]:
        print(f"bad: {error}", file=sys.stderr)
    if lc.errors:
        print(f"skipped {len(lc.errors)} patch(es) whose lc could not be read", file=sys.stderr)
    if lc.invalid_pixels:
        print(
            f"{sum(lc.invalid_pixels.values())} pixel(s) without a valid IGBP code in "
            f"{len(lc.invalid_pixels)} patch(es) were left out of their fractions",
            file=sys.stderr,
        )
    fractions = lc.fractions
    if pickle is not None:
        comparison = compare_probabilities(lc.fractions, pickle.fractions)
        _report_disagreements(comparison, args.out)
        fractions = merge_fractions(lc.fractions, pickle)
    if not fractions:
        raise DataError(args.root, "no patch could be labelled")
    rows = label_rows(fractions, args.scheme, args.threshold)
    write_labels_csv(args.out, rows, args.scheme)
    source = "the pickle (lc where it has no entry)" if args.probabilities else "lc layer 1"
    print(f"labelled {len(rows)} patch(es) ({args.scheme}) from {source}; wrote {args.out}")
    return 0
