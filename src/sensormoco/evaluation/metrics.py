"""Classification metrics of the transfer evaluation (docs/design.md §3), as pure functions
on tensors.

Conventions, decided once for every report:

- Single-label predictions are the arg-max of the scores; multi-label predictions are
  ``score >= threshold``, as the SEN12MS classification code (torchmetrics itself uses ``>``).
- ``aa`` (average accuracy) is the mean recall over the classes present in the target: a class
  without test samples has no recall and is left out. (The SEN12MS code's ``get_AA`` divides by
  all classes instead, counting an absent class as 0; torchmetrics' macro recall counts a class
  absent from the target but predicted as 0.)
- ``macro_f1`` averages F1 = 2TP / (2TP + FP + FN) over the classes that occur in the target or
  the predictions; a class in neither has F1 0/0 and is left out (single- and multi-label alike).
- ``macro_map`` averages average precision over classes with at least one positive in the
  target; ``micro_map`` is the AP of all (sample, class) pairs pooled. Both are NaN when the
  target has no positive at all.
- ``sample_oa`` is the SEN12MS multi-label "OA": per-sample Jaccard |pred ∩ true| / |pred ∪ true|
  averaged over samples, where a sample with empty prediction and empty truth scores 1.
- ``kappa`` is NaN when chance agreement is 1 (one single class in target and predictions).
- Per-class precision, recall and F1 are NaN where undefined (0/0), never silently 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torchmetrics.functional import classification as tmc

from sensormoco import defaults
from sensormoco.atomic import atomic_path

Row = dict[str, str | float]


def _check_labels(labels: Tensor, name: str, num_classes: int) -> None:
    if labels.ndim != 1 or labels.shape[0] == 0:
        raise ValueError(f"{name} must be N class indices with N > 0, got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{name} classes must lie in [0, {num_classes}), got {low} ... {high}")


def _check_single(scores: Tensor, target: Tensor, num_classes: int) -> None:
    if scores.ndim != 2 or target.ndim != 1 or scores.shape[0] != target.shape[0]:
        raise ValueError(
            f"scores must be N x C and target N, "
            f"got {tuple(scores.shape)} and {tuple(target.shape)}"
        )
    if num_classes < 2 or scores.shape[1] != num_classes:
        raise ValueError(f"scores have {scores.shape[1]} columns, num_classes is {num_classes}")
    _check_labels(target, "target", num_classes)


def check_row_pairs(a: Tensor, b: Tensor, names: str, dims: str) -> None:
    """Refuse unless ``a`` and ``b`` are matrices of one shape ``dims`` (e.g. "N x C": row i of
    each about sample i) with at least one row and column; ``names`` name them."""
    if a.ndim != 2 or a.shape != b.shape:
        shapes = f"{tuple(a.shape)} and {tuple(b.shape)}"
        raise ValueError(f"{names} must both be {dims}, got {shapes}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        rows, columns = dims.split(" x ")
        raise ValueError(
            f"{names} must hold at least one row and column ({rows} > 0, {columns} > 0), "
            f"got {tuple(a.shape)}"
        )


def _check_multi(scores: Tensor, target: Tensor) -> None:
    check_row_pairs(scores, target, "scores and target", "N x C")
    if not scores.dtype.is_floating_point or not bool(((scores >= 0) & (scores <= 1)).all()):
        raise ValueError("scores must be probabilities in [0, 1] (apply a sigmoid to logits)")
    if not bool(((target == 0) | (target == 1)).all()):
        raise ValueError("target must hold only 0 and 1")


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """Element-wise ``numerator / denominator`` as float64, NaN where the denominator is 0."""
    num, den = numerator.double(), denominator.double()
    return torch.where(den > 0, num / den.clamp_min(1), torch.full_like(num, float("nan")))


def _class_stats(pred: Tensor, target: Tensor, num_classes: int, multi: bool) -> Tensor:
    """Per-class TP, FP, TN, FN, support (C x 5) of hard predictions."""
    if multi:
        return tmc.multilabel_stat_scores(pred, target, num_labels=num_classes, average="none")
    return tmc.multiclass_stat_scores(pred, target, num_classes=num_classes, average="none")


def _precision_recall_f1(stats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    tp, fp, fn = stats[:, 0], stats[:, 1], stats[:, 3]  # C each
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _average_precision(scores: Tensor, target: Tensor) -> Tensor:
    """Per-class AP (C), NaN for classes without a positive in ``target``."""
    ap = torch.full((scores.shape[1],), float("nan"), dtype=torch.float64)  # C
    for c in torch.nonzero(target.sum(dim=0) > 0).flatten().tolist():
        ap[c] = float(tmc.binary_average_precision(scores[:, c], target[:, c]))
    return ap


def _nanmean(values: Tensor) -> float:
    return float(torch.nanmean(values))


def single_label_metrics(
    logits_or_probs: Tensor, target: Tensor, num_classes: int
) -> dict[str, float]:
    """OA, AA, macro-F1 and Cohen's kappa of N x C scores against N class indices."""
    _check_single(logits_or_probs, target, num_classes)
    pred = logits_or_probs.argmax(dim=1)  # N
    _, recall, f1 = _precision_recall_f1(_class_stats(pred, target, num_classes, multi=False))
    oa = tmc.multiclass_accuracy(pred, target, num_classes=num_classes, average="micro")
    kappa = tmc.multiclass_cohen_kappa(pred, target, num_classes=num_classes)
    return {
        "oa": float(oa),
        "aa": _nanmean(recall),
        "macro_f1": _nanmean(f1),
        "kappa": float(kappa),
    }


