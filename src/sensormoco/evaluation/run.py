"""One evaluation run end to end: variant x protocol x input on a label budget, over seeds.

Writes into the run directory ``config.yaml`` (resolved settings), ``metrics.json`` (every
metric per seed, their mean and std, retrieval, missing-sensor robustness, counts and
versions), ``metrics.md`` (readable tables) and ``confusion_seed{S}.png`` (single-label).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor

from sensormoco import __version__, defaults
from sensormoco.atomic import atomic_write_text
from sensormoco.evaluation.bigearthnet_data import LabelledBigEarthNet, load_bigearthnet
from sensormoco.evaluation.classify import (
    LABEL_TYPES,
    PROTOCOLS,
    Classifier,
    FitConfig,
    fit,
    predict,
    scores,
)
from sensormoco.evaluation.data import LabelledSEN12MS, Tensors, load_sen12ms
from sensormoco.evaluation.knn import knn_scores
from sensormoco.evaluation.metrics import (
    aggregate,
    confusion_matrix,
    format_table,
    multi_label_metrics,
    per_class_table,
    save_confusion_png,
    single_label_metrics,
)
from sensormoco.evaluation.retrieval import chance_recall, cross_modal_recall
from sensormoco.evaluation.variants import VARIANTS, Loaded, load_variant, model_input
from sensormoco.models.adapters import FUSION_BANDS
from sensormoco.training.checkpoint import encoder_metadata

DATASETS = ("sen12ms", "bigearthnet")
Labelled = LabelledSEN12MS | LabelledBigEarthNet
# the validation score that picks the epoch: threshold-free where possible
SELECT_BY = {"single": "oa", "multi": "micro_map"}


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (``budget`` None: the full split)."""

    data: str
    encoder: str | None = None
    dataset: str = "sen12ms"  # or "bigearthnet" (multi-label, scheme "19" or "43")
    splits: str | None = None  # BigEarthNet: folder of train.csv, val.csv, test.csv
    variant: str = "moco"
    protocol: str = defaults.EVAL_PROTOCOL
    input: str = defaults.EVAL_INPUT
    label_type: str = "single"
    scheme: str = defaults.LABEL_SCHEME
    budget: int | None = defaults.LABEL_BUDGET
    seeds: tuple[int, ...] = defaults.EVAL_SEEDS
    backbone: str = defaults.BACKBONE  # of the supervised variants
    epochs: int = defaults.EVAL_EPOCHS
    batch_size: int = defaults.EVAL_BATCH_SIZE
    lr: float | None = None  # None: the protocol's default
    val_fraction: float = defaults.VAL_FRACTION
    labels_csv: str | None = None
    index_csv: str | None = None
    workers: int = defaults.SCAN_WORKERS
    split_seed: int = defaults.SEED

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {list(VARIANTS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {list(PROTOCOLS)}")
        if self.label_type not in LABEL_TYPES:
            raise ValueError(f"unknown label type {self.label_type!r}; choose {list(LABEL_TYPES)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {list(DATASETS)}")
        if self.dataset == "bigearthnet" and (self.label_type, self.scheme) not in (
            ("multi", "19"), ("multi", "43"),
        ):  # fmt: skip
            raise ValueError("BigEarthNet is multi-label with scheme 19 or 43 "
                             f"(got {self.label_type}, {self.scheme})")  # fmt: skip
        if not self.seeds:
            raise ValueError("give at least one seed")
        if self.budget is not None and self.budget < 2:
            raise ValueError(f"budget must be at least 2 patches, got {self.budget}")

    @property
    def resolved_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return defaults.EVAL_FINETUNE_LR if self.protocol == "finetune" else defaults.EVAL_LINEAR_LR


def _metrics(config: EvalConfig, s: Tensor, target: Tensor, k: int) -> dict[str, float]:
    if config.label_type == "single":
        return single_label_metrics(s, target, k)
    return multi_label_metrics(s, target)


def _batch(t: Tensors) -> dict[str, Tensor]:
    return {"s1": t.s1, "s2": t.s2}


def _score_fn(config: EvalConfig, k: int) -> Callable[[Tensor, Tensor], float]:
    key = SELECT_BY[config.label_type]

    def score(s: Tensor, target: Tensor) -> float:
        value = _metrics(config, s, target, k)[key]
        return -math.inf if math.isnan(value) else value

    return score


Scores = dict[str, Tensor]


def _test_scores(config: EvalConfig, loaded: Loaded, train: Tensors, val: Tensors,
                 test: Tensors, k: int, seed: int) -> tuple[Scores, dict[str, Any]]:  # fmt: skip
    """Test scores (M x K) for the configured input and, for a two-sensor input, with each
    sensor zeroed; plus facts of the fit."""
    bands = loaded.features.bands
    label = config.label_type
    inputs = [config.input] + (["s2", "s1"] if config.input == "s1s2" else [])
    x_train = model_input(_batch(train), config.input, bands)  # N x C x H x W
    if config.protocol == "knn":
        net = loaded.features.eval()
        f_train = predict(net, x_train, config.batch_size)  # N x F
        out = {}
        for name in inputs:
            f_test = predict(net, model_input(_batch(test), name, bands), config.batch_size)
            out[name] = knn_scores(f_train, train.target(label), f_test, k)  # M x K
        return out, {"train": len(train.ids), "val": 0}
    classifier = Classifier(loaded.features, k, frozen=config.protocol == "linear")
    fit_config = FitConfig(label, config.epochs, config.batch_size, config.resolved_lr,
                           seed=seed)  # fmt: skip
    x_val = model_input(_batch(val), config.input, bands)
    result = fit(classifier, x_train, train.target(label), x_val, val.target(label), fit_config,
                 _score_fn(config, k))  # fmt: skip
    out = {}
    for name in inputs:
        logits = predict(classifier, model_input(_batch(test), name, bands), config.batch_size)
        out[name] = scores(logits, label)  # M x K
    return out, {"train": len(train.ids), "val": len(val.ids), "best_epoch": result.best_epoch,
                 f"val_{SELECT_BY[label]}": result.best_score}  # fmt: skip


def cross_modal_retrieval(
    loaded: Loaded, test: Tensors, batch_size: int
) -> dict[str, float] | None:
    """Cross-modal recall@k on the test set for networks that take either sensor alone."""
    if tuple(loaded.features.bands) != FUSION_BANDS:
        return None
    net = loaded.encoder if loaded.encoder is not None else loaded.features
    batch = _batch(test)
    e_s1 = predict(net, model_input(batch, "s1", FUSION_BANDS), batch_size)  # M x D
    e_s2 = predict(net, model_input(batch, "s2", FUSION_BANDS), batch_size)  # M x D
    result = cross_modal_recall(e_s1, e_s2, defaults.RETRIEVAL_KS)
    n = len(test.ids)
    result |= {f"chance_r@{k}": chance_recall(n, k) for k in defaults.RETRIEVAL_KS}
    return result


def run_evaluation(
    config: EvalConfig, out: str | Path, progress: Callable[[str], None] = print,
    data: Labelled | None = None, resume: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Run ``config`` and write its files into ``out``; returns the metrics.json content.
    ``data`` reuses an already loaded dataset (same root and scheme). ``resume``: ``out`` may
    hold an earlier run of the same settings (here every seed runs again)."""
    out = Path(out)
    if config.encoder is not None:  # config.yaml records the encoder's real backbone
        config = replace(config, backbone=encoder_metadata(config.encoder)["backbone"])
    start = time.perf_counter()
    if data is None and config.dataset == "bigearthnet":
        data = load_bigearthnet(config.data, config.scheme, config.splits)
    elif data is None:
        data = load_sen12ms(config.data, config.scheme, config.labels_csv, config.index_csv,
                            config.val_fraction, config.split_seed, config.workers)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(asdict(config), sort_keys=False))
    names = data.class_names
    k = len(names)
    test = data.tensors(data.test_ids)
    # SEN12MS encoders must match the task's statistics; other datasets are standardised with
    # their own published statistics (transfer across datasets), so only bands are checked
    expected = data.normalization if config.dataset == "sen12ms" else None
    label = config.label_type
    per_seed: list[dict[str, Any]] = []
    retrieval = None
    for seed in config.seeds:
        train_ids, val_ids = data.budget(config.budget, seed)
        train, val = data.tensors(train_ids), data.tensors(val_ids)
        loaded = load_variant(config.variant, config.input, config.backbone, config.encoder,
                              expected, seed)  # fmt: skip
        if retrieval is None:
            retrieval = cross_modal_retrieval(loaded, test, config.batch_size)
        torch.manual_seed(seed)
        test_scores, facts = _test_scores(config, loaded, train, val, test, k, seed)
        target = test.target(label)
        main = test_scores[config.input]
        row: dict[str, Any] = {"seed": seed, **facts,
                               "metrics": _metrics(config, main, target, k),
                               "per_class": per_class_table(main, target, names)}  # fmt: skip
        for name, s in test_scores.items():
            if name != config.input:
                zeroed = "s1" if name == "s2" else "s2"
                row[f"{zeroed}_zeroed"] = _metrics(config, s, target, k)
        if label == "single":
            matrix = confusion_matrix(main.argmax(dim=1), target, k)
            title = (f"{config.variant} / {config.protocol} / {config.input}, seed {seed}: "
                     f"test OA {row['metrics']['oa']:.3f} (N = {len(test.ids)})")  # fmt: skip
            save_confusion_png(matrix, names, out / f"confusion_seed{seed}.png", title)
            row["confusion"] = matrix.tolist()
        per_seed.append(row)
        m = row["metrics"]
        progress(f"  seed {seed}: " + ", ".join(f"{key} {v:.4f}" for key, v in m.items()))
    result: dict[str, Any] = {
        "variant": config.variant, "protocol": config.protocol, "input": config.input,
        "dataset": config.dataset, "label_type": label, "scheme": config.scheme,
        "budget": config.budget or "full",
        "encoder": config.encoder, "classes": list(names), "test_patches": len(test.ids),
        "skipped_patches": data.skipped, "seeds": list(config.seeds), "per_seed": per_seed,
        "aggregate": aggregate([r["metrics"] for r in per_seed]),
        "retrieval": retrieval, "seconds": round(time.perf_counter() - start, 2),
        "version": __version__,
    }  # fmt: skip
    for zeroed in ("s1_zeroed", "s2_zeroed"):
        if zeroed in per_seed[0]:
            result[f"aggregate_{zeroed}"] = aggregate([r[zeroed] for r in per_seed])
    atomic_write_text(out / "metrics.md", render(result))
    result = _json_safe(result)
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2, allow_nan=False) + "\n")
    return result


def _json_safe(value: Any) -> Any:
    """``value`` with NaN (an undefined metric) as None: metrics.json stays standard JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _mean_std(agg: dict[str, dict[str, float]]) -> list[dict[str, str | float]]:
    return [{"metric": key, "mean": v["mean"], "std": v["std"]} for key, v in agg.items()]


def render(result: dict[str, Any]) -> str:
    """metrics.md: the aggregate, robustness and retrieval tables, and seed 0's per-class one."""
    seeds = ", ".join(str(s) for s in result["seeds"])
    lines = [
        f"# {result['variant']} / {result['protocol']} / input {result['input']}",
        "",
        f"{result['label_type']}-label, {result['scheme']}, budget {result['budget']}, "
        f"seeds {seeds}; {result['test_patches']} test patches",
        "",
        "## Test metrics (mean ± std over seeds)",
        "",
        format_table(_mean_std(result["aggregate"])),
    ]
    for zeroed in ("s1_zeroed", "s2_zeroed"):
        if f"aggregate_{zeroed}" in result:
            sensor = zeroed.split("_")[0].upper()
            lines += ["", f"## Robustness: {sensor} zeroed at test time", "",
                      format_table(_mean_std(result[f"aggregate_{zeroed}"]))]  # fmt: skip
    if result["retrieval"]:
        rows = [{"measure": key, "value": v} for key, v in result["retrieval"].items()]
        lines += ["", "## Cross-modal retrieval (test set)", "", format_table(rows)]
    first = result["per_seed"][0]
    lines += ["", f"## Per class (seed {first['seed']})", "", format_table(first["per_class"])]
    return "\n".join(lines) + "\n"


def summary_line(result: dict[str, Any], keys: Sequence[str] = ("oa", "aa", "micro_f1")) -> str:
    """One line: the first of ``keys`` present, as mean ± std."""
    agg = result["aggregate"]
    key = next((k for k in keys if k in agg), next(iter(agg)))
    std = agg[key]["std"]
    shown = "n/a (one seed)" if std is None or math.isnan(std) else f"{std:.4f}"
    return f"{key} {agg[key]['mean']:.4f} ± {shown}"
