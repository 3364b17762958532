"""Does sensor-pairs pre-training learn, and does it stay down? InfoNCE loss and positive-pair
top-1 on the synthetic default, read against chance, its stability, and cross-modal retrieval
on the VALIDATION scenes (settings are chosen on validation only), for each mode given.

    python -m benchmarks.pretrain_convergence [--modes sensor-pairs fusion-all] [--steps 300]
        [--set negatives=shared schedule=cosine lr=0.03 ...] [--root TREE] [--out DIR]
        [--retrieval-every N]
    python -m benchmarks.pretrain_convergence --analyse RUN [RUN ...] [--root TREE]

Pre-trains with the ``cpu-small`` preset (``--set`` overrides its settings) on the synthetic
tree --root (the embedded default is written there when absent) and prints, per mode: the loss
and top-1 over the first logged steps after the queue has filled (before that the queue holds
random keys and the loss is artificially low), over the last 20 steps, and chance (ln(K + 1)
and 1 / (K + 1), K the negatives a query is contrasted with); the stability check (mean loss of
the last 50 steps against the run's lowest 50-step mean after the fill: a run that climbs back
exceeds it by more than 5 %); recall@1 and @10 of S1 -> S2 and S2 -> S1 retrieval over the
validation-scene patches (the evaluation's own measure and chance, eval-mode query encoder;
the gallery is every validation patch, so chance r@k = k / patches), at the end and, from
encoders exported every --retrieval-every steps, along the run (its check: the last value is
not below the best of the last third by more than two standard errors); and the diagnostics
(modality gaps, own-sensor share of top-1 keys: training/diagnostics.py) at a few steps. With
--out, each run's curves are drawn into <out>/<mode>.png. --analyse re-reads finished run
folders (their logs and ``snapshots/``) without training.
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

import lightning as L
import yaml
from lightning.pytorch.callbacks import Callback

from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.evaluation.data import load_sen12ms
from sensormoco.evaluation.features import FeatureCache
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import cross_modal_retrieval
from sensormoco.evaluation.samples import Labelled
from sensormoco.evaluation.variants import load_variant
from sensormoco.training.checkpoint import export_encoder
from sensormoco.training.config import load_config
from sensormoco.training.pretrain import ENCODER, PretrainModule, run_pretrain

WINDOW = 50  # steps of the stability check (last 50 vs the lowest 50-step mean)
STABLE = 0.05  # a run is stable when its last window is within 5 % of its lowest
SNAPSHOTS = "snapshots"  # <run>/snapshots/step_<N>.pt: query encoders along the run
DIAGNOSTICS = ("diag/gap_norm_q", "diag/gap_norm_k", "diag/gap_cos_qk", "diag/own_sensor_top1")
Rows = list[dict[str, str]]


class Snapshots(Callback):
    """Export the query encoder every ``every`` steps into ``folder`` (step_<N>.pt)."""

    def __init__(self, folder: Path, every: int) -> None:
        self.folder, self.every = folder, every

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        step = trainer.global_step  # steps done
        if self.every > 0 and step % self.every == 0 and isinstance(module, PretrainModule):
            export_encoder(module.moco, self.folder / f"step_{step}.pt", module.metadata())


def read_logs(run: Path) -> Rows:
    """The CSV rows of ``run`` over all its log versions (a resumed run writes a new one): a
    later version replaces the rows of the steps it repeats."""
    logged: Rows = []
    logs = (run / "logs" / "csv").glob("version_*/metrics.csv")
    for log in sorted(logs, key=lambda p: int(p.parent.name.removeprefix("version_"))):
        with log.open(newline="") as f:
            new = list(csv.DictReader(f))
        if new:
            first = min(int(r["step"]) for r in new)
            logged = [r for r in logged if int(r["step"]) < first] + new
    return logged


def window(rows: Rows, first: int, last: int, key: str) -> float:
    values = [float(r[key]) for r in rows if first <= int(r["step"]) < last and r.get(key)]
    return statistics.mean(values)


def rolling_means(rows: Rows, key: str, start: int, width: int) -> list[float]:
    """Means of ``width`` consecutive logged values of ``key`` from step ``start`` on."""
    values = [float(r[key]) for r in rows if int(r["step"]) >= start and r.get(key)]
    sums = [0.0, *itertools.accumulate(values)]
    return [(sums[i + width] - sums[i]) / width for i in range(len(values) - width + 1)]


def retrieval(
    encoder: Path, backbone: str, data: Labelled, val: list[Any], cache: FeatureCache
) -> dict[str, float]:
    """Cross-modal recall of ``encoder`` (an encoder file) on the validation ids ``val``."""
    loaded = load_variant("moco", "s1s2", backbone, encoder, data.normalization)
    r = cross_modal_retrieval(loaded, data, val, cache)
    assert r is not None  # sensor-pair and fusion encoders take either sensor alone
    return r


def nearest(points: dict[int, float], step: int) -> int:
    """The logged step of ``points`` closest to ``step``."""
    return min(points, key=lambda s: abs(s - step))


def r10(r: dict[str, float]) -> float:
    """Recall@10, mean of both directions."""
    return (r["s1_to_s2_r@10"] + r["s2_to_s1_r@10"]) / 2


def draw(path: Path, logged: Rows, curve: dict[int, float], chance: float, title: str) -> None:
    """Loss (50-step mean), validation r@10 and the diagnostics against steps, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(7, 7.5), sharex=True)
    rows = [r for r in logged if r.get("loss")]
    steps = [int(r["step"]) for r in rows]
    losses = rolling_means(rows, "loss", 0, min(WINDOW, len(steps)))
    top.plot(steps, [float(r["loss"]) for r in rows], lw=0.5, alpha=0.4, label="loss")
    top.plot(steps[len(steps) - len(losses) :], losses, label=f"loss ({WINDOW}-step mean)")
    top.set_ylabel("InfoNCE")
    top.legend(fontsize="small")
    middle.plot(list(curve), list(curve.values()), "o-", label="val r@10 (both ways)")
    middle.axhline(10 * chance, ls="--", c="grey", label="10 x chance")
    middle.set_ylabel("recall@10")
    middle.legend(fontsize="small")
    for key in DIAGNOSTICS:
        points = [(int(r["step"]), float(r[key])) for r in logged if r.get(key)]
        if points:
            bottom.plot(*zip(*points, strict=True), label=key.removeprefix("diag/"))
    bottom.set_xlabel("step")
    bottom.legend(fontsize="small")
    fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
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


