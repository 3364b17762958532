"""Scale rehearsal: every command on synthetic SEN12MS trees of two sizes, as child processes.

    python -m benchmarks.scale [--sizes 128 512] [--size 256] [--grid 4] [--steps 5]
                               [--workers 2] [--eval-from tree] [--work DIR] [--out FILE.md]

For each size a synthetic tree of ``--size`` px patches (``--grid`` x ``--grid`` patches a
scene, one hold-out test scene in each 8) is written, then each command of :data:`COMMANDS`
runs as a fresh child process of the real command line (``python -m sensormoco.cli.main``):
index, labels, subset, pack, pretrain (``--steps`` steps from the store), evaluate linear,
evaluate finetune (1 epoch) and evaluate knn (kNN; every evaluate of a fusion encoder also
computes cross-modal retrieval on the test set). Each row records the child's wall time and
peak RSS (``os.wait4``: the largest process of the child's tree, its reaped workers
included). From the two sizes: the marginal cost per patch, the RSS slope, and the straight-
line extrapolation to SEN12MS (180,662 patches; test 18,106) and BigEarthNet v2 (549,488;
its evaluate rows take every patch as test, an upper bound). A row scales with the tree's
patches, or (evaluate) with its test patches. The Markdown tables go to stdout and ``--out``.

Defaults: 128 and 512 patches of 256 px in scenes of 4 x 4 (8 and 32 scenes: 16 and 64 test
patches, 4x both): about 25 minutes on the shared 2-core VM (load ~15). ``--sizes 512 2048
--grid 8 --eval-from store`` is the next step up (4x the data, 64 and 256 test patches; over
an hour at load ~20); docs/performance.md has both runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEN12MS = (180_662, 18_106)  # patches, official test patches
BEN_V2 = 549_488


@dataclass(frozen=True)
class Paths:
    """Inputs and outputs of one size's commands."""

    work: Path
    tree: Path
    store: Path

    def __getattr__(self, name: str) -> Path:  # index_csv -> WORK/index.csv, run -> WORK/run
        if name.startswith("_"):
            raise AttributeError(name)
        return self.work / name.replace("_", ".")


@dataclass(frozen=True)
class Command:
    """A command line of the rehearsal; ``per`` is what it scales with."""

    name: str
    per: str  # "patches" or "test"
    argv: Callable[[Paths, argparse.Namespace], list[str]]


def _eval(protocol: str, epochs: int) -> Callable[[Paths, argparse.Namespace], list[str]]:
    def argv(p: Paths, a: argparse.Namespace) -> list[str]:
        data = p.store if a.eval_from == "store" else p.tree
        index = [] if a.eval_from == "store" else ["--index", str(p.index_csv)]
        return ["evaluate", "--data", str(data), "--out", str(p.work / f"eval_{protocol}"),
                "--encoder", str(p.run / "encoder.pt"), "--protocol", protocol,
                "--budget", str(a.budget), "--seeds", "0", "--epochs", str(epochs),
                "--labels", str(p.labels_csv), "--batch-size", "32", *index]  # fmt: skip

    return argv


COMMANDS: tuple[Command, ...] = (
    Command("index", "patches", lambda p, a: ["index", "sen12ms", str(p.tree), "-o",
                                              str(p.index_csv), "--workers", str(a.workers)]),
    Command("labels", "patches", lambda p, a: ["labels", "sen12ms", str(p.tree), "--index",
                                               str(p.index_csv), "-o", str(p.labels_csv),
                                               "--workers", str(a.workers)]),
    Command("subset", "patches", lambda p, a: ["subset", "sen12ms", str(p.tree), "--index",
                                               str(p.index_csv), "--non-overlapping", "-o",
                                               str(p.subset_txt)]),
    Command("pack", "patches", lambda p, a: ["pack", "sen12ms", str(p.tree), "-o", str(p.store),
                                             "--index", str(p.index_csv), "--workers",
                                             str(a.workers)]),
    Command("pretrain", "patches", lambda p, a: ["pretrain", "--data", str(p.store), "--out",
                                                 str(p.run), "--config", "cpu-small", "--mode",
                                                 "sensor-pairs", "--max-steps", str(a.steps),
                                                 "--batch-size", "16", "--queue-size", "64",
                                                 "--crop-size", str(a.crop)]),
    Command("evaluate linear", "test", _eval("linear", 1)),
    Command("evaluate finetune", "test", _eval("finetune", 1)),
    Command("evaluate knn", "test", _eval("knn", 1)),
)  # fmt: skip


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss_mib: float


def run_child(argv: list[str], log: Path) -> Measured:
    """Run ``sensormoco ARGV`` as a fresh child; its wall time and peak RSS (``wait4``)."""
    command = [sys.executable, "-m", "sensormoco.cli.main", *argv]
    start = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        tail = log.read_text()[-2000:]
        raise SystemExit(f"failed ({child.returncode}): {' '.join(command)}\n{tail}")
    return Measured(seconds, usage.ru_maxrss / 1024)  # ru_maxrss: KiB on Linux


