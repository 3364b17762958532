"""``sensormoco synth sen12ms OUT``: write a synthetic SEN12MS tree of real GeoTIFFs."""

from __future__ import annotations

import argparse

from sensormoco import defaults
from sensormoco.cli.parser import add_output, add_workers
from sensormoco.cli.sources import add_dataset_parser
from sensormoco.data.sen12ms.synth import PROBABILITY_PICKLE, SynthConfig, synthesize_sen12ms

# flag, default, metavar, help: the integer settings of the synthetic dataset
INT_FLAGS = (
    ("--scenes", defaults.SYNTH_SCENES, "N", "scenes, round-robin over the four seasons"),
    ("--grid", defaults.SYNTH_GRID, "G", "patches per scene side; neighbours overlap by half"),
    ("--size", defaults.SYNTH_SIZE, "PX", "patch size in pixels, even and >= 16"),
    ("--seed", defaults.SEED, "S", "seed"),
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_dataset_parser(
        subparsers, "synth", "write a synthetic dataset of real GeoTIFFs in its exact layout"
    )
    add_output(parser, "output folder (new or empty)", "OUT", positional=True, old=None)
    for flag, default, metavar, text in INT_FLAGS:
        parser.add_argument(
            flag, type=int, default=default, metavar=metavar, help=f"{text} (default: %(default)s)"
        )
    add_workers(parser, "across scenes", "W")
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
