"""One evaluation run end to end: variant x protocol x input on a label budget, over seeds.

Writes into the run directory ``config.yaml`` (resolved settings), ``metrics.json`` (every
metric per seed, their mean and std, retrieval, missing-sensor robustness, counts and
versions), ``metrics.md`` (readable tables), ``confusion_seed{S}.png`` (single-label),
``seeds/seed_{S}.json`` (each finished seed, kept when the run is resumed) and ``features/``
(the frozen networks' features, keyed by what they depend on). Pixels are streamed: memory
holds ids, labels, features and scores, never a split as pixels.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from sensormoco import __version__
from sensormoco.atomic import atomic_write_text
from sensormoco.evaluation.bigearthnet_data import load_bigearthnet
from sensormoco.evaluation.config import DATASETS, SELECT_BY, EvalConfig
from sensormoco.evaluation.data import load_sen12ms
from sensormoco.evaluation.features import FeatureCache
from sensormoco.evaluation.loader import LoaderSettings, resolve_device
from sensormoco.evaluation.metrics import (
    aggregate,
    confusion_matrix,
    format_table,
    per_class_table,
    save_confusion_png,
)
from sensormoco.evaluation.protocols import (
    PROTOCOL_FNS,
    SeedContext,
    cross_modal_retrieval,
    metrics,
)
from sensormoco.evaluation.result import EvalResult
from sensormoco.evaluation.samples import Labelled
from sensormoco.evaluation.seed_results import load_seed, save_seed
from sensormoco.evaluation.variants import load_variant
from sensormoco.training.checkpoint import encoder_metadata
from sensormoco.training.encoder_file import EncoderFile, read_encoder_file

__all__ = ["DATASETS", "SELECT_BY", "EvalConfig", "Labelled", "run_evaluation", "summary_line"]
FEATURES = "features"


def load_data(config: EvalConfig) -> Labelled:
    """The labelled dataset ``config`` names (a SEN12MS tree or store, BigEarthNet v1, or a
    BigEarthNet v2 tree, LMDB or store)."""
    if config.dataset == "bigearthnet":
        return load_bigearthnet(config.data, config.scheme, config.splits, config.statistics)
    return load_sen12ms(
        config.data,
        config.scheme,
        config.labels_csv,
        config.index_csv,
        config.val_fraction,
        config.split_seed,
        config.workers,
    )


SeedResult = tuple[dict[str, Any], dict[str, float] | None]  # row, retrieval


def _seed(
    config: EvalConfig,
    data: Labelled,
    cache: FeatureCache,
    encoder: EncoderFile | None,
    seed: int,
    first: bool,
    out: Path,
) -> SeedResult:
    """One seed's row of metrics.json and, for the first seed, the retrieval result."""
    names, k, label = data.class_names, len(data.class_names), config.label_type
    test_ids = data.test_ids
    train_ids, val_ids = data.budget(config.budget, seed)
    # SEN12MS encoders must match the task's statistics; other datasets are standardised with
    # their own published statistics (transfer across datasets), so only bands are checked
    expected = data.normalization if config.dataset == "sen12ms" else None
    loaded = load_variant(config.variant, config.input, config.backbone, encoder, expected, seed)
    sha256 = None if encoder is None else encoder.sha256
    ctx = SeedContext(config, data, loaded, cache, sha256, seed)
    retrieval = cross_modal_retrieval(loaded, data, test_ids, cache, ctx.about) if first else None
    torch.manual_seed(seed)
    test_scores, facts = PROTOCOL_FNS[config.protocol](ctx, train_ids, val_ids, test_ids)
    target = data.targets(test_ids, label)
    main = test_scores[config.input]
    row: dict[str, Any] = {
        "seed": seed,
        **facts,
        "metrics": metrics(label, main, target, k),
        "per_class": per_class_table(main, target, names),
    }
    for name, s in test_scores.items():
        if name != config.input:
            zeroed = "s1" if name == "s2" else "s2"
            row[f"{zeroed}_zeroed"] = metrics(label, s, target, k)
    if label == "single":
        matrix = confusion_matrix(main.argmax(dim=1), target, k)
        title = (
            f"{config.variant} / {config.protocol} / {config.input}, seed {seed}: "
            f"test OA {row['metrics']['oa']:.3f} (N = {len(test_ids)})"
        )
        save_confusion_png(matrix, names, out / f"confusion_seed{seed}.png", title)
        row["confusion"] = matrix.tolist()
    return row, retrieval


