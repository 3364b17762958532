from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.probability_merge import (
    disagreements_path,
    merge_fractions,
    write_disagreements,
)
from sensormoco.data.sen12ms.probability_pickle import (
    compare_probabilities,
    load_probability_pickle,
)

A = PatchId.parse("ROIs1158_spring_1_p30")
B = PatchId.parse("ROIs2017_winter_44_p5")


def one_hot(code: int) -> np.ndarray:
    out = np.zeros(17)  # 17
    out[code - 1] = 1.0
    return out


def test_pickle_fractions_replace_lc_where_the_pickle_has_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "p.pkl"
    path.write_bytes(
        pickle.dumps({A.filename("s2"): list(one_hot(3)), "ROIs1970_fall_9_p9": list(one_hot(1))})
    )
    merged = merge_fractions({A: one_hot(5), B: one_hot(7)}, load_probability_pickle(path))
    assert list(merged) == [A, B]  # the lc patches only
    assert np.array_equal(merged[A], one_hot(3))
    assert np.array_equal(merged[B], one_hot(7))


def test_disagreements_are_written_and_a_stale_report_removed(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    report = disagreements_path(labels)
    assert report == tmp_path / "labels.csv.disagreements.csv"
    comparison = compare_probabilities(
        {A: one_hot(5), B: one_hot(7)}, {A: one_hot(6), B: one_hot(7)}
    )
    assert write_disagreements(comparison, labels) == report
    rows = list(csv.reader(report.read_text().splitlines()))
    assert rows == [["patch_id", "max_difference", "igbp_code"], [str(A), "1.0", "5"]]
    agreeing = compare_probabilities({A: one_hot(5)}, {A: one_hot(5)})
    assert write_disagreements(agreeing, labels) is None
    assert not report.exists()
    assert write_disagreements(agreeing, labels) is None  # nothing to remove: no error


@pytest.mark.parametrize("code", [1, 17])
def test_the_code_named_is_where_the_difference_is_largest(tmp_path: Path, code: int) -> None:
    comparison = compare_probabilities({A: one_hot(code)}, {A: np.full(17, 1 / 17)})
    write_disagreements(comparison, tmp_path / "l.csv")
    text = disagreements_path(tmp_path / "l.csv").read_text()
    assert text.splitlines()[1].endswith(f",{code}")
