"""What the runner writes for the report: majority-class metrics and the embedding map."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sensormoco.evaluation.data import load_sen12ms
from sensormoco.experiments.matrix import demo_experiment
from sensormoco.experiments.report_data import (
    EMBEDDING_FILE,
    MAJORITY_FILE,
    Embedding,
    majority_metrics,
    read_embedding,
    read_majority,
    update_report_data,
    write_embedding,
)


def test_majority_is_the_test_sets_most_frequent_class(synth_root: Path, tmp_path: Path) -> None:
    data = load_sen12ms(synth_root, val_fraction=0.2)
    counts = Counter(int(c) for c in data.targets(data.test_ids, "single"))
    single = majority_metrics(data, "single")
    assert single["oa"] == pytest.approx(max(counts.values()) / len(data.test_ids))
    assert single["kappa"] == pytest.approx(0.0)
    assert set(majority_metrics(data, "multi")) >= {"micro_map", "macro_map", "micro_f1"}
    assert read_majority(tmp_path) is None
    update_report_data(demo_experiment(), tmp_path, data)  # no encoder yet: majority only
    assert read_majority(tmp_path) == single
    assert (tmp_path / MAJORITY_FILE).is_file()
    assert not (tmp_path / EMBEDDING_FILE).exists()


def test_embedding_round_trips(tmp_path: Path) -> None:
    xy = np.arange(8, dtype=np.float32).reshape(4, 2)
    embedding = Embedding(xy, np.array([0, 1, 1, 0]), ("Forest", "Water"), "ab12", "t", "c")
    write_embedding(tmp_path, embedding)
    back = read_embedding(tmp_path)
    assert back is not None
    assert np.array_equal(back.xy, xy)
    assert np.array_equal(back.labels, embedding.labels)
    assert (back.class_names, back.encoder_sha256, back.title, back.caption) == (
        ("Forest", "Water"),
        "ab12",
        "t",
        "c",
    )