def run_evaluation(
    config: EvalConfig,
    out: str | Path,
    progress: Callable[[str], None] = print,
    data: Labelled | None = None,
    resume: bool = False,
    encoder: EncoderFile | None = None,
) -> EvalResult:
    """Run ``config`` and write its files into ``out``; returns the metrics.json content.
    ``data`` reuses an already loaded dataset (same root and scheme), ``encoder`` the already
    read ``config.encoder`` (else it is read here, once for the run). ``resume`` keeps the
    seeds an interrupted run of the same settings finished (seeds/seed_{S}.json)."""
    out = Path(out)
    encoder = _encoder_file(config, encoder)
    if encoder is not None:  # config.yaml records the encoder's real backbone
        config = replace(config, backbone=encoder_metadata(encoder)["backbone"])
    start = time.perf_counter()
    data = data if data is not None else load_data(config)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(asdict(config), sort_keys=False))
    settings = LoaderSettings(config.batch_size, config.workers, resolve_device(config.device))
    cache = FeatureCache(out / FEATURES, settings)
    names, label = data.class_names, config.label_type
    per_seed: list[dict[str, Any]] = []
    retrieval = None
    for i, seed in enumerate(config.seeds):
        finished = load_seed(out, config, seed) if resume else None
        if finished is not None:
            row, seed_retrieval = finished
            progress(f"  seed {seed}: finished before, kept")
        else:
            row, seed_retrieval = _seed(config, data, cache, encoder, seed, i == 0, out)
            save_seed(out, config, row, seed_retrieval)
            m = row["metrics"]
            shown = ", ".join(f"{key} {v:.4f}" for key, v in m.items())
            note = f"; {lr_note(row)}" if "lr" in row else ""
            progress(f"  seed {seed}: {shown}{note}")
        retrieval = seed_retrieval if i == 0 else retrieval
        per_seed.append(row)
    result: dict[str, Any] = {
        "variant": config.variant,
        "protocol": config.protocol,
        "input": config.input,
        "dataset": config.dataset,
        "label_type": label,
        "scheme": config.scheme,
        "budget": config.budget or "full",
        "encoder": config.encoder,
        "classes": list(names),
        "test_patches": len(data.test_ids),
        "skipped_patches": data.skipped,
        "seeds": list(config.seeds),
        "per_seed": per_seed,
        "aggregate": aggregate([r["metrics"] for r in per_seed]),
        "retrieval": retrieval,
        "seconds": round(time.perf_counter() - start, 2),
        "version": __version__,
    }
    for zeroed in ("s1_zeroed", "s2_zeroed"):
        if zeroed in per_seed[0]:
            result[f"aggregate_{zeroed}"] = aggregate([r[zeroed] for r in per_seed])
    atomic_write_text(out / "metrics.md", render(result))
    typed = EvalResult.from_dict(_json_safe(result))
    atomic_write_text(out / "metrics.json", typed.to_json())
    return typed


def _encoder_file(config: EvalConfig, given: EncoderFile | None) -> EncoderFile | None:
    """``config.encoder`` read once for the run (``given``: already read)."""
    if given is not None and (config.encoder is None or given.path != Path(config.encoder)):
        raise ValueError(f"the encoder file given ({given.path}) is not the config's encoder")
    if given is None and config.encoder is not None:
        return read_encoder_file(config.encoder)
    return given


def _json_safe(value: Any) -> Any:
    """``value`` with NaN (an undefined metric) as None: metrics.json stays standard JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def lr_note(row: dict[str, Any]) -> str:
    """How a seed's learning rate (row "lr", "lr_grid", "lr_val_scores") was set:
    'lr X chosen on validation from A, B (validation scores a, b)' or 'lr X (given)'."""
    grid = row.get("lr_grid", [row["lr"]])
    if len(grid) < 2:
        return f"lr {row['lr']:g} (given)"
    values = ", ".join(f"{v:g}" for v in grid)
    scores = row["lr_val_scores"]
    shown = ", ".join("n/a" if v is None or math.isnan(v) else f"{v:.4f}" for v in scores)
    return f"lr {row['lr']:g} chosen on validation from {values} (validation scores {shown})"


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
        *[f"- seed {r['seed']}: {lr_note(r)}" for r in result["per_seed"] if "lr" in r],
        *([""] if any("lr" in r for r in result["per_seed"]) else []),
        "## Test metrics (mean ± std over seeds)",
        "",
        format_table(_mean_std(result["aggregate"])),
    ]
    for zeroed in ("s1_zeroed", "s2_zeroed"):
        if f"aggregate_{zeroed}" in result:
            sensor = zeroed.split("_")[0].upper()
            lines += [
                "",
                f"## Robustness: {sensor} zeroed at test time",
                "",
                format_table(_mean_std(result[f"aggregate_{zeroed}"])),
            ]
    if result["retrieval"]:
        rows = [{"measure": key, "value": v} for key, v in result["retrieval"].items()]
        lines += ["", "## Cross-modal retrieval (test set)", "", format_table(rows)]
    first = result["per_seed"][0]
    lines += ["", f"## Per class (seed {first['seed']})", "", format_table(first["per_class"])]
    return "\n".join(lines) + "\n"


def summary_line(result: EvalResult, keys: Sequence[str] = ("oa", "aa", "micro_f1")) -> str:
    """One line: the first of ``keys`` present, as mean ± std."""
    agg = result.aggregate
    key = next((k for k in keys if k in agg), next(iter(agg)))
    std = agg[key]["std"]
    shown = "n/a (one seed)" if std is None or math.isnan(std) else f"{std:.4f}"
    return f"{key} {agg[key]['mean']:.4f} ± {shown}"
