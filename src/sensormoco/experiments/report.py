"""The study's table (Markdown and CSV), the figures and ``report.md`` of an experiment."""

from __future__ import annotations

import json
import platform
import statistics
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from sensormoco.atomic import atomic_write_text
from sensormoco.experiments import plots
from sensormoco.experiments.matrix import EvalCell, Experiment
from sensormoco.experiments.report_data import read_embedding, read_majority
from sensormoco.experiments.results import MatrixResults
from sensormoco.experiments.table import (
    MAIN_METRIC,
    MAJORITY,
    METRICS,
    Row,
    markdown,
    markdown_metrics,
    pooled,
    pretrain_groups,
    row_specs,
    study_rows,
    table_budget,
    table_csv,
)

VERSIONED = ("sensormoco", "torch", "lightning", "timm", "torchmetrics", "kornia", "rasterio")


def run_label(exp: Experiment, name: str) -> str:
    """A readable name of a pre-training cell (``sensor-pairs_auto_full_b32_s400`` ->
    ``sensor-pairs (batch 32, 400 steps)``) or of a baseline."""
    cells = {c.name: c for c in exp.pretrain_cells()}
    if name in cells:
        return cells[name].label()
    return {"supervised": "supervised", "random": "random init"}.get(name, name)


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


def _main_input(exp: Experiment) -> str:
    return "s1s2" if "s1s2" in exp.inputs else exp.inputs[0]


def _label_efficiency(
    exp: Experiment, results: MatrixResults, out: Path, rows: list[Row]
) -> Path | None:
    """Main metric against labelled patches, one curve per table row (pooled over seeds)."""
    metric, input_ = MAIN_METRIC[exp.label_type], _main_input(exp)
    curves: dict[str, list[tuple[float, float, float]]] = {}
    for spec in row_specs(exp):
        for budget in exp.budgets_of(spec.protocol):
            cells = spec.cells(input_, budget)
            value = pooled(results, cells, metric)
            first = results.eval.get(cells[0].name)
            if value is None or first is None:
                continue
            n = first.per_seed[0]["train"] + first.per_seed[0]["val"]
            curves.setdefault(spec.name, []).append((float(n), value.mean, value.std or 0.0))
    majority = next((r.values.get((input_, metric)) for r in rows if r.label == MAJORITY), None)
    if not curves:
        return None
    level = None if majority is None else majority.mean
    return plots.label_efficiency(curves, metric, out / "label_efficiency.png", level)


def _retrieval(exp: Experiment, results: MatrixResults, out: Path) -> Path | None:
    """Cross-modal recall per pre-training setting (mean over its seeds' encoders)."""
    recalls: dict[str, dict[str, float]] = {}
    tested = None
    for cells in pretrain_groups(exp).values():
        found = []
        for cell in cells:  # each encoder's retrieval, from any of its evaluation cells
            prefix = f"{cell.name}__"
            r = next(
                (r for n, r in results.eval.items() if n.startswith(prefix) and r.retrieval), None
            )
            if r is not None and r.retrieval and r.variant == "moco":
                found.append(r.retrieval)
                tested = r.test_patches
        if found:
            label = cells[0].label(with_seed=False)
            recalls[label] = {k: statistics.fmean(f[k] for f in found) for k in found[0]}
    if not recalls:
        return None
    return plots.retrieval_bars(recalls, out / "retrieval.png", tested)


def _figures(
    exp: Experiment, results: MatrixResults, out: Path, rows: list[Row]
) -> dict[str, Path]:
    """Every figure the results allow; returns title -> path."""
    metric, input_ = MAIN_METRIC[exp.label_type], _main_input(exp)
    figures: dict[str, Path] = {}
    path = _label_efficiency(exp, results, out, rows)
    if path is not None:
        figures[f"Label efficiency ({input_})"] = path
    logs, chance = {}, {}
    for name in results.pretrain:
        found = sorted((out / "pretrain" / name / "logs" / "csv").glob("version_*/metrics.csv"))
        if found:
            logs[run_label(exp, name)] = found[-1]
            chance[run_label(exp, name)] = _chance_top1(out / "pretrain" / name)
    if logs:
        figures["Pre-training loss"] = plots.loss_curves(logs, out / "loss_curves.png", chance)
    path = _retrieval(exp, results, out)
    if path is not None:
        figures["Cross-modal retrieval"] = path
    grid: dict[tuple[int, int], float] = {}
    groups = pretrain_groups(exp)
    first_mode = next(iter(groups.values()))[0].mode if groups else None
    budget = table_budget(exp, exp.protocols[0])
    for cells in groups.values():
        sources = [EvalCell(c.name, exp.protocols[0], input_, budget) for c in cells]
        value = pooled(results, sources, metric)
        if value is not None and cells[0].mode == first_mode:
            grid[(cells[0].batch_size, cells[0].steps)] = value.mean
    if len(grid) > 1:
        figures["Batch size x steps"] = plots.grid_heatmap(grid, out / "batch_steps.png", metric)
    embedding = read_embedding(out)
    if embedding is not None:
        path = plots.embedding_map(
            embedding.xy,
            embedding.labels,
            embedding.class_names,
            out / "embedding_tsne.png",
            embedding.title,
        )
        figures[embedding.caption] = path
    return figures


def _pretrain_table(exp: Experiment, out: Path, pre: dict[str, Any]) -> list[str]:
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
            f"| [{run_label(exp, name)}](pretrain/{name}/summary.json) | {s['steps']} | "
            f"{'n/a' if loss is None else f'{loss:.3f}'} | "
            f"{'n/a' if acc is None else f'{acc:.3f}'} | "
            f"{'n/a' if chance is None else f'{chance:.4f}'} | "
            f"{'n/a' if rate is None else f'{rate:.1f}'} |"
        )
    return [*lines, ""]


def write_report(exp: Experiment, results: MatrixResults, out: str | Path) -> Path:
    """Write table.md, table.csv, the figures and report.md into ``out`` from the results and
    what the runner wrote beside them (majority.json, embedding.npz); returns report.md."""
    out = Path(out)
    metrics = METRICS[exp.label_type]
    rows = study_rows(exp, results, read_majority(out))
    metric = MAIN_METRIC[exp.label_type]
    input_ = _main_input(exp)
    atomic_write_text(out / "table.md", markdown(rows, metric))
    atomic_write_text(out / "table.csv", table_csv(rows, metrics))
    figures = _figures(exp, results, out, rows)
    seeds = ", ".join(str(s) for s in exp.seeds)
    pre_seeds = [s for s in exp.pretrain_seeds if s is not None]
    spread = (
        f"pre-training seeds {', '.join(map(str, pre_seeds))} x evaluation seeds {seeds}"
        if pre_seeds
        else f"seeds {seeds}"
    )
    lines = [
        "# Experiment report",
        "",
        f"Test {metric} (mean ± std over {spread}; *seeds*: how many runs each cell pools); "
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
    if results.pretrain:
        lines += _pretrain_table(exp, out, results.pretrain)
    lines += ["## Evaluation runs", ""]
    for name in results.eval:
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
