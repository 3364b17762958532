"""``sensormoco experiment CONFIG.yaml --out DIR``: a matrix of runs, its table, plots, report.

Finished cells are cached: running the same command again runs only what is missing (an
interrupted pre-training run resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sensormoco.cli.parser import existing_dir, existing_file


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "run an experiment matrix (pre-training x evaluation) and write its report"
    p = subparsers.add_parser("experiment", help=help_text, description=help_text)
    p.add_argument(
        "config", type=existing_file("CONFIG.yaml"), metavar="CONFIG.yaml", help="experiment file"
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="experiment folder (finished cells in it are reused)",
    )
    p.add_argument(
        "--data",
        type=existing_dir("--data"),
        metavar="ROOT",
        help="SEN12MS root (overrides `data:` of the file)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.experiments.matrix import load_experiment
    from sensormoco.experiments.runner import run_and_report
    from sensormoco.progress import is_quiet
    from sensormoco.rundir import run_folder
    from sensormoco.runlog import log_to

    # one writer at a time; finished cells are reused, started ones kept to resume
    progress = (lambda _: None) if is_quiet() else print
    folder = run_folder(args.out, resume=True, resumable=("pretrain", "eval"))
    with folder, log_to(args.out / "console.log"):
        report = run_and_report(
            load_experiment(args.config),
            args.out,
            progress,
            None if args.data is None else str(args.data),
        )
    print(f"wrote {report}")
    return 0
