"""``sensormoco pack sen12ms ROOT -o STORE [--ids ids.txt]``: pack a tree into a store;
``sensormoco pack verify STORE``: check a store's arrays against their checksums."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sensormoco.cli import bigearthnet
from sensormoco.cli.parser import Parser, add_input, add_output, add_workers
from sensormoco.data.store.format import SKIPPED, open_store
from sensormoco.data.store.pack import pack_sen12ms


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "pack a dataset into a store for fast random access (or verify a store)"
    parser: Parser = subparsers.add_parser("pack", help=help_text, description=help_text)
    choices = parser.add_subparsers(
        dest="dataset", metavar="{sen12ms,bigearthnet,verify}", required=True
    )
    sen12ms: Parser = choices.add_parser(
        "sen12ms",
        help="pack a SEN12MS tree",
        description="Pack the usable triplets of a SEN12MS tree (or those of --ids) into a "
        "store. An interrupted pack resumes when run again with the same inputs; STORE appears "
        "only when complete. Bad triplets are skipped and listed in STORE/skipped.csv.",
    )
    add_input(sen12ms, "SEN12MS root folder")
    add_output(sen12ms, "store folder to create (must not exist, or be empty)", "STORE")
    sen12ms.add_argument("--ids", type=Path, metavar="TXT", help="only these patch ids")
    sen12ms.add_argument(
        "--index",
        type=Path,
        metavar="CSV",
        help="index.csv to validate with, instead of a header scan of ROOT",
    )
    add_workers(sen12ms, "reading GeoTIFFs")
    sen12ms.set_defaults(func=_pack)
    bigearthnet.add_pack(
        choices.add_parser(
            "bigearthnet",
            help="pack a BigEarthNet v2 root (tree or LMDB)",
            description="Pack the pairs of a BigEarthNet v2 root into a store (bands at their "
            "native sizes, lossless); unreadable pairs are listed in STORE/skipped.csv.",
        )
    )
    verify: Parser = choices.add_parser(
        "verify",
        help="check a store against its sha256 checksums",
        description="Validate STORE's manifest and files, then hash every array chunk and "
        "compare with STORE/checksums.csv (reads the whole store).",
    )
    add_input(verify, "store folder", "STORE")
    verify.set_defaults(func=_verify)


def _pack(args: argparse.Namespace) -> int:
    summary = pack_sen12ms(args.root, args.out, args.ids, args.index, args.workers)
    bad = sum(summary.skipped.values())
    if bad or summary.absent:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(summary.skipped.items()))
        print(
            f"skipped {bad} bad triplet(s)"
            + (f" ({kinds})" if kinds else "")
            + f" and {summary.absent} listed id(s) not in the data; all in "
            f"{summary.path / SKIPPED}" + (f"; first: {summary.first_problem}" if bad else ""),
            file=sys.stderr,
        )
    resumed = (
        f"; resumed after {summary.resumed} of {summary.chunks} chunks" if summary.resumed else ""
    )
    print(
        f"packed {summary.rows} patches into {summary.path} ({summary.nbytes / 2**30:.2f} GiB) "
        f"in {summary.seconds:.1f} s{resumed}"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    store = open_store(args.root)
    problems = store.verify()
    for problem in problems:
        print(f"corrupt: {problem}", file=sys.stderr)
    seconds = time.perf_counter() - start
    if problems:
        print(f"{args.root}: {len(problems)} array chunk(s) fail their sha256", file=sys.stderr)
        return 1
    print(
        f"{args.root}: {store.count} patches, {store.manifest['chunks']} chunk(s), every "
        f"sha256 matches ({seconds:.1f} s)"
    )
    return 0