def rehearse(
    patches: int, args: argparse.Namespace, root: Path
) -> tuple[dict[str, int], dict[str, Measured]]:
    """Synthesise a tree of ``patches`` (rounded up to whole scenes) and run every command."""
    from sensormoco.data.sen12ms.layout import scan_tree
    from sensormoco.data.sen12ms.splits import is_test
    from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms

    per_scene = args.grid * args.grid
    scenes = -(-patches // per_scene)
    work = root / f"scale_{scenes}x{args.grid}x{args.size}"
    paths = Paths(work, work / "tree", work / "store")
    if work.exists():  # a fresh rehearsal each time: outputs must not exist
        for sub in sorted(work.iterdir()):
            if sub.name != "tree":
                subprocess.run(["rm", "-rf", str(sub)], check=True)
    else:
        work.mkdir(parents=True)
    if not paths.tree.exists():
        start = time.perf_counter()
        synthesize_sen12ms(paths.tree, SynthConfig(scenes, args.grid, args.size),
                           workers=args.workers)  # fmt: skip
        print(f"synthesised {scenes * per_scene} patches of {args.size} px in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)  # fmt: skip
    measured: dict[str, Measured] = {}
    for command in COMMANDS:
        if command.name not in args.commands:
            continue
        slug = command.name.replace(" ", "_")
        measured[command.name] = run_child(command.argv(paths, args), work / f"{slug}.log")
        m = measured[command.name]
        print(f"{scenes * per_scene} patches: {command.name}: {m.seconds:.1f} s, "
              f"{m.rss_mib:,.0f} MiB", file=sys.stderr, flush=True)  # fmt: skip
    ids = list(scan_tree(paths.tree).files)
    return {"patches": len(ids), "test": sum(map(is_test, ids))}, measured


def _line(x: tuple[int, int], y: tuple[float, float], at: int) -> float:
    """The straight line through (x, y) at ``at``; never decreasing (noise)."""
    slope = max(0.0, (y[1] - y[0]) / (x[1] - x[0])) if x[1] != x[0] else 0.0
    return y[0] + slope * (at - x[0])


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def tables(runs: list[tuple[dict[str, int], dict[str, Measured]]], args: argparse.Namespace) -> str:
    """The Markdown tables of the rehearsal (per size, then slopes and extrapolations)."""
    (small_n, small), (large_n, large) = runs[0], runs[-1]
    lines = [
        f"Synthetic SEN12MS trees of {small_n['patches']:,} and {large_n['patches']:,} patches "
        f"of {args.size} px ({small_n['test']:,} and {large_n['test']:,} test patches); "
        f"pretrain {args.steps} steps (crop {args.crop}, batch 16), evaluate budget "
        f"{args.budget}, 1 seed, 1 epoch, from the {args.eval_from}; data commands with "
        f"{args.workers} worker(s). Peak RSS: the child's largest process (wait4).",
        "",
        "| command | scales with | wall s (small / large) | peak RSS MiB (small / large) | "
        "RSS large / small | s per 1k | MiB per 1k | SEN12MS: time, RSS | "
        "BigEarthNet v2: time, RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in small:
        a, b = small[name], large[name]
        per = next(c.per for c in COMMANDS if c.name == name)
        x = (small_n[per], large_n[per])
        dx = (x[1] - x[0]) / 1000
        slopes = (
            f"{(b.seconds - a.seconds) / dx:.2f} | {(b.rss_mib - a.rss_mib) / dx:.1f}"
            if dx
            else "- | -"
        )
        targets = (SEN12MS[0] if per == "patches" else SEN12MS[1], BEN_V2)
        extrapolated = [
            f"{_duration(_line(x, (a.seconds, b.seconds), n))}, "
            f"{_line(x, (a.rss_mib, b.rss_mib), n) / 1024:,.1f} GiB"
            for n in targets
        ]
        lines.append(
            f"| {name} | {per} | {a.seconds:.1f} / {b.seconds:.1f} | {a.rss_mib:,.0f} / "
            f"{b.rss_mib:,.0f} | {b.rss_mib / a.rss_mib:.2f}x | {slopes} | "
            f"{extrapolated[0]} | {extrapolated[1]} |"
        )
    lines.append("")
    lines.append(
        "s per 1k / MiB per 1k: (large - small) / (their difference in thousands of the "
        "'scales with' count); extrapolations: the straight line through both sizes (slopes "
        f"below 0 taken as 0) at SEN12MS {SEN12MS[0]:,} patches / {SEN12MS[1]:,} test and "
        f"BigEarthNet v2 {BEN_V2:,} (evaluate: every patch as test, an upper bound); pretrain "
        f"runs a fixed {args.steps} steps, so its time is start-up, not an epoch."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[128, 512], metavar="N",
                        help="patches of the two trees (rounded up to whole scenes)")  # fmt: skip
    parser.add_argument("--size", type=int, default=256, help="patch size, px")
    parser.add_argument("--grid", type=int, default=4, help="patches per scene side")
    parser.add_argument("--steps", type=int, default=5, help="pre-training steps")
    parser.add_argument("--crop", type=int, default=128, help="pre-training crop, px")
    parser.add_argument("--budget", type=int, default=64, help="evaluation label budget")
    parser.add_argument("--workers", type=int, default=2, help="workers of the data commands")
    parser.add_argument("--eval-from", choices=("tree", "store"), default="tree")
    parser.add_argument("--commands", nargs="+", default=[c.name for c in COMMANDS],
                        metavar="NAME", help="a subset of the commands (quoted names)")  # fmt: skip
    parser.add_argument("--work", type=Path, help="keep the trees here (reused) and the logs")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        runs = [rehearse(n, args, root) for n in sorted(args.sizes)]
    text = tables(runs, args)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
