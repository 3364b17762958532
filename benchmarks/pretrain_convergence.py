"""Does sensor-pairs pre-training learn, and does it stay down? InfoNCE loss and positive-pair
top-1 on the synthetic default, read against chance, its stability, and cross-modal retrieval
on the VALIDATION scenes (settings are chosen on validation only), for each mode given.

    python benchmarks/pretrain_convergence.py [--modes sensor-pairs fusion-all] [--steps 300]
        [--set negatives=shared schedule=cosine lr=0.03 ...] [--root TREE] [--out DIR]

Pre-trains with the ``cpu-small`` preset (``--set`` overrides its settings) on the synthetic
tree --root (the embedded default is written there when absent) and prints, per mode: the loss
and top-1 over the first logged steps after the queue has filled (before that the queue holds
random keys and the loss is artificially low), over the last 20 steps, and chance (ln(K + 1)
and 1 / (K + 1), K the negatives a query is contrasted with); the stability check (mean loss of
the last 50 steps against the run's lowest 50-step mean after the fill: a run that climbs back
exceeds it); recall@1 and @10 of S1 -> S2 and S2 -> S1 retrieval over the validation-scene
patches (the evaluation's own measure, eval-mode network) against chance; and the last
diagnostics (modality gaps, own-sensor share of top-1 keys: training/diagnostics.py). With
--out, each run's curves are drawn into <out>/<mode>.png.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml

from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.evaluation.data import load_sen12ms
from sensormoco.evaluation.features import FeatureCache
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import cross_modal_retrieval
from sensormoco.evaluation.variants import load_variant
from sensormoco.training.config import load_config
from sensormoco.training.pretrain import ENCODER, run_pretrain

WINDOW = 50  # steps of the stability check (last 50 vs the lowest 50-step mean)
STABLE = 0.05  # a run is stable when its last window is within 5 % of its lowest


def window(rows: list[dict[str, str]], first: int, last: int, key: str) -> float:
    values = [float(r[key]) for r in rows if first <= int(r["step"]) < last and r.get(key)]
    return statistics.mean(values)


def rolling_means(rows: list[dict[str, str]], key: str, start: int, width: int) -> list[float]:
    """Means of ``width`` consecutive logged values of ``key`` from step ``start`` on."""
    values = [float(r[key]) for r in rows if int(r["step"]) >= start and r.get(key)]
    sums = [0.0, *itertools.accumulate(values)]
    return [(sums[i + width] - sums[i]) / width for i in range(len(values) - width + 1)]


def draw(path: Path, rows: list[dict[str, str]], title: str) -> None:
    """Loss (50-step mean) and the diagnostics against steps, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    steps = [int(r["step"]) for r in rows if r.get("loss")]
    losses = rolling_means(rows, "loss", 0, min(WINDOW, len(steps)))
    top.plot(steps[len(steps) - len(losses) :], losses, label=f"loss ({WINDOW}-step mean)")
    top.set_ylabel("InfoNCE")
    top.legend()
    for key in ("diag/gap_norm_q", "diag/gap_norm_k", "diag/gap_cos_qk", "diag/own_sensor_top1"):
        points = [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]
        if points:
            bottom.plot(*zip(*points, strict=True), label=key.removeprefix("diag/"))
    bottom.set_xlabel("step")
    bottom.legend(fontsize="small")
    fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def overrides(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, values read as YAML scalars (``bn_splits=4`` gives an int)."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes KEY=VALUE, got {pair!r}")
        parsed[key] = yaml.safe_load(value)
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["sensor-pairs"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="cpu-small settings to override")  # fmt: skip
    parser.add_argument("--root", type=Path, help="synthetic tree (written when absent)")
    parser.add_argument("--out", type=Path, help="run folders (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convergence."))
    root = args.root or work / "sen12ms"
    if not root.is_dir():
        synthesize_sen12ms(root, SynthConfig(), workers=2)
    data = load_sen12ms(root)
    val = sorted(data.split.val)  # choices are made on validation scenes only
    chance = {k: min(k, len(val)) / len(val) for k in (1, 10)}
    print(f"settings: cpu-small {args.set or ''}; {len(val)} validation patches for retrieval")
    print(
        "| mode | negatives K | loss after fill | loss last 20 | chance ln(K+1) | top-1 after fill "
        f"| top-1 last 20 | chance 1/(K+1) | loss last {WINDOW} / lowest {WINDOW} | "
        "S1->S2 r@1 / r@10 | S2->S1 r@1 / r@10 | chance r@1 / r@10 | gap q / k, cos | "
        "own-sensor top-1 | pairs/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        settings = {"mode": mode, "max_steps": args.steps, "precision": "bf16-mixed",
                    "log_every_n_steps": 1, "diagnostics_every_n_steps": 10,
                    } | overrides(args.set)  # fmt: skip
        config = load_config("cpu-small", settings)
        run = (args.out or work) / mode
        summary = run_pretrain(config, root, run)
        log = next((run / "logs" / "csv").glob("version_*/metrics.csv"))
        with log.open(newline="") as f:
            logged = list(csv.DictReader(f))  # training rows, and diagnostics rows of their own
        rows = [r for r in logged if r.get("loss")]
        # steps until every queue segment holds real keys
        fill = config.queue_size // config.global_batch
        k = config.queue_size // config.queue_groups  # negatives per query
        loaded = load_variant("moco", "s1s2", config.backbone, run / ENCODER, data.normalization)
        cache = FeatureCache(run / "features", LoaderSettings(256))
        r = cross_modal_retrieval(loaded, data, val, cache)
        assert r is not None  # sensor-pair and fusion encoders take either sensor alone
        after_fill = sum(1 for row in rows if int(row["step"]) >= fill)
        windows = rolling_means(rows, "loss", fill, max(1, min(WINDOW, after_fill)))
        last, lowest = windows[-1], min(windows)
        verdict = "stable" if last <= lowest * (1 + STABLE) else "CLIMBS BACK"
        d = summary["diagnostics"]
        if args.out:
            draw(args.out / f"{mode}.png", logged, f"{mode}: {' '.join(args.set)}")
        print(f"| {mode} | {k} | {window(rows, fill, fill + 20, 'loss'):.3f} "
              f"| {window(rows, args.steps - 20, args.steps, 'loss'):.3f} | {math.log(k + 1):.3f} "
              f"| {window(rows, fill, fill + 20, 'pos_acc'):.3f} "
              f"| {window(rows, args.steps - 20, args.steps, 'pos_acc'):.3f} | {1 / (k + 1):.4f} "
              f"| {last:.3f} / {lowest:.3f} (+{100 * (last / lowest - 1):.1f} %, {verdict}) "
              f"| {r['s1_to_s2_r@1']:.3f} / {r['s1_to_s2_r@10']:.3f} "
              f"| {r['s2_to_s1_r@1']:.3f} / {r['s2_to_s1_r@10']:.3f} "
              f"| {chance[1]:.4f} / {chance[10]:.3f} "
              f"| {d.get('gap_norm_q', math.nan):.3f} / {d.get('gap_norm_k', math.nan):.3f}, "
              f"{d.get('gap_cos_qk', math.nan):.3f} | {d.get('own_sensor_top1', math.nan):.3f} "
              f"| {summary['pairs_per_s']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
