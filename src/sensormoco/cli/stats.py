"""``sensormoco stats sen12ms ROOT -o stats.json``: per-band statistics of a split, streamed."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import numpy as np

from sensormoco import defaults
from sensormoco.cli import bigearthnet
from sensormoco.cli.parser import add_output
from sensormoco.cli.sources import add_dataset_parser, add_source_arguments, load_source
from sensormoco.data.bands import resolve_bands
from sensormoco.data.sen12ms.splits import official_split
from sensormoco.data.sources import SampleOptions
from sensormoco.data.stats import stream_statistics
from sensormoco.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers,
        "stats",
        "compute per-band mean and std of a split by streaming",
        bigearthnet.add_stats,
    )
    add_source_arguments(parser)
    add_output(parser, "stats JSON to write", "JSON")
    parser.add_argument(
        "--split",
        choices=("train", "all"),
        default="train",
        help="official train split (minus validation scenes) or every usable patch",
    )
    parser.add_argument("--val-fraction", type=float, default=defaults.VAL_FRACTION)
    parser.add_argument("--seed", type=int, default=defaults.SEED)
    parser.add_argument(
        "--s1-bands", default=defaults.STATS_S1_BANDS, help="band set or comma-separated names"
    )
    parser.add_argument(
        "--s2-bands", default=defaults.STATS_S2_BANDS, help="band set or comma-separated names"
    )
    parser.set_defaults(func=_run)


def _bands(sensor: str, text: str) -> tuple[str, ...]:
    return resolve_bands(sensor, text if "," not in text else text.split(","))


def _run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    source = load_source(args)
    ids = source.ids
    if args.split == "train":
        train = set(official_split(ids, args.val_fraction, args.seed).train)
        ids = [pid for pid in ids if pid in train]
    s1_bands, s2_bands = _bands("s1", args.s1_bands), _bands("s2", args.s2_bands)
    # dB and reflectance as the readers preprocess them (clean S1, clipped S2), unnormalised
    dataset = source.dataset(ids, SampleOptions(s1_bands, s2_bands, normalization=None))

    skipped: list[DataError] = []

    def patches() -> Iterator[np.ndarray]:
        for i in range(len(dataset)):
            try:
                sample = dataset[i]
            except DataError as exc:  # e.g. changed since the index was written
                skipped.append(exc)
                continue
            yield np.concatenate([sample["s1"].numpy(), sample["s2"].numpy()])  # C x H x W

    norm = stream_statistics(s1_bands + s2_bands, patches())
    norm.save(args.out)
    if skipped:
        print(f"skipped {len(skipped)} unreadable patch(es); first: {skipped[0]}", file=sys.stderr)
    used = len(ids) - len(skipped)
    print(f"{used} patches, {time.perf_counter() - start:.1f} s; wrote {args.out}")
    return 0
