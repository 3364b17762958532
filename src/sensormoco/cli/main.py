"""The ``sensormoco`` entry point: builds the parser from the command modules and runs one."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sensormoco import __version__
from sensormoco.cli import (
    demo,
    evaluate,
    experiment,
    export,
    index,
    labels,
    pack,
    pretrain,
    split,
    stats,
    subset,
    synth,
)
from sensormoco.cli.parser import Parser, leaves
from sensormoco.errors import SensormocoError
from sensormoco.progress import is_quiet, set_quiet

# Each command module exposes ``register(subparsers)``, which adds its parser and sets
# ``func`` (args -> exit code) as a default.
COMMANDS = (
    synth,
    index,
    labels,
    subset,
    split,
    stats,
    pack,
    pretrain,
    evaluate,
    experiment,
    export,
    demo,
)


def build_parser() -> Parser:
    parser = Parser(
        prog="sensormoco",
        description="Self-supervised learning on geo-aligned Sentinel-1/Sentinel-2 pairs.",
    )
    parser.add_argument("--version", action="version", version=f"sensormoco {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    for leaf in leaves(parser):
        leaf.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no progress lines: only the final summary and errors",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors on input become a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    quiet = is_quiet()
    set_quiet(quiet or args.quiet)
    try:
        code: int = args.func(args)
    except (SensormocoError, ValueError, OSError) as exc:
        # bad input, invalid settings, unwritable outputs: one line, no traceback
        print(f"sensormoco {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sensormoco {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        set_quiet(quiet)
    return code


if __name__ == "__main__":
    sys.exit(main())
