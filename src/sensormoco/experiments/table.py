"""The study's table: one row per baseline and pre-training run x protocol, one column per input,
every metric of the label type as mean, std and seed count; plus the majority-class row (the
score of always answering the test set's most frequent class: the best any constant answer
gets, which a result must beat).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

import torch

from sensormoco.evaluation.data import LabelledSEN12MS
from sensormoco.evaluation.metrics import multi_label_metrics, single_label_metrics
from sensormoco.experiments.matrix import EvalCell, Experiment

MAIN_METRIC = {"single": "oa", "multi": "micro_f1"}
METRICS = {
    "single": ("oa", "aa", "macro_f1", "kappa"),
    "multi": ("micro_map", "macro_map", "micro_f1", "macro_f1"),
}
INPUTS = ("s1", "s2", "s1s2")
MAJORITY = "majority class (test)"


@dataclass(frozen=True)
class Value:
    """One metric of one cell: mean and sample std over ``n`` seeds (std None for one seed)."""

    mean: float
    std: float | None
    n: int

    def text(self, digits: int = 3) -> str:
        std = "n/a" if self.std is None else f"{self.std:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {std}"


@dataclass(frozen=True)
class Row:
    label: str
    values: dict[tuple[str, str], Value]  # (input, metric) -> value


def _value(results: dict[str, Any], cell: EvalCell, metric: str) -> Value | None:
    result = results["eval"].get(cell.name)
    if result is None or result["aggregate"].get(metric) is None:
        return None
    agg = result["aggregate"][metric]
    std = agg["std"]
    std = None if std is None or (isinstance(std, float) and math.isnan(std)) else std
    return Value(agg["mean"], std, len(result.get("per_seed", result.get("seeds", []))))


def majority_metrics(data: LabelledSEN12MS, label_type: str) -> dict[str, float]:
    """Test metrics of the best constant answer: the test set's most frequent class (single),
    or each class's test frequency as its score (multi)."""
    k = len(data.class_names)
    test = data.test_ids
    if label_type == "single":
        target = torch.tensor([data.single[p] for p in test])  # M
        scores = torch.zeros(len(test), k)  # M x K
        scores[:, int(torch.bincount(target, minlength=k).argmax())] = 1.0
        return single_label_metrics(scores, target, k)
    multi = torch.zeros(len(test), k)  # M x K
    for row, pid in enumerate(test):
        multi[row, list(data.multi[pid])] = 1.0
    return multi_label_metrics(multi.mean(dim=0).expand(len(test), k), multi)


def study_rows(
    exp: Experiment, results: dict[str, Any], majority: dict[str, float] | None = None
) -> list[Row]:
    """Rows: the majority class, supervised (full, budget), random init (budget), then one per
    pre-training run (by mode when that is unambiguous) and protocol."""
    budget = next((b for b in exp.budgets if b is not None), None)
    specs: list[tuple[str, str, str, int | None]] = []  # label, source, protocol, budget
    if "supervised" in exp.baselines:
        if None in exp.budgets:
            specs.append(("supervised, fine-tuned (full)", "supervised", "finetune", None))
        if budget is not None:
            specs.append((f"supervised, fine-tuned ({budget})", "supervised", "finetune", budget))
    if "random" in exp.baselines and budget is not None:
        specs.append((f"random init, linear ({budget})", "random", "linear", budget))
    cells = exp.pretrain_cells()
    modes = [c.mode for c in cells]
    for c in cells:
        label = c.mode if modes.count(c.mode) == 1 else c.name
        for protocol in exp.protocols:
            specs.append((f"{label} ({protocol}, {budget or 'full'})", c.name, protocol, budget))
    rows = []
    if majority is not None:
        rows.append(
            Row(
                MAJORITY,
                {
                    (i, m): Value(majority[m], None, 1)
                    for i in INPUTS
                    for m in METRICS[exp.label_type]
                    if m in majority
                },
            )
        )
    for label, source, protocol, b in specs:
        values = {}
        for input_ in INPUTS:
            for metric in METRICS[exp.label_type]:
                value = _value(results, EvalCell(source, protocol, input_, b), metric)
                if value is not None:
                    values[(input_, metric)] = value
        rows.append(Row(label, values))
    return rows


def _seeds(row: Row) -> str:
    if row.label == MAJORITY:
        return "-"
    counts = sorted({v.n for v in row.values.values()})
    return "n/a" if not counts else "/".join(map(str, counts))


def markdown(rows: list[Row], metric: str) -> str:
    """One metric per input, mean ± std, and the seed count of the row's cells."""
    lines = [
        "| row | " + " | ".join(INPUTS) + " | seeds |",
        "|---|" + "---|" * len(INPUTS) + "---|",
    ]
    for row in rows:
        cells = [
            row.values[(i, metric)].text() if (i, metric) in row.values else "n/a" for i in INPUTS
        ]
        lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {_seeds(row)} |")
    return "\n".join(lines) + "\n"


def markdown_metrics(rows: list[Row], input_: str, metrics: tuple[str, ...]) -> str:
    """Every metric of the label type for one input."""
    lines = ["| row | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for row in rows:
        if not any((input_, m) in row.values for m in metrics):
            continue
        cells = [
            row.values[(input_, m)].text() if (input_, m) in row.values else "n/a" for m in metrics
        ]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(rows: list[Row], metrics: tuple[str, ...]) -> str:
    """Numeric: one line per row and metric; per input its mean, std and seed count (empty
    where there is no value, std empty for one seed)."""
    fields = ["row", *INPUTS, *(f"{i}_std" for i in INPUTS), *(f"{i}_n" for i in INPUTS), "metric"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        for metric in metrics:
            line: dict[str, Any] = {"row": row.label, "metric": metric}
            for i in INPUTS:
                v = row.values.get((i, metric))
                line[i] = "" if v is None else repr(v.mean)
                line[f"{i}_std"] = "" if v is None or v.std is None else repr(v.std)
                line[f"{i}_n"] = "" if v is None else v.n
            writer.writerow(line)
    return buffer.getvalue()