HEADER = (
    "| run | negatives K | loss after fill | loss last 20 | chance ln(K+1) | top-1 after fill "
    f"| top-1 last 20 | chance 1/(K+1) | loss last {WINDOW} / lowest {WINDOW} | "
    "S1->S2 r@1 / r@10 | S2->S1 r@1 / r@10 | chance r@1 / r@10 | pairs/s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def report(run: Path, data: Labelled, val: list[Any], png: Path | None) -> None:
    """Print the table row, the retrieval curve and the diagnostics of a finished run."""
    config = load_config(run / "config.yaml")
    logged = read_logs(run)  # training rows, and diagnostics rows of their own
    rows = [r for r in logged if r.get("loss")]
    steps = max(int(r["step"]) for r in rows) + 1
    fill = config.queue_size // config.global_batch  # steps until every segment holds keys
    k = config.queue_size // config.queue_groups  # negatives per query
    cache = FeatureCache(run / "features", LoaderSettings(256))
    snaps = {int(p.stem.removeprefix("step_")): p for p in (run / SNAPSHOTS).glob("step_*.pt")}
    b = config.backbone
    results = {s: retrieval(p, b, data, val, cache) for s, p in sorted(snaps.items()) if s < steps}
    results[steps] = r = retrieval(run / ENCODER, b, data, val, cache)
    curve = {s: r10(x) for s, x in results.items()}
    after_fill = sum(1 for row in rows if int(row["step"]) >= fill)
    windows = rolling_means(rows, "loss", fill, max(1, min(WINDOW, after_fill)))
    last, lowest = windows[-1], min(windows)
    verdict = "stable" if last <= lowest * (1 + STABLE) else "CLIMBS BACK"
    chance = r["chance_r@10"]
    pairs_per_s = statistics.mean(float(x["pairs_per_s"]) for x in rows if x.get("pairs_per_s"))
    print(f"| {run.parent.name}/{run.name} | {k} | {window(rows, fill, fill + 20, 'loss'):.3f} "
          f"| {window(rows, steps - 20, steps, 'loss'):.3f} | {math.log(k + 1):.3f} "
          f"| {window(rows, fill, fill + 20, 'pos_acc'):.3f} "
          f"| {window(rows, steps - 20, steps, 'pos_acc'):.3f} | {1 / (k + 1):.4f} "
          f"| {last:.3f} / {lowest:.3f} (+{100 * (last / lowest - 1):.1f} %, {verdict}) "
          f"| {r['s1_to_s2_r@1']:.3f} / {r['s1_to_s2_r@10']:.3f} "
          f"| {r['s2_to_s1_r@1']:.3f} / {r['s2_to_s1_r@10']:.3f} "
          f"| {r['chance_r@1']:.4f} / {chance:.3f} | {pairs_per_s:.1f} |")  # fmt: skip
    # the last value against the best of the last third, within two binomial standard errors
    best = max(v for s, v in curve.items() if s >= 2 * steps / 3)
    se = math.sqrt(best * (1 - best) / (2 * len(val)))
    holds = "holds" if curve[steps] >= best - 2 * se else "FALLS"
    ratio = curve[steps] / chance
    by_step = ", ".join(f"{s}: {v:.3f}" for s, v in curve.items())
    enough = ">=" if ratio >= 10 else "<"
    print(f"  val r@10 (both ways) by step: {by_step}; end {ratio:.1f}x chance ({enough} 10x), "
          f"last third {holds}")  # fmt: skip
    marks = sorted({fill + 2, steps // 3, 2 * steps // 3, steps - 1})
    for key in DIAGNOSTICS:
        points = {int(x["step"]): float(x[key]) for x in logged if x.get(key)}
        if points:
            near = dict.fromkeys(nearest(points, m) for m in marks)
            shown = ", ".join(f"{s}: {points[s]:.3f}" for s in near)
            print(f"  {key.removeprefix('diag/')} by step: {shown}")
    if png is not None:
        draw(png, logged, curve, chance, f"{run.name}: {config.schedule} lr {config.lr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["sensor-pairs"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="cpu-small settings to override")  # fmt: skip
    parser.add_argument("--root", type=Path, help="synthetic tree (written when absent)")
    parser.add_argument("--out", type=Path, help="run folders (default: a temporary folder)")
    parser.add_argument("--retrieval-every", type=int, default=75,
                        help="steps between encoder snapshots (0: none)")  # fmt: skip
    parser.add_argument("--analyse", nargs="+", type=Path, metavar="RUN",
                        help="report finished run folders instead of training")  # fmt: skip
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convergence."))
    root = args.root or work / "sen12ms"
    if not root.is_dir():
        synthesize_sen12ms(root, SynthConfig(), workers=2)
    data = load_sen12ms(root)
    val = sorted(data.split.val)  # choices are made on validation scenes only
    print(f"settings: cpu-small {args.set or ''}; {len(val)} validation patches for retrieval")
    if args.analyse:
        print(HEADER)
        for run in args.analyse:
            report(run, data, val, run / "curves.png")
        return
    runs = []
    for mode in args.modes:
        settings = {"mode": mode, "max_steps": args.steps, "precision": "bf16-mixed",
                    "log_every_n_steps": 1, "diagnostics_every_n_steps": 10,
                    } | overrides(args.set)  # fmt: skip
        config = load_config("cpu-small", settings)
        run = (args.out or work) / mode
        run_pretrain(
            config, root, run, callbacks=[Snapshots(run / SNAPSHOTS, args.retrieval_every)]
        )
        runs.append(run)
    print(HEADER)
    for run in runs:
        report(run, data, val, args.out / f"{run.name}.png" if args.out else None)


if __name__ == "__main__":
    main()
