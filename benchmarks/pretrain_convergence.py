"""Does sensor-pairs pre-training learn? InfoNCE loss and positive-pair top-1 on the synthetic
default, read against chance, and cross-modal retrieval on the test scenes, for each mode given.

    python benchmarks/pretrain_convergence.py [--modes sensor-pairs fusion-all] [--steps 300]
        [--set negatives=shared bn_splits=4 ...]

Pre-trains with the ``cpu-small`` preset (``--set`` overrides its settings) on the embedded
default (written once into --root) and prints, per mode: the loss and top-1 over the first
logged steps after the queue has filled (before that the queue holds random keys and the loss
is artificially low), over the last 20 steps, and chance (ln(K + 1) and 1 / (K + 1), K the
negatives a query is contrasted with); then recall@1 and @10 of S1 -> S2 and S2 -> S1 retrieval
over the test patches (the evaluation's own measure, eval-mode network) against chance.
"""

from __future__ import annotations

import argparse
import csv
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


def window(rows: list[dict[str, str]], first: int, last: int, key: str) -> float:
    values = [float(r[key]) for r in rows if first <= int(r["step"]) < last and r.get(key)]
    return statistics.mean(values)


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
    test = data.test_ids
    chance = {k: min(k, len(test)) / len(test) for k in (1, 10)}
    print(f"settings: cpu-small {args.set or ''}; {len(test)} test patches for retrieval")
    print(
        "| mode | negatives K | loss after fill | loss last 20 | chance ln(K+1) | top-1 after fill "
        "| top-1 last 20 | chance 1/(K+1) | S1->S2 r@1 / r@10 | S2->S1 r@1 / r@10 "
        "| chance r@1 / r@10 | pairs/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        settings = {"mode": mode, "max_steps": args.steps, "precision": "bf16-mixed",
                    "log_every_n_steps": 1} | overrides(args.set)  # fmt: skip
        config = load_config("cpu-small", settings)
        run = (args.out or work) / mode
        summary = run_pretrain(config, root, run)
        log = next((run / "logs" / "csv").glob("version_*/metrics.csv"))
        with log.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("loss")]
        # steps until every queue segment holds real keys
        fill = config.queue_size // config.global_batch
        k = config.queue_size // config.queue_groups  # negatives per query
        loaded = load_variant("moco", "s1s2", config.backbone, run / ENCODER, data.normalization)
        cache = FeatureCache(run / "features", LoaderSettings(256))
        r = cross_modal_retrieval(loaded, data, test, cache)
        assert r is not None  # sensor-pair and fusion encoders take either sensor alone
        print(f"| {mode} | {k} | {window(rows, fill, fill + 20, 'loss'):.3f} "
              f"| {window(rows, args.steps - 20, args.steps, 'loss'):.3f} | {math.log(k + 1):.3f} "
              f"| {window(rows, fill, fill + 20, 'pos_acc'):.3f} "
              f"| {window(rows, args.steps - 20, args.steps, 'pos_acc'):.3f} | {1 / (k + 1):.4f} "
              f"| {r['s1_to_s2_r@1']:.3f} / {r['s1_to_s2_r@10']:.3f} "
              f"| {r['s2_to_s1_r@1']:.3f} / {r['s2_to_s1_r@10']:.3f} "
              f"| {chance[1]:.4f} / {chance[10]:.3f} "
              f"| {summary['pairs_per_s']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
