"""The study table: numeric CSV (mean, std, n per input), the label type's metric set, seed
counts, a majority-class row, and n/a (never 0) for the std of one seed."""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import replace
from typing import Any

import pytest

from sensormoco.evaluation.result import EvalResult
from sensormoco.experiments.matrix import EvalCell, demo_experiment
from sensormoco.experiments.results import MatrixResults
from sensormoco.experiments.table import MAJORITY, markdown, study_rows, table_csv


def _result(means: dict[str, float], seeds: int) -> EvalResult:
    std = 0.01 if seeds > 1 else math.nan
    aggregate = {k: {"mean": v, "std": None if math.isnan(std) else std} for k, v in means.items()}
    per_seed = [{"seed": s, "metrics": dict(means)} for s in range(seeds)]
    about: dict[str, Any] = {"variant": "moco", "protocol": "linear", "input": "s1s2"}
    about |= {"dataset": "sen12ms"}
    about |= {"label_type": "single", "scheme": "igbp10", "budget": 1024, "encoder": None}
    about |= {"classes": [], "test_patches": 9, "skipped_patches": 0, "retrieval": None}
    about |= {"seconds": 0.0, "version": "0", "seeds": list(range(seeds))}
    return EvalResult.from_dict(about | {"per_seed": per_seed, "aggregate": aggregate})


def test_rows_carry_every_metric_as_numbers_with_seed_counts() -> None:
    exp = replace(demo_experiment(), protocols=("linear", "finetune"))
    metrics = {"oa": 0.5, "aa": 0.4, "macro_f1": 0.3, "kappa": 0.2}
    random = EvalCell("random", "linear", "s1s2", 1024)
    pre = EvalCell(exp.pretrain_cells()[0].name, "finetune", "s1s2", 1024)
    results = MatrixResults(eval={random.name: _result(metrics, 3), pre.name: _result(metrics, 1)})
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


def test_rows_follow_the_study_order_and_pool_pretraining_seeds() -> None:
    exp = replace(demo_experiment(), modes=("fusion-all", "sensor-pairs"), pretrain_seeds=(0, 1))
    results = MatrixResults()
    for i, cell in enumerate(exp.pretrain_cells()):
        means = {"oa": 0.5 + 0.1 * i, "aa": 0.4, "macro_f1": 0.3, "kappa": 0.2}
        name = EvalCell(cell.name, "linear", "s1", 1024).name
        results.eval[name] = _result(means, 3)
    rows = study_rows(exp, results)
    assert [r.label for r in rows] == [
        "supervised, fine-tuned (1024)",
        "random init, linear (1024)",
        "sensor-pairs (linear, 1024)",  # the study's order, whatever the experiment's
        "fusion-all (linear, 1024)",
    ]
    fusion = rows[3].values[("s1", "oa")]  # fusion-all: cells 0 and 1 (seeds 0 and 1)
    assert fusion.n == 6  # 2 pre-training seeds x 3 evaluation seeds
    assert fusion.mean == pytest.approx(0.55)
    assert fusion.std == pytest.approx(statistics.stdev([0.5] * 3 + [0.6] * 3))
    assert ("s1s2", "oa") not in rows[3].values  # not run: n/a
    assert "| fusion-all (linear, 1024) | 0.550 ± 0.055 | n/a | n/a | 6 |" in markdown(rows, "oa")
