from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sensormoco.evaluation.metrics import (
    aggregate,
    confusion_matrix,
    format_table,
    multi_label_metrics,
    per_class_table,
    save_confusion_png,
    single_label_metrics,
)

# Single-label example, 3 classes:
#   target 0 0 0 1 1 2
#   pred   0 0 1 1 2 2
# class 0: TP 2, FP 0, FN 1 -> recall 2/3, precision 1,   F1 4/5
# class 1: TP 1, FP 1, FN 1 -> recall 1/2, precision 1/2, F1 2/4 = 1/2
# class 2: TP 1, FP 1, FN 0 -> recall 1,   precision 1/2, F1 2/3
# OA = 4/6; AA = (2/3 + 1/2 + 1) / 3 = 13/18; macro-F1 = (4/5 + 1/2 + 2/3) / 3 = 59/90
# kappa: p_o = 2/3, p_e = (3*2 + 2*2 + 1*2) / 36 = 1/3 -> (2/3 - 1/3) / (1 - 1/3) = 1/2
SINGLE_TARGET = torch.tensor([0, 0, 0, 1, 1, 2])
SINGLE_PRED = torch.tensor([0, 0, 1, 1, 2, 2])

# Multi-label example, 4 samples x 3 classes, threshold 0.5 (no ties among scores that matter):
MULTI_SCORES = torch.tensor(
    [[0.9, 0.6, 0.12], [0.8, 0.4, 0.75], [0.3, 0.7, 0.2], [0.15, 0.1, 0.05]]
)
MULTI_TARGET = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 0]])
# pred:                        [1, 1, 0]  [1, 0, 1]  [0, 1, 0]  [0, 0, 0]
# class 0: TP 2, FP 0, FN 0 -> F1 1;  class 1: TP 1, FP 1, FN 1 -> F1 1/2;
# class 2: TP 0, FP 1, FN 1 -> F1 0.  macro-F1 = 1/2; micro: TP 3, FP 2, FN 2 -> 6/10.
# Hamming: 4 wrong decisions of 12 -> 1/3.
# Jaccard per sample: 1/2, 1/3, 1/2, and 1 for the empty/empty sample -> mean 7/12.
# AP class 0: positives ranked 1, 2 -> 1. class 1: ranking s2(+) s0(-) s1(+) -> (1 + 2/3)/2 = 5/6.
# class 2: ranking s1(-) s2(+) -> 1/2. macro mAP = (1 + 5/6 + 1/2) / 3 = 7/9.
# micro AP: pooled ranking 0.9+ 0.8+ 0.75- 0.7+ 0.6- 0.4+ 0.3- 0.2+ ...
#   -> (1/1 + 2/2 + 3/4 + 4/6 + 5/8) / 5 = 97/120.