def multi_label_metrics(
    scores: Tensor, target: Tensor, threshold: float = defaults.MULTI_LABEL_THRESHOLD
) -> dict[str, float]:
    """Micro/macro F1, micro/macro mAP, per-sample Jaccard OA and Hamming loss (N x C inputs)."""
    _check_multi(scores, target)
    num_classes = scores.shape[1]
    target = target.long()  # N x C
    pred = (scores >= threshold).long()  # N x C
    _, _, f1 = _precision_recall_f1(_class_stats(pred, target, num_classes, multi=True))
    micro_f1 = tmc.multilabel_f1_score(pred, target, num_labels=num_classes, average="micro")
    hamming = tmc.multilabel_hamming_distance(pred, target, num_labels=num_classes)
    if bool(target.any()):
        micro_map = float(
            tmc.multilabel_average_precision(
                scores, target, num_labels=num_classes, average="micro"
            )
        )
    else:
        micro_map = float("nan")
    intersection = (pred & target).sum(dim=1)  # N
    union = (pred | target).sum(dim=1)  # N
    jaccard = torch.where(union > 0, intersection / union.clamp_min(1), 1.0)  # N
    return {
        "micro_f1": float(micro_f1),
        "macro_f1": _nanmean(f1),
        "micro_map": micro_map,
        "macro_map": _nanmean(_average_precision(scores, target)),
        "sample_oa": float(jaccard.double().mean()),
        "hamming": float(hamming),
    }


def per_class_table(
    scores: Tensor,
    target: Tensor,
    class_names: Sequence[str],
    threshold: float = defaults.MULTI_LABEL_THRESHOLD,
) -> list[Row]:
    """One row per class: precision, recall, F1, support, and AP when multi-label.

    A 1-D ``target`` (N class indices) means single-label (arg-max of the N x C ``scores``); a
    2-D one (N x C, 0/1) means multi-label (``scores >= threshold``). Undefined values are NaN.
    """
    num_classes = len(class_names)
    multi = target.ndim == 2
    if multi:
        _check_multi(scores, target)
        if scores.shape[1] != num_classes:
            raise ValueError(f"scores have {scores.shape[1]} columns, got {num_classes} names")
        target = target.long()  # N x C
        pred = (scores >= threshold).long()  # N x C
    else:
        _check_single(scores, target, num_classes)
        pred = scores.argmax(dim=1)  # N
    stats = _class_stats(pred, target, num_classes, multi)  # C x 5
    precision, recall, f1 = _precision_recall_f1(stats)
    ap = _average_precision(scores, target) if multi else None
    rows: list[Row] = []
    for c, name in enumerate(class_names):
        row: Row = {
            "class": name,
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(stats[c, 4]),
        }
        if ap is not None:
            row["ap"] = float(ap[c])
        rows.append(row)
    return rows


def format_table(rows: Sequence[Mapping[str, str | float]], digits: int = 4) -> str:
    """Render rows of equal keys as a Markdown table; floats to ``digits``, NaN as ``n/a``."""
    if not rows:
        raise ValueError("format_table needs at least one row")
    keys = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != keys:
            raise ValueError(f"row {i} has columns {list(row)}, row 0 has {keys}")

    def cell(value: str | float) -> str:
        if isinstance(value, float):
            return "n/a" if value != value else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Counts C x C, rows the true class, columns the predicted one.

    ``pred`` holds N class indices, or N x C scores whose arg-max is taken.
    """
    if pred.ndim == 2:
        _check_single(pred, target, num_classes)
        pred = pred.argmax(dim=1)  # N
    else:
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        _check_labels(pred, "pred", num_classes)
        _check_labels(target, "target", num_classes)
    return tmc.multiclass_confusion_matrix(pred, target, num_classes=num_classes)  # C x C


def save_confusion_png(
    matrix: Tensor, class_names: Sequence[str], path: str | Path, title: str | None = None
) -> None:
    """Write ``matrix`` (C x C counts) as a PNG: colours row-normalised, counts annotated,
    ``title`` above (which run, seed and score)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    c = len(class_names)
    if matrix.shape != (c, c):
        raise ValueError(f"matrix must be {c} x {c} for {c} class names, got {tuple(matrix.shape)}")
    if bool((matrix < 0).any()):
        raise ValueError("confusion matrix counts must be non-negative")
    counts = matrix.detach().cpu().double()  # C x C
    totals = counts.sum(dim=1, keepdim=True)  # C x 1
    share = torch.where(totals > 0, counts / totals.clamp_min(1), 0.0)  # C x C

    side = max(4.0, 0.45 * c + 2.0)
    fig = Figure(figsize=(side + 1.0, side))
    FigureCanvasAgg(fig)  # explicit Agg canvas: no pyplot, no global backend switch
    ax = fig.add_subplot()
    image = ax.imshow(share.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_xticks(list(range(c)), labels=list(class_names), rotation=90)
    ax.set_yticks(list(range(c)), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fontsize = 8 if c <= 20 else 5
    for i in range(c):
        for j in range(c):
            colour = "white" if float(share[i, j]) > 0.5 else "black"
            text = f"{int(counts[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=colour)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150)


def aggregate(per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof 1) of each metric over seeds; the std of one
    seed is undefined: NaN (null in metrics.json, n/a in tables)."""
    if not per_seed:
        raise ValueError("aggregate needs the metrics of at least one seed")
    keys = list(per_seed[0])
    for i, metrics in enumerate(per_seed[1:], start=1):
        if set(metrics) != set(keys):
            raise ValueError(
                f"seeds disagree on metrics: seed 0 has {sorted(keys)}, "
                f"seed {i} has {sorted(metrics)}"
            )
    result: dict[str, dict[str, float]] = {}
    for key in keys:
        values = [float(metrics[key]) for metrics in per_seed]
        std = statistics.stdev(values) if len(values) > 1 else math.nan
        result[key] = {"mean": statistics.fmean(values), "std": std}
    return result
