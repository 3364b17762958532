"""Does sensor-pairs pre-training learn? InfoNCE loss and positive-pair top-1 on the synthetic
default, read against chance, for each mode given.

    python benchmarks/pretrain_convergence.py [--modes sensor-pairs fusion-all] [--steps 300]

Pre-trains with the ``cpu-small`` preset on the embedded default (written once into --root) and
prints, per mode: the loss and top-1 over the first logged steps after the queue has filled
(before that the queue holds random keys and the loss is artificially low), over the last 20
steps, and chance (ln(K + 1) and 1 / (K + 1)).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import tempfile
from pathlib import Path

from sensormoco.data.synth import SynthConfig, synthesize_sen12ms
from sensormoco.training.config import load_config
from sensormoco.training.pretrain import run_pretrain


def window(rows: list[dict[str, str]], first: int, last: int, key: str) -> float:
    values = [float(r[key]) for r in rows if first <= int(r["step"]) < last and r.get(key)]
    return statistics.mean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["sensor-pairs"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--root", type=Path, help="synthetic tree (written when absent)")
    parser.add_argument("--out", type=Path, help="run folders (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convergence."))
    root = args.root or work / "sen12ms"
    if not root.is_dir():
        synthesize_sen12ms(root, SynthConfig(), workers=2)
    print(
        "| mode | queue K | loss after fill | loss last 20 | chance ln(K+1) | top-1 after fill "
        "| top-1 last 20 | chance 1/(K+1) | pairs/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        overrides = {"mode": mode, "max_steps": args.steps, "precision": "bf16-mixed",
                     "log_every_n_steps": 1}  # fmt: skip
        config = load_config("cpu-small", overrides)
        run = (args.out or work) / mode
        summary = run_pretrain(config, root, run)
        log = next((run / "logs" / "csv").glob("version_*/metrics.csv"))
        with log.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("loss")]
        fill = config.queue_size // config.global_batch  # steps until the queue is all real keys
        k = config.queue_size
        print(f"| {mode} | {k} | {window(rows, fill, fill + 20, 'loss'):.3f} "
              f"| {window(rows, args.steps - 20, args.steps, 'loss'):.3f} | {math.log(k + 1):.3f} "
              f"| {window(rows, fill, fill + 20, 'pos_acc'):.3f} "
              f"| {window(rows, args.steps - 20, args.steps, 'pos_acc'):.3f} | {1 / (k + 1):.4f} "
              f"| {summary['pairs_per_s']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
