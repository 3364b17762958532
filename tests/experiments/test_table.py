"""The study table: numeric CSV (mean, std, n per input), the label type's metric set, seed
counts, a majority-class row, and n/a (never 0) for the std of one seed."""

from __future__ import annotations

import csv
import io
import math

from sensormoco.experiments.matrix import EvalCell, demo_experiment
from sensormoco.experiments.table import MAJORITY, markdown, study_rows, table_csv


def _result(means: dict[str, float], seeds: int) -> dict[str, object]:
    std = 0.01 if seeds > 1 else math.nan
    return {"aggregate": {k: {"mean": v, "std": None if math.isnan(std) else std}
                          for k, v in means.items()},
            "per_seed": [{}] * seeds}  # fmt: skip


def test_rows_carry_every_metric_as_numbers_with_seed_counts() -> None:
    exp = demo_experiment()
    metrics = {"oa": 0.5, "aa": 0.4, "macro_f1": 0.3, "kappa": 0.2}
    random = EvalCell("random", "linear", "s1s2", 1024)
    pre = EvalCell(exp.pretrain_cells()[0].name, "finetune", "s1s2", 1024)
    results = {"eval": {random.name: _result(metrics, 3), pre.name: _result(metrics, 1)}}
    majority = {"oa": 0.34, "aa": 0.1, "macro_f1": 0.05, "kappa": 0.0}
    rows = study_rows(exp, results, majority)
    assert rows[0].label == MAJORITY
    text = markdown(rows, "oa")
    assert "| majority class (test) | 0.340 ± n/a | 0.340 ± n/a | 0.340 ± n/a | - |" in text
    assert "| random init, linear (1024) | n/a | n/a | 0.500 ± 0.010 | 3 |" in text
    assert "| sensor-pairs (finetune, 1024) | n/a | n/a | 0.500 ± n/a | 1 |" in text
    assert "supervised, fine-tuned (1024)" in text
    lines = list(csv.DictReader(io.StringIO(table_csv(rows, tuple(metrics)))))
    assert {line["metric"] for line in lines} == set(metrics)
    random_oa = next(r for r in lines if r["row"].startswith("random") and r["metric"] == "oa")
    assert (float(random_oa["s1s2"]), float(random_oa["s1s2_std"])) == (0.5, 0.01)
    assert (random_oa["s1s2_n"], random_oa["s1"]) == ("3", "")
    one = next(
        r for r in lines if r["row"].startswith("sensor-pairs (fine") and r["metric"] == "aa"
    )
    assert (float(one["s1s2"]), one["s1s2_std"], one["s1s2_n"]) == (0.4, "", "1")
