"""``sensormoco experiment CONFIG.yaml --out DIR``: a matrix of runs, its table, plots, report.

Finished cells are cached: running the same command again runs only what is missing (an
interrupted pre-training run resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "run an experiment matrix (pre-training x evaluation) and write its report"
    p = subparsers.add_parser("experiment", help=help_text, description=help_text)
    p.add_argument("config", type=Path, metavar="CONFIG.yaml", help="experiment file")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="experiment folder")
    p.add_argument("--data", help="SEN12MS root (overrides `data:` of the file)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.experiments.matrix import load_experiment
    from sensormoco.experiments.runner import run_and_report

    report = run_and_report(load_experiment(args.config), args.out, data=args.data)
    print(f"wrote {report}")
    return 0