def _one_hot(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(pred, num_classes).float()


def test_single_label_metrics_match_hand_computed_values() -> None:
    metrics = single_label_metrics(_one_hot(SINGLE_PRED, 3), SINGLE_TARGET, num_classes=3)
    assert metrics == pytest.approx({"oa": 4 / 6, "aa": 13 / 18, "macro_f1": 59 / 90, "kappa": 0.5})


def test_single_label_perfect_predictions_score_one() -> None:
    target = torch.tensor([0, 1, 2, 2, 1])
    metrics = single_label_metrics(_one_hot(target, 3) * 5.0 - 1.0, target, num_classes=3)
    assert metrics == pytest.approx({"oa": 1.0, "aa": 1.0, "macro_f1": 1.0, "kappa": 1.0})


def test_aa_and_macro_f1_leave_out_classes_absent_from_the_target() -> None:
    # target 0 0 1 1, pred 0 0 1 3; class 2 in neither, class 3 predicted only.
    # recall: 1, 1/2 (classes 2 and 3 have no samples) -> AA 3/4
    # F1: 1, 2/3, class 2 left out (0/0), class 3: TP 0, FP 1 -> 0 -> macro-F1 (1 + 2/3 + 0)/3
    # kappa: p_o 3/4, p_e (2*2 + 2*1) / 16 = 3/8 -> (3/8) / (5/8) = 3/5
    target = torch.tensor([0, 0, 1, 1])
    metrics = single_label_metrics(_one_hot(torch.tensor([0, 0, 1, 3]), 4), target, 4)
    assert metrics == pytest.approx({"oa": 0.75, "aa": 0.75, "macro_f1": 5 / 9, "kappa": 0.6})


def test_multi_label_metrics_match_hand_computed_values() -> None:
    metrics = multi_label_metrics(MULTI_SCORES, MULTI_TARGET, threshold=0.5)
    assert metrics == pytest.approx(
        {
            "micro_f1": 0.6,
            "macro_f1": 0.5,
            "micro_map": 97 / 120,
            "macro_map": 7 / 9,
            "sample_oa": 7 / 12,
            "hamming": 1 / 3,
        }
    )


def test_multi_label_perfect_predictions() -> None:
    target = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    metrics = multi_label_metrics(target.float(), target.bool())
    assert metrics == pytest.approx(
        {"micro_f1": 1, "macro_f1": 1, "micro_map": 1, "macro_map": 1, "sample_oa": 1, "hamming": 0}
    )


def test_multi_label_threshold_is_inclusive_and_class_without_positives_is_left_out() -> None:
    scores = torch.tensor([[0.5, 0.2], [0.1, 0.3]])
    target = torch.tensor([[1, 0], [0, 0]])  # class 1 has no positive: no AP, no F1 (0/0)
    metrics = multi_label_metrics(scores, target, threshold=0.5)
    assert metrics["macro_f1"] == 1.0  # 0.5 >= 0.5 is predicted
    assert metrics["macro_map"] == 1.0
    assert metrics["sample_oa"] == 1.0  # 1/1 and the empty/empty sample


def test_map_is_nan_without_any_positive() -> None:
    metrics = multi_label_metrics(torch.tensor([[0.2, 0.7]]), torch.tensor([[0, 0]]))
    assert math.isnan(metrics["micro_map"])
    assert math.isnan(metrics["macro_map"])
    assert metrics["sample_oa"] == 0.0  # predicted {1}, truth {}: 0 / 1


@pytest.mark.parametrize(
    ("scores", "target", "num_classes", "match"),
    [
        (torch.zeros(3, 3), torch.tensor([0, 1]), 3, "N x C"),
        (torch.zeros(2, 4), torch.tensor([0, 1]), 3, "num_classes"),
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 3, "N > 0"),
        (torch.zeros(2, 3), torch.tensor([0, 3]), 3, r"\[0, 3\)"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), 3, "integer"),
    ],
)
def test_single_label_rejects_bad_inputs(
    scores: torch.Tensor, target: torch.Tensor, num_classes: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        single_label_metrics(scores, target, num_classes)


@pytest.mark.parametrize(
    ("scores", "target", "match"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 2), "N x C"),
        (torch.zeros(0, 3), torch.zeros(0, 3), "at least one"),
        (torch.tensor([[1.5, 0.0]]), torch.tensor([[1, 0]]), "probabilities"),
        (torch.tensor([[0.5, 0.0]]), torch.tensor([[2, 0]]), "0 and 1"),
    ],
)
def test_multi_label_rejects_bad_inputs(
    scores: torch.Tensor, target: torch.Tensor, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        multi_label_metrics(scores, target)


def test_per_class_table_single_label() -> None:
    rows = per_class_table(_one_hot(SINGLE_PRED, 3), SINGLE_TARGET, ["a", "b", "c"])
    expected = [
        {"class": "a", "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3},
        {"class": "b", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        {"class": "c", "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1},
    ]
    assert rows == [pytest.approx(row) for row in expected]


def test_per_class_table_multi_label_has_ap_and_nan_where_undefined() -> None:
    rows = per_class_table(MULTI_SCORES, MULTI_TARGET, ["x", "y", "z"], threshold=0.5)
    assert [row["ap"] for row in rows] == pytest.approx([1.0, 5 / 6, 0.5])
    assert [row["f1"] for row in rows] == pytest.approx([1.0, 0.5, 0.0])
    assert [row["support"] for row in rows] == [2, 2, 1]
    # a class never predicted and never present: precision, recall, F1 and AP all undefined
    rows = per_class_table(torch.tensor([[0.9, 0.1]]), torch.tensor([[1, 0]]), ["x", "y"])
    assert all(math.isnan(float(rows[1][key])) for key in ("precision", "recall", "f1", "ap"))


def test_format_table_renders_markdown() -> None:
    rows: list[dict[str, str | float]] = [
        {"class": "a", "f1": 0.5, "support": 3},
        {"class": "b", "f1": float("nan"), "support": 0},
    ]
    assert format_table(rows, digits=2) == (
        "| class | f1 | support |\n|---|---|---|\n| a | 0.50 | 3 |\n| b | n/a | 0 |\n"
    )
    with pytest.raises(ValueError, match="columns"):
        format_table([{"a": 1.0}, {"b": 1.0}])


def test_confusion_matrix_counts_rows_true_columns_predicted() -> None:
    expected = torch.tensor([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert torch.equal(confusion_matrix(SINGLE_PRED, SINGLE_TARGET, 3), expected)
    assert torch.equal(confusion_matrix(_one_hot(SINGLE_PRED, 3), SINGLE_TARGET, 3), expected)
    with pytest.raises(ValueError, match="pred classes"):
        confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 3)


def test_save_confusion_png_writes_a_png_atomically(tmp_path: Path) -> None:
    matrix = torch.tensor([[2, 1, 0], [0, 0, 0], [0, 0, 1]])  # class 1 has no samples
    target = tmp_path / "plots" / "confusion.png"
    save_confusion_png(matrix, ["water", "forest", "urban"], target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in target.parent.iterdir()] == ["confusion.png"]
    with pytest.raises(ValueError, match="2 x 2"):
        save_confusion_png(matrix, ["a", "b"], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_aggregate_mean_and_sample_std() -> None:
    result = aggregate([{"oa": 1.0, "kappa": 0.5}, {"oa": 3.0, "kappa": 0.5}])
    assert result["oa"] == pytest.approx({"mean": 2.0, "std": math.sqrt(2.0)})
    assert result["kappa"] == pytest.approx({"mean": 0.5, "std": 0.0})
    one = aggregate([{"oa": 0.7}])  # the std of one seed is undefined (issue 17: not 0.0)
    assert one["oa"]["mean"] == 0.7
    assert math.isnan(one["oa"]["std"])
    with pytest.raises(ValueError, match="disagree"):
        aggregate([{"oa": 1.0}, {"aa": 1.0}])
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_single_label_agrees_with_sklearn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 5, generator=generator)
    target = torch.randint(0, 4, (200,), generator=generator)  # class 4 never in the target
    pred = logits.argmax(dim=1).numpy()
    metrics = single_label_metrics(logits, target, num_classes=5)
    y = target.numpy()
    assert metrics["oa"] == pytest.approx(sk.accuracy_score(y, pred))
    assert metrics["aa"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    assert metrics["macro_f1"] == pytest.approx(sk.f1_score(y, pred, average="macro"))
    assert metrics["kappa"] == pytest.approx(sk.cohen_kappa_score(y, pred))


def test_multi_label_agrees_with_sklearn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(1)
    scores = torch.rand(100, 6, generator=generator)
    target = (torch.rand(100, 6, generator=generator) < 0.4).long()
    target[0] = 1  # every class has a positive, so every convention agrees
    pred = (scores >= 0.5).long().numpy()
    metrics = multi_label_metrics(scores, target)
    y, s = target.numpy(), scores.numpy()
    assert metrics["micro_f1"] == pytest.approx(sk.f1_score(y, pred, average="micro"))
    assert metrics["hamming"] == pytest.approx(sk.hamming_loss(y, pred))
    assert metrics["macro_map"] == pytest.approx(sk.average_precision_score(y, s, average="macro"))
    assert metrics["micro_map"] == pytest.approx(sk.average_precision_score(y, s, average="micro"))
