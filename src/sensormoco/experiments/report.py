"""The study's table (Markdown and CSV), the figures and ``report.md`` of an experiment."""

from __future__ import annotations

import csv
import io
import json
import platform
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from sensormoco.atomic import atomic_write_text
from sensormoco.data.store.format import sha256_file
from sensormoco.evaluation.data import LabelledSEN12MS
from sensormoco.evaluation.features import FeatureCache, weights_sha256
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import dataset_features
from sensormoco.evaluation.variants import FeatureNet
from sensormoco.experiments import plots
from sensormoco.experiments.matrix import EvalCell, Experiment
from sensormoco.models.adapters import FUSION_BANDS
from sensormoco.training.checkpoint import load_encoder

MAIN_METRIC = {"single": "oa", "multi": "micro_f1"}
INPUTS = ("s1", "s2", "s1s2")
VERSIONED = ("sensormoco", "torch", "lightning", "timm", "torchmetrics", "kornia", "rasterio")


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {0.0 if std is None else std:.3f}"


def _value(results: dict[str, Any], cell: EvalCell, metric: str) -> tuple[float, float] | None:
    result = results["eval"].get(cell.name)
    if result is None or result["aggregate"].get(metric) is None:
        return None
    agg = result["aggregate"][metric]
    return agg["mean"], agg["std"]


def study_rows(exp: Experiment, results: dict[str, Any]) -> list[dict[str, str]]:
    """Rows supervised (full), supervised (budget), random init (budget), then one per
    pre-training run (by mode when that is unambiguous) and protocol; columns s1, s2, s1s2."""
    metric = MAIN_METRIC[exp.label_type]
    budget = next((b for b in exp.budgets if b is not None), None)
    rows: list[tuple[str, str, str, int | None]] = []  # label, source, protocol, budget
    if "supervised" in exp.baselines:
        if None in exp.budgets:
            rows.append(("supervised (full)", "supervised", "finetune", None))
        if budget is not None:
            rows.append((f"supervised ({budget})", "supervised", "finetune", budget))
    if "random" in exp.baselines and budget is not None:
        rows.append((f"random init, linear ({budget})", "random", "linear", budget))
    cells = exp.pretrain_cells()
    modes = [c.mode for c in cells]
    for c in cells:
        label = c.mode if modes.count(c.mode) == 1 else c.name
        for protocol in exp.protocols:
            rows.append((f"{label} ({protocol}, {budget or 'full'})", c.name, protocol, budget))
    table = []
    for label, source, proto, b in rows:
        row = {"row": label}
        for input_ in INPUTS:
            value = _value(results, EvalCell(source, proto, input_, b), metric)
            row[input_] = _cell(*value) if value else "n/a"
        table.append(row)
    return table


def _markdown(rows: list[dict[str, str]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "n/a"
    return found


def _figures(
    exp: Experiment, results: dict[str, Any], out: Path, labelled: Callable[[], LabelledSEN12MS]
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
        source = name.split("__")[0]
        agg = result["aggregate"][metric]
        curves.setdefault(f"{source} ({result['protocol']})", []).append(
            (float(n), agg["mean"], agg["std"] or 0.0)
        )
    if curves:
        path = plots.label_efficiency(curves, metric, out / "label_efficiency.png")
        figures[f"Label efficiency ({input_})"] = path
    logs = {}
    for name in results["pretrain"]:
        found = sorted((out / "pretrain" / name / "logs" / "csv").glob("version_*/metrics.csv"))
        if found:
            logs[name] = found[-1]
    if logs:
        figures["Pre-training loss"] = plots.loss_curves(logs, out / "loss_curves.png")
    recalls = {
        n.split("__")[0]: r["retrieval"]
        for n, r in results["eval"].items()
        if r.get("retrieval") and r["variant"] == "moco"
    }
    if recalls:
        figures["Cross-modal retrieval"] = plots.retrieval_bars(recalls, out / "retrieval.png")
    grid: dict[tuple[int, int], float] = {}
    cells = exp.pretrain_cells()
    for c in cells:
        cell = EvalCell(c.name, exp.protocols[0], input_, exp.budgets[0])
        value = _value(results, cell, metric)
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
        path = plots.embedding_map(
            np.asarray(features[input_]),  # M x F
            data.targets(data.test_ids, "single").numpy(),
            data.class_names,
            out / "embedding_tsne.png",
            f"t-SNE of {cells[0].mode} test features",
        )
        figures[f"Embedding map ({cells[0].mode}, test set)"] = path
    return figures


def write_report(
    exp: Experiment,
    results: dict[str, Any],
    out: str | Path,
    labelled: Callable[[], LabelledSEN12MS],
) -> Path:
    """Write table.md, table.csv, the figures and report.md into ``out``; returns report.md."""
    out = Path(out)
    rows = study_rows(exp, results)
    atomic_write_text(out / "table.md", _markdown(rows))
    atomic_write_text(out / "table.csv", _csv(rows))
    figures = _figures(exp, results, out, labelled)
    metric = MAIN_METRIC[exp.label_type]
    seeds = ", ".join(str(s) for s in exp.seeds)
    lines = [
        "# Experiment report",
        "",
        f"Test {metric} (mean ± std over seeds {seeds}); {exp.label_type}-label, {exp.scheme}. "
        "Test = official hold-out scenes; the checkpoint of each run is chosen on validation.",
        "",
        _markdown(rows),
        "[table.csv](table.csv)",
        "",
    ]
    pre = results["pretrain"]
    if pre:
        lines += [
            "## Pre-training runs",
            "",
            "| run | steps | recent loss | recent top-1 | pairs/s |",
            "|---|---|---|---|---|",
        ]
        for name, s in pre.items():
            loss, acc = s.get("recent_loss"), s.get("recent_pos_acc")
            rate = s.get("pairs_per_s")
            lines.append(
                f"| [{name}](pretrain/{name}/summary.json) | {s['steps']} | "
                f"{'n/a' if loss is None else f'{loss:.3f}'} | "
                f"{'n/a' if acc is None else f'{acc:.3f}'} | "
                f"{'n/a' if rate is None else f'{rate:.1f}'} |"
            )
        lines.append("")
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
