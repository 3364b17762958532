"""``sensormoco index|labels|stats|pack bigearthnet ROOT ...``: the data commands on a
BigEarthNet v2 root (tree, LMDB or packed store, detected). Each function fills the
``bigearthnet`` parser of its command.

The BigEarthNet modules (which import torch) are imported when a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time

from sensormoco import defaults
from sensormoco.cli.parser import Parser, add_input, add_output


def _root_arguments(parser: Parser) -> None:
    add_input(
        parser,
        "BigEarthNet v2 root: metadata.parquet beside BigEarthNet-S1/ + BigEarthNet-S2/ or an "
        "LMDB folder (data.mdb)",
    )
    parser.add_argument(
        "--keep-snow-cloud",
        action="store_true",
        help="keep the patches with seasonal snow, cloud or shadow (left out by default)",
    )


def add_index(parser: Parser) -> None:
    _root_arguments(parser)
    add_output(parser, "index CSV to write", "CSV")
    parser.add_argument(
        "--headers-only",
        action="store_true",
        help="check that both sensors of each pair are there (fast); by default every band is read",
    )
    parser.set_defaults(func=_index)


def add_labels(parser: Parser) -> None:
    parser.description = "BigEarthNet v2 scene labels (19 classes) from metadata.parquet"
    _root_arguments(parser)
    add_output(parser, "labels CSV to write", "CSV")
    parser.set_defaults(func=_labels)


def add_stats(parser: Parser) -> None:
    _root_arguments(parser)
    add_output(parser, "stats JSON to write", "JSON")
    parser.add_argument(
        "--split",
        choices=("train", "validation", "test", "all"),
        default="train",
        help="official split (default: %(default)s)",
    )
    parser.add_argument(
        "--s1-bands", default=defaults.STATS_S1_BANDS, help="band set or comma-separated names"
    )
    parser.add_argument(
        "--s2-bands", default="s2-bigearthnet", help="band set or comma-separated names"
    )
    parser.set_defaults(func=_stats)


def add_pack(parser: Parser) -> None:
    _root_arguments(parser)
    add_output(parser, "store folder to create (must not exist, or be empty)", "STORE")
    parser.set_defaults(func=_pack)


def _say_left_out(count: int) -> None:
    if count:
        print(
            f"left out {count} snow/cloud/shadow patch(es) (--keep-snow-cloud keeps them)",
            file=sys.stderr,
        )


def _index(args: argparse.Namespace) -> int:
    from sensormoco.data.bigearthnet.v2 import open_source
    from sensormoco.data.bigearthnet.v2_index import build_index, write_index_csv

    start = time.perf_counter()
    source = open_source(args.root, args.keep_snow_cloud)
    index = build_index(source, read_pixels=not args.headers_only)
    write_index_csv(index, args.out)
    bad = [r for r in index.rows if not r.ok and not r.status.startswith("left out")]
    for r in bad[: defaults.SHOWN_PROBLEMS]:
        print(f"bad: {r.status}", file=sys.stderr)
    if len(bad) > defaults.SHOWN_PROBLEMS:
        print(f"... and {len(bad) - defaults.SHOWN_PROBLEMS} more in {args.out}", file=sys.stderr)
    print(
        f"BigEarthNet v2 ({source.kind}): {index.summary()}; "
        f"{time.perf_counter() - start:.1f} s; wrote {args.out}"
    )
    return 0 if index.usable else 1


def _labels(args: argparse.Namespace) -> int:
    from sensormoco.data.bigearthnet.v2 import detect_version
    from sensormoco.data.bigearthnet.v2_index import write_labels_csv
    from sensormoco.data.bigearthnet.v2_metadata import load_metadata
    from sensormoco.errors import DataError

    if detect_version(args.root) == "v1":
        raise DataError(args.root, "not a BigEarthNet v2 root (no metadata.parquet)", "layout")
    metadata = load_metadata(args.root, args.keep_snow_cloud)
    count = write_labels_csv(metadata.patches, args.out)
    _say_left_out(len(metadata.left_out))
    print(f"labelled {count} patch(es) (19 classes, from metadata.parquet); wrote {args.out}")
    return 0


def _bands(sensor: str, text: str) -> tuple[str, ...]:
    from sensormoco.data.bands import resolve_bands

    return resolve_bands(sensor, text if "," not in text else text.split(","))


def _stats(args: argparse.Namespace) -> int:
    from sensormoco.data.bigearthnet.v1 import resolve_s2_bands
    from sensormoco.data.bigearthnet.v2 import open_source
    from sensormoco.data.bigearthnet.v2_index import stream_pairs
    from sensormoco.data.stats import stream_statistics
    from sensormoco.errors import DataError

    start = time.perf_counter()
    source = open_source(args.root, args.keep_snow_cloud)
    patches = source.metadata.split(None if args.split == "all" else args.split)
    if not patches:
        raise DataError(args.root, f"no patch in split {args.split!r}")
    s1_bands = _bands("s1", args.s1_bands)
    s2_bands = resolve_s2_bands(_bands("s2", args.s2_bands))
    skipped: list[DataError] = []
    pairs = stream_pairs(source, patches, s1_bands, s2_bands, skipped)
    try:
        norm = stream_statistics(s1_bands + s2_bands, pairs)
    except ValueError as exc:  # nothing readable
        raise DataError(
            args.root,
            f"no readable pair in split {args.split!r}; first problem: "
            f"{skipped[0] if skipped else exc}",
        ) from exc
    norm.save(args.out)
    if skipped:
        print(f"skipped {len(skipped)} unreadable pair(s); first: {skipped[0]}", file=sys.stderr)
    _say_left_out(len(source.metadata.left_out))
    used = len(patches) - len(skipped)
    print(f"{used} {args.split} patches, {time.perf_counter() - start:.1f} s; wrote {args.out}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from sensormoco.data.bigearthnet.v2_pack import pack_bigearthnet
    from sensormoco.data.bigearthnet.v2_store import SKIPPED

    summary = pack_bigearthnet(args.root, args.out, args.keep_snow_cloud)
    if summary.skipped:
        print(
            f"skipped {summary.skipped} unreadable pair(s), all in {summary.path / SKIPPED}; "
            f"first: {summary.first_problem}",
            file=sys.stderr,
        )
    _say_left_out(summary.left_out)
    print(
        f"packed {summary.rows} BigEarthNet v2 pairs into {summary.path} "
        f"({summary.nbytes / 2**20:.1f} MiB) in {summary.seconds:.1f} s"
    )
    return 0
