"""Shared vs per-sensor encoders (issue 13), on validation scenes only: cross-modal retrieval
and a linear probe, over pre-training seeds.

    python -m benchmarks.encoder_comparison [--root TREE] [--steps 300] [--seeds 0 1 2]
        [--encoders shared per-sensor] [--set KEY=VALUE ...] [--out DIR]

Each (encoder, seed) pre-trains ``sensor-pairs`` with the ``cpu-small`` preset (``encoder:
shared`` or ``per-sensor``, ``seed``, ``max_steps`` and those of ``--set`` the only other
settings) on the synthetic tree --root (the embedded default, written there when absent); a
run folder that already holds its ``encoder.pt`` is reused, and one that holds its
``comparison_row.json`` (written when its evaluation ends) is not evaluated again, so an
interrupted benchmark continues where it stopped; the summary JSON is rewritten after every
run. Pre-training and features run on a GPU when
there is one (the preset's ``accelerator: auto``). Then, on the evaluation's split (test = the
hold-out scenes, never read here; train and validation = whole non-test scenes):

- retrieval: recall@1, @5 and @10 of S1 -> S2 and S2 -> S1 over every validation-scene patch,
  as ``evaluate`` measures it (projection output; per-sensor: each sensor through its own
  network);
- linear probe OA on every validation-scene patch, one probe per input s1, s2 and s1s2 (the
  study table's columns), and the s1s2 probe with S1 and with S2 zeroed (missing-sensor
  robustness, JSON only): each probe trains on --probe-budget patches of the train scenes
  minus a held-out fifth of them (whole scenes), whose patches pick its learning rate and
  epoch, so the reported validation patches choose nothing. (The per-sensor s1s2 features are
  the two networks' concatenation, 1,024 features against the shared encoder's 512.)

Prints one row per run, then mean ± std over the seeds (sample std), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.pretrain_convergence import overrides
from sensormoco.atomic import atomic_write_text
from sensormoco.data.sen12ms.splits import draw_budget, official_split
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.evaluation.config import EvalConfig
from sensormoco.evaluation.data import LabelledSEN12MS, load_sen12ms
from sensormoco.evaluation.features import FeatureCache
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import SeedContext, cross_modal_retrieval, linear, metrics
from sensormoco.evaluation.variants import load_variant
from sensormoco.training.config import load_config
from sensormoco.training.encoder_file import read_encoder_file
from sensormoco.training.pretrain import CHECKPOINT, ENCODER, run_pretrain

RETRIEVAL = tuple(f"{d}_r@{k}" for d in ("s1_to_s2", "s2_to_s1") for k in (1, 5, 10))
PROBE = ("oa_s1", "oa_s2", "oa_s1s2")  # one probe per input
ZEROED = {"s2": "oa_s1s2_s1_zeroed", "s1": "oa_s1s2_s2_zeroed"}  # the s1s2 probe, JSON only
PROBE_SEED = 0  # the probe's own split and initialisation; the spread is over pre-training
ROW = "comparison_row.json"  # <run>/: the run's evaluated row


def pretrain(
    root: Path, run: Path, encoder: str, seed: int, steps: int, extra: dict[str, Any]
) -> Path:
    """``run/encoder.pt`` of one pre-training (reused when already there; an interrupted run
    is resumed from its last checkpoint, written every 25 steps: resuming is exact); ``extra``
    overrides other ``cpu-small`` settings."""
    if not (run / ENCODER).is_file():
        settings = {"mode": "sensor-pairs", "encoder": encoder, "seed": seed, "max_steps": steps}
        settings |= {"checkpoint_every_n_steps": 25, **extra}
        resume = (run / CHECKPOINT).is_file()
        run_pretrain(load_config("cpu-small", settings), root, run, resume=resume)
    return run / ENCODER


def evaluate(
    data: LabelledSEN12MS, root: Path, path: Path, out: Path, budget: int
) -> dict[str, float]:
    """Validation retrieval and validation linear-probe OA of one encoder."""
    val = sorted(data.split.val)
    scenes = official_split(data.split.train, 0.2, PROBE_SEED)  # whole train scenes
    train, select = draw_budget(scenes.train, scenes.val, budget, PROBE_SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cache = FeatureCache(out / "features", LoaderSettings(128, device=device))
    encoder = read_encoder_file(path)  # once, as evaluate reads it: hashed and loaded
    target = data.targets(val, "single")
    row: dict[str, float] = {}
    for input_ in ("s1s2", "s1", "s2"):
        loaded = load_variant("moco", input_, "resnet18", encoder, data.normalization, PROBE_SEED)
        config = EvalConfig(data=str(root), encoder=str(path), input=input_, budget=budget)
        ctx = SeedContext(config, data, loaded, cache, encoder.sha256, PROBE_SEED)
        if input_ == "s1s2":
            retrieval = cross_modal_retrieval(loaded, data, val, cache, ctx.about)
            assert retrieval is not None  # both kinds take either sensor alone
            row |= {key: retrieval[key] for key in RETRIEVAL}
        scores, _ = linear(ctx, train, select, val)
        row[f"oa_{input_}"] = metrics("single", scores[input_], target, ctx.k)["oa"]
        if input_ == "s1s2":
            for kept, key in ZEROED.items():
                row[key] = metrics("single", scores[kept], target, ctx.k)["oa"]
    return row


def spread(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="synthetic tree (written when absent)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--encoders", nargs="+", default=["shared", "per-sensor"])
    parser.add_argument(
        "--probe-budget",
        type=int,
        default=640,
        help="probe patches: 80 %% fit, 20 %% pick the epoch",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="other cpu-small settings to override (e.g. schedule=constant lr=0.02)",
    )
    parser.add_argument("--out", type=Path, help="run folders (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="encoder-comparison."))
    root = args.root or out / "sen12ms"
    if not root.is_dir():
        synthesize_sen12ms(root, SynthConfig(), workers=2)
    data = load_sen12ms(root)
    extra = overrides(args.set)
    load_before = os.getloadavg()
    print(f"cpu-small {args.set}, sensor-pairs, {args.steps} steps; {len(data.split.val)} "
          f"validation patches ({len(data.split.train)} train); load average before "
          f"{load_before[0]:.2f}", flush=True)  # fmt: skip
    rows: dict[str, list[dict[str, float]]] = {e: [] for e in args.encoders}
    header = ["encoder", "seed", *RETRIEVAL, *PROBE, "s"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    for seed in args.seeds:
        for encoder in args.encoders:
            start = time.perf_counter()
            run = out / f"{encoder}_s{seed}"
            if (run / ROW).is_file():
                row = json.loads((run / ROW).read_text())
            else:
                path = pretrain(root, run, encoder, seed, args.steps, extra)
                row = evaluate(data, root, path, run, args.probe_budget)
                atomic_write_text(run / ROW, json.dumps(row, indent=2) + "\n")
            rows[encoder].append(row)
            write_summary(out, args, rows, len(data.split.val), load_before)
            cells = [f"{row[k]:.3f}" for k in header[2:-1]]
            print(f"| {encoder} | {seed} | " + " | ".join(cells)
                  + f" | {time.perf_counter() - start:.0f} |", flush=True)  # fmt: skip
    n = len(data.split.val)
    print(f"\nmean ± std over pre-training seeds {args.seeds} (chance r@1 {1 / n:.4f}, "
          f"r@10 {min(10, n) / n:.3f})\n")  # fmt: skip
    print("| encoder | " + " | ".join(header[2:-1]) + " |\n|" + "---|" * (len(header) - 2))
    for encoder, found in rows.items():
        cells = [spread([r[k] for r in found]) for k in header[2:-1]]
        print(f"| {encoder} | " + " | ".join(cells) + " |")
    load_after = write_summary(out, args, rows, n, load_before)
    print(f"\nload average (1, 5, 15 min) at the end: {', '.join(f'{v:.2f}' for v in load_after)}")


def write_summary(
    out: Path,
    args: argparse.Namespace,
    rows: dict[str, list[dict[str, float]]],
    n: int,
    load_before: tuple[float, float, float],
) -> tuple[float, float, float]:
    """``out/encoder_comparison.json`` of the runs so far; returns the load average now."""
    load_now = os.getloadavg()
    summary: dict[str, Any] = {"steps": args.steps, "seeds": args.seeds, "rows": rows,
                               "settings": overrides(args.set),
                               "validation_patches": n, "probe_budget": args.probe_budget,
                               "load_before": load_before, "load_now": load_now}  # fmt: skip
    atomic_write_text(out / "encoder_comparison.json", json.dumps(summary, indent=2) + "\n")
    return load_now


if __name__ == "__main__":
    main()
