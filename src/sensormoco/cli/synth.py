"""``sensormoco synth sen12ms OUT``: write a synthetic SEN12MS tree of real GeoTIFFs."""

from __future__ import annotations

import argparse

from sensormoco import defaults
from sensormoco.cli.parser import add_output
from sensormoco.cli.sources import add_dataset_parser
from sensormoco.data.sen12ms.synth import PROBABILITY_PICKLE, SynthConfig, synthesize_sen12ms


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers, "synth", "write a synthetic dataset of real GeoTIFFs in its exact layout"
    )
    add_output(parser, "output folder (new or empty)", "OUT", positional=True, old=None)
    parser.add_argument(
        "--scenes",
        type=int,
        default=defaults.SYNTH_SCENES,
        metavar="N",
        help="scenes, round-robin over the four seasons (default: %(default)s)",
    )
    parser.add_argument(
        "--grid",
        type=int,
        default=defaults.SYNTH_GRID,
        metavar="G",
        help="patches per scene side; neighbours overlap by half (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=defaults.SYNTH_SIZE,
        metavar="PX",
        help="patch size in pixels, even and >= 16 (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.SEED, metavar="S", help="seed (default: %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.SCAN_WORKERS,
        metavar="W",
        help="processes across scenes (default: %(default)s = this process)",
    )
    parser.add_argument(
        "--probabilities", action="store_true", help=f"also write OUT/{PROBABILITY_PICKLE}"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    config = SynthConfig(args.scenes, args.grid, args.size, args.seed)
    summary = synthesize_sen12ms(args.out, config, args.workers, args.probabilities)
    print(
        f"wrote {summary.patches} patches in {summary.scenes} scenes "
        f"({summary.test_scenes} official test scenes); {summary.seconds:.1f} s; {args.out}"
    )
    return 0
