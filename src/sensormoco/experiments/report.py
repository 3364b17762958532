"""The study's table (Markdown and CSV), the figures and ``report.md`` of an experiment."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sensormoco.atomic import atomic_write_text
from sensormoco.data.store.format import sha256_file
from sensormoco.evaluation.data import LabelledSEN12MS
from sensormoco.evaluation.features import FeatureCache, weights_sha256
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import dataset_features
from sensormoco.evaluation.variants import FeatureNet
from sensormoco.experiments import plots
from sensormoco.experiments.matrix import EvalCell, Experiment
from sensormoco.experiments.table import (
    MAIN_METRIC,
    MAJORITY,
    METRICS,
    Row,
    majority_metrics,
    markdown,
    markdown_metrics,
    study_rows,
    table_csv,
)
from sensormoco.models.adapters import FUSION_BANDS
from sensormoco.training.checkpoint import load_encoder

VERSIONED = ("sensormoco", "torch", "lightning", "timm", "torchmetrics", "kornia", "rasterio")


def run_label(name: str) -> str:
    """A readable name of a pre-training cell (``sensor-pairs_auto_full_b32_s400`` ->
    ``sensor-pairs (batch 32, 400 steps)``) or of a baseline."""
    parts = name.split("_")
    if len(parts) < 5 or not parts[-2].startswith("b") or not parts[-1].startswith("s"):
        return {"supervised": "supervised", "random": "random init"}.get(name, name)
    mode, augment, subset = parts[0], parts[1], "_".join(parts[2:-2])
    extra = [] if augment == "auto" else [f"augment {augment}"]
    extra += [] if subset == "full" else [f"subset {subset}"]
    return f"{mode} ({', '.join([*extra, f'batch {parts[-2][1:]}', f'{parts[-1][1:]} steps'])})"


def _chance_top1(run: Path) -> float | None:
    """Chance level of the positive-pair top-1: 1 / (1 + negatives per query)."""
    try:
        config = yaml.safe_load((run / "config.yaml").read_text())
        segments = 2 if config.get("negatives") == "cross-sensor" else 1
        return 1.0 / (1.0 + int(config["queue_size"]) / segments)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "n/a"
    return found


def _figures(
    exp: Experiment,
    results: dict[str, Any],
    out: Path,
    rows: list[Row],
    labelled: Callable[[], LabelledSEN12MS],
) -> dict[str, Path]:
    """Every figure the results allow; returns title -> path."""
    metric = MAIN_METRIC[exp.label_type]
    figures: dict[str, Path] = {}
    input_ = "s1s2" if "s1s2" in exp.inputs else exp.inputs[0]
    curves: dict[str, list[tuple[float, float, float]]] = {}
    for name, result in results["eval"].items():
        if result["input"] != input_ or result["aggregate"].get(metric) is None:
            continue
        n = result["per_seed"][0]["train"] + result["per_seed"][0]["val"]
        source = run_label(name.split("__")[0])
        agg = result["aggregate"][metric]
        curves.setdefault(f"{source}, {result['protocol']}", []).append(
            (float(n), agg["mean"], agg["std"] or 0.0)
        )
    majority = next((r.values.get((input_, metric)) for r in rows if r.label == MAJORITY), None)
    if curves:
        path = plots.label_efficiency(
            curves,
            metric,
            out / "label_efficiency.png",
            None if majority is None else majority.mean,
        )
        figures[f"Label efficiency ({input_})"] = path
    logs, chance = {}, {}
    for name in results["pretrain"]:
        found = sorted((out / "pretrain" / name / "logs" / "csv").glob("version_*/metrics.csv"))
        if found:
            logs[run_label(name)] = found[-1]
            chance[run_label(name)] = _chance_top1(out / "pretrain" / name)
    if logs:
        figures["Pre-training loss"] = plots.loss_curves(logs, out / "loss_curves.png", chance)
    recalls = {
        run_label(n.split("__")[0]): r["retrieval"]
        for n, r in results["eval"].items()
        if r.get("retrieval") and r["variant"] == "moco"
    }
    if recalls:
        tested = next(r["test_patches"] for r in results["eval"].values() if r.get("retrieval"))
        figures["Cross-modal retrieval"] = plots.retrieval_bars(
            recalls, out / "retrieval.png", tested
        )
    grid: dict[tuple[int, int], float] = {}
    cells = exp.pretrain_cells()
    for c in cells:
        value = _value(results, EvalCell(c.name, exp.protocols[0], input_, exp.budgets[0]), metric)
        if value is not None and c.mode == cells[0].mode:
            grid[(c.batch_size, c.steps)] = value[0]
    if len(grid) > 1:
        figures["Batch size x steps"] = plots.grid_heatmap(grid, out / "batch_steps.png", metric)
    encoder_file = out / "pretrain" / cells[0].name / "encoder.pt" if cells else None
    if encoder_file is not None and encoder_file.is_file():
        data = labelled()
        encoder, meta = load_encoder(encoder_file)
        bands = tuple(meta["bands"])
        input_ = "s1s2" if bands == FUSION_BANDS else ("s1" if len(bands) == 2 else "s2")
        net = FeatureNet(encoder)
        network = {
            "role": "features",
            "encoder": sha256_file(encoder_file),
            "weights": weights_sha256(net),
        }
        cache = FeatureCache(out / "features", LoaderSettings(64))
        features = dataset_features(cache, net, network, data, data.test_ids, [input_], bands)
        title = (
            f"t-SNE of {run_label(cells[0].name)} backbone features\n"
            f"input {input_}, {len(data.test_ids)} test patches, coloured by true class"
        )
        path = plots.embedding_map(
            np.asarray(features[input_]),  # M x F
            data.targets(data.test_ids, "single").numpy(),
            data.class_names,
            out / "embedding_tsne.png",
            title,
        )
        figures[f"Embedding map ({cells[0].mode}, input {input_}, test set)"] = path
    return figures


def _value(results: dict[str, Any], cell: EvalCell, metric: str) -> tuple[float, float] | None:
    result = results["eval"].get(cell.name)
    if result is None or result["aggregate"].get(metric) is None:
        return None
    agg = result["aggregate"][metric]
    return agg["mean"], agg["std"]


def _pretrain_table(out: Path, pre: dict[str, Any]) -> list[str]:
    lines = [
        "## Pre-training runs",
        "",
        "*recent top-1*: share of the last steps' queries whose positive key scores above "
        "every negative (chance: 1 / (1 + negatives per query)).",
        "",
        "| run | steps | recent loss | recent top-1 | chance top-1 | pairs/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in pre.items():
        loss, acc, rate = s.get("recent_loss"), s.get("recent_pos_acc"), s.get("pairs_per_s")
        chance = _chance_top1(out / "pretrain" / name)
        lines.append(
            f"| [{run_label(name)}](pretrain/{name}/summary.json) | {s['steps']} | "
            f"{'n/a' if loss is None else f'{loss:.3f}'} | "
            f"{'n/a' if acc is None else f'{acc:.3f}'} | "
            f"{'n/a' if chance is None else f'{chance:.4f}'} | "
            f"{'n/a' if rate is None else f'{rate:.1f}'} |"
        )
    return [*lines, ""]


def write_report(
    exp: Experiment,
    results: dict[str, Any],
    out: str | Path,
    labelled: Callable[[], LabelledSEN12MS],
) -> Path:
    """Write table.md, table.csv, the figures and report.md into ``out``; returns report.md."""
    out = Path(out)
    metrics = METRICS[exp.label_type]
    rows = study_rows(exp, results, majority_metrics(labelled(), exp.label_type))
    metric = MAIN_METRIC[exp.label_type]
    input_ = "s1s2" if "s1s2" in exp.inputs else exp.inputs[0]
    atomic_write_text(out / "table.md", markdown(rows, metric))
    atomic_write_text(out / "table.csv", table_csv(rows, metrics))
    figures = _figures(exp, results, out, rows, labelled)
    seeds = ", ".join(str(s) for s in exp.seeds)
    lines = [
        "# Experiment report",
        "",
        f"Test {metric} (mean ± std over seeds {seeds}; *seeds*: how many each cell ran); "
        f"{exp.label_type}-label, {exp.scheme}. Test = official hold-out scenes; the epoch of "
        f"each run is chosen on validation. *{MAJORITY}*: always answering the test set's most "
        "frequent class, the best constant answer: the level a result must beat.",
        "",
        markdown(rows, metric),
        "[table.csv](table.csv) (every metric: mean, std, n)",
        "",
        f"## All metrics (input {input_})",
        "",
        markdown_metrics(rows, input_, metrics),
        "",
    ]
    if results["pretrain"]:
        lines += _pretrain_table(out, results["pretrain"])
    lines += ["## Evaluation runs", ""]
    for name in results["eval"]:
        lines.append(f"- [{name}](eval/{name}/metrics.md)")
    lines.append("")
    for title, path in figures.items():
        lines += [f"## {title}", "", f"![{title}]({path.name})", ""]
    lines += [
        "## Configuration and versions",
        "",
        "[experiment.yaml](experiment.yaml) "
        "(the resolved matrix); each run's `config.yaml` sits in its folder.",
        "",
        "```json",
        json.dumps(_versions(), indent=2),
        "```",
        "",
    ]
    atomic_write_text(out / "report.md", "\n".join(lines))
    return out / "report.md"
