"""The study's table in the draft's shape: rows supervised (fine-tuned from random init), random
init (linear probe on a random network), then each pre-training mode the experiment ran, in the
study's order (per protocol); columns s1, s2, s1s2 (n/a where a cell did not run). Every metric
of the label type is kept as mean, std and seed count: a row's spread spans its pre-training
seeds x evaluation seeds. The first row is the majority class (the score of always answering
the test set's most frequent class: the best any constant answer gets, which a result must
beat).
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from typing import Any

from sensormoco import defaults
from sensormoco.experiments.matrix import EvalCell, Experiment, PretrainCell
from sensormoco.experiments.results import MatrixResults

MAIN_METRIC = {"single": "oa", "multi": "micro_f1"}
METRICS = {
    "single": ("oa", "aa", "macro_f1", "kappa"),
    "multi": ("micro_map", "macro_map", "micro_f1", "macro_f1"),
}
INPUTS = ("s1", "s2", "s1s2")
MAJORITY = "majority class (test)"
# the study's row order of pre-training modes (others follow in the experiment's order)
MODE_ORDER = (
    "sensor-pairs",
    "sensor-pairs-augment",
    "fusion-all",
    "fusion-partial",
    "fusion-optional",
    "augment",
)
PROTOCOL_NAMES = {"linear": "linear", "finetune": "fine-tuned", "knn": "kNN"}


@dataclass(frozen=True)
class Value:
    """One metric of one row: mean and sample std over ``n`` seeds (std None for one seed)."""

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


@dataclass(frozen=True)
class RowSpec:
    """What a row pools: the evaluation cells of ``sources`` (a baseline, or the cell names of
    one pre-training setting's seeds) under one protocol."""

    name: str  # e.g. "sensor-pairs, linear" (curves are named so)
    label: str  # with the budget: "sensor-pairs (linear, 1024)"
    sources: tuple[str, ...]
    protocol: str

    def cells(self, input_: str, budget: int | None) -> list[EvalCell]:
        return [EvalCell(s, self.protocol, input_, budget) for s in self.sources]


def table_budget(exp: Experiment, protocol: str) -> int | None:
    """The budget a protocol's table row reports: the default (1,024) when it ran, else the
    largest budget; None: only the full split ran."""
    budgets = [b for b in exp.budgets_of(protocol) if b is not None]
    if defaults.LABEL_BUDGET in budgets:
        return defaults.LABEL_BUDGET
    return max(budgets) if budgets else None


def _mode_rank(mode: str, modes: tuple[str, ...]) -> tuple[int, int]:
    known = mode in MODE_ORDER
    return (0, MODE_ORDER.index(mode)) if known else (1, modes.index(mode))


def pretrain_groups(exp: Experiment) -> dict[str, list[PretrainCell]]:
    """The pre-training cells by setting (their seeds together), in the study's mode order."""
    groups: dict[str, list[PretrainCell]] = {}
    cells = sorted(exp.pretrain_cells(), key=lambda c: _mode_rank(c.mode, exp.modes))
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    return groups


def row_specs(exp: Experiment) -> list[RowSpec]:
    """The table's rows but the majority class, in order (the label-efficiency curves too)."""
    specs: list[RowSpec] = []
    if "supervised" in exp.baselines:
        specs.append(RowSpec("supervised", "supervised, fine-tuned", ("supervised",), "finetune"))
    if "random" in exp.baselines:
        specs.append(RowSpec("random init", "random init, linear", ("random",), "linear"))
    groups = pretrain_groups(exp)
    modes = [cells[0].mode for cells in groups.values()]
    for cells in groups.values():
        first = cells[0]
        name = first.mode if modes.count(first.mode) == 1 else first.label(with_seed=False)
        sources = tuple(c.name for c in cells)
        for protocol in exp.protocols:
            shown = PROTOCOL_NAMES.get(protocol, protocol)
            specs.append(RowSpec(f"{name}, {shown}", name, sources, protocol))
    return specs


def pooled(results: MatrixResults, cells: list[EvalCell], metric: str) -> Value | None:
    """``metric`` over every seed of ``cells`` (pre-training x evaluation seeds); one cell: its
    own aggregate. None when a cell is missing or the metric is undefined in one of them."""
    found = [results.eval.get(c.name) for c in cells]
    if not found or any(r is None or r.aggregate.get(metric) is None for r in found):
        return None
    if len(found) == 1 and found[0] is not None:
        agg, n = found[0].aggregate[metric], len(found[0].per_seed)
        mean, std = agg.get("mean"), agg.get("std")
        if mean is None:
            return None
        std = None if std is None or math.isnan(std) else std
        return Value(float(mean), std, n)
    values = [row["metrics"].get(metric) for r in found if r is not None for row in r.per_seed]
    if any(v is None or math.isnan(v) for v in values):
        return None
    floats = [float(v) for v in values if v is not None]
    std = statistics.stdev(floats) if len(floats) > 1 else None
    return Value(statistics.fmean(floats), std, len(floats))


def _label(spec: RowSpec, budget: int | None) -> str:
    shown = "full" if budget is None else str(budget)
    if spec.sources in (("supervised",), ("random",)):
        return f"{spec.label} ({shown})"
    return f"{spec.label} ({spec.protocol}, {shown})"


def study_rows(
    exp: Experiment, results: MatrixResults, majority: dict[str, float] | None = None
) -> list[Row]:
    """Rows: the majority class, supervised (full, when it ran, then the table budget), random
    init, then one per pre-training setting (by mode when that is unambiguous) and protocol."""
    rows = []
    if majority is not None:
        values = {
            (i, m): Value(majority[m], None, 1)
            for i in INPUTS
            for m in METRICS[exp.label_type]
            if m in majority
        }
        rows.append(Row(MAJORITY, values))
    for spec in row_specs(exp):
        budgets = [table_budget(exp, spec.protocol)]
        if spec.sources == ("supervised",) and None in exp.budgets_of("finetune"):
            budgets = [None, *[b for b in budgets if b is not None]]
        for budget in budgets:
            values = {}
            for input_ in INPUTS:
                for metric in METRICS[exp.label_type]:
                    value = pooled(results, spec.cells(input_, budget), metric)
                    if value is not None:
                        values[(input_, metric)] = value
            rows.append(Row(_label(spec, budget), values))
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
