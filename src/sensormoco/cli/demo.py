"""``sensormoco demo [--out DIR]``: the embedded default, end to end on a CPU.

Data steps on the synthetic default (synthesise, index and validate, labels, non-overlapping
subset, official split and label budgets: ``experiments/demo_data.py``), the tree packed into a
store, then the demo experiment (``resources/experiments/demo.yaml``): pre-training in two
modes, evaluation against supervised and random-init baselines over 3 seeds on s1, s2 and s1s2
at several budgets, retrieval, and ``DIR/experiment/report.md``. Everything is cached: running
it again reuses what is done. This module only parses and prints.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sensormoco import defaults
from sensormoco.progress import is_quiet


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "run the embedded default end to end (synthetic SEN12MS, CPU)"
    parser = subparsers.add_parser("demo", help=help_text, description=help_text)
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path(defaults.DEMO_OUT),
        help="output folder (finished steps in it are reused)",
    )
    parser.add_argument("--seed", type=int, default=defaults.SEED, help="seed of the data")
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.DEMO_WORKERS,
        help="processes scanning and reading files",
    )
    parser.add_argument(
        "--data-only", action="store_true", help="stop after the data steps (no training)"
    )
    parser.set_defaults(func=_run)


STEPS = 7  # data steps 1-5 (experiments/demo_data.py), experiment 6, report 7


def _step(number: int, text: str, start: float) -> None:
    if is_quiet() and number < STEPS:
        return
    print(f"[{number}/{STEPS} {time.perf_counter() - start:6.1f} s] {text}", flush=True)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.rundir import run_folder
    from sensormoco.runlog import log_to

    # one writer at a time; finished steps are reused
    with run_folder(args.out, resume=True, keep=True), log_to(args.out / "console.log"):
        return _demo(args)


def _demo(args: argparse.Namespace) -> int:
    from sensormoco.experiments.demo_data import demo_store, prepare_demo_data

    out: Path = args.out
    start = time.perf_counter()
    tree = prepare_demo_data(out, args.seed, args.workers, lambda n, text: _step(n, text, start))
    if args.data_only:
        return 0
    root, done = demo_store(out, tree, args.workers)  # the experiment reads the packed tree
    if not is_quiet():
        print(done, flush=True)
    from sensormoco.experiments.matrix import demo_experiment
    from sensormoco.experiments.runner import run_and_report

    _step(
        6, "experiment: pre-training and evaluation (about 10 min on an idle 2-core machine)", start
    )
    progress = (lambda _: None) if is_quiet() else print
    report = run_and_report(demo_experiment(), out / "experiment", progress, data=str(root))
    _step(7, f"report: {report}", start)
    return 0
