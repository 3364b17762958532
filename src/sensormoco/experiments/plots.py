"""The experiment's figures (PNG, matplotlib's Agg canvas; every file written atomically)."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sensormoco.atomic import atomic_path


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")  # legends outside kept
    return path


def _legend_outside(ax: Any) -> None:
    """The legend right of the axes, so it never covers data."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def label_efficiency(
    curves: Mapping[str, Sequence[tuple[float, float, float]]],
    metric: str,
    path: Path,
    majority: float | None = None,
) -> Path:
    """Metric against label budget, one line per source: points (budget, mean, std); the
    majority-class level as a dashed line."""
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    for name, points in curves.items():
        xs, means, stds = (np.array(v, dtype=float) for v in zip(*sorted(points), strict=True))
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name)
    if majority is not None:
        ax.axhline(
            majority,
            color="k",
            linestyle="--",
            linewidth=1,
            label=f"majority class ({majority:.3f})",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labelled patches (budget)")
    ax.set_ylabel(f"test {metric.upper() if metric == 'oa' else metric}")
    ax.set_title("Label efficiency (mean ± std over seeds)")
    _legend_outside(ax)
    return _save(fig, path)


def loss_curves(
    logs: Mapping[str, Path], path: Path, chance_top1: Mapping[str, float | None] | None = None
) -> Path:
    """Pre-training InfoNCE loss against step, one line per run (from its CSV log), and each
    run's chance level ln(1 + negatives) dotted in its colour."""
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    for name, log in logs.items():
        with log.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("loss")]
        (line,) = ax.plot(
            [int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], label=name
        )
        chance = (chance_top1 or {}).get(name)
        if chance:
            ax.axhline(
                -math.log(chance),
                color=line.get_color(),
                linestyle=":",
                linewidth=1,
                label=f"  chance: ln(1 + {round(1 / chance) - 1} negatives)",
            )
    ax.set_xlabel("step")
    ax.set_ylabel("InfoNCE loss")
    ax.set_title("Pre-training loss")
    _legend_outside(ax)
    return _save(fig, path)


def _direction(key: str) -> str:
    """``s1_to_s2_r@10`` -> ``S1 -> S2, recall@10``."""
    parts = key.split("_")
    if len(parts) == 4 and parts[1] == "to":
        return f"{parts[0].upper()} -> {parts[2].upper()}, recall@{parts[3].split('@')[-1]}"
    return key


def retrieval_bars(
    recalls: Mapping[str, Mapping[str, float]], path: Path, n: int | None = None
) -> Path:
    """Cross-modal recall@k per source, both directions, with chance as a dashed line."""
    fig = Figure(figsize=(9, 4))
    ax = fig.add_subplot()
    keys = [k for k in next(iter(recalls.values())) if not k.startswith("chance")]
    width = 0.8 / max(1, len(recalls))
    for i, (name, values) in enumerate(recalls.items()):
        ax.bar(np.arange(len(keys)) + i * width, [values[k] for k in keys], width, label=name)
    chance = next(iter(recalls.values()))
    for j, key in enumerate(keys):
        level = chance.get(f"chance_{key.split('_')[-1]}")
        if level is not None:
            ax.hlines(
                level,
                j - width / 2,
                j + 0.8 - width / 2,
                colors="k",
                linestyles="dashed",
                label="chance" if j == 0 else "_nolegend_",
            )
    ax.set_xticks(
        np.arange(len(keys)) + 0.4 - width / 2,
        [_direction(k) for k in keys],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel("recall (share of queries)")
    highest = max(v for values in recalls.values() for v in values.values())
    ax.set_ylim(0, min(1.0, 1.15 * highest))  # small recalls stay readable
    where = "" if n is None else f", N = {n} test pairs"
    ax.set_title(f"Cross-modal retrieval (query sensor -> gallery sensor{where})")
    _legend_outside(ax)
    return _save(fig, path)


def grid_heatmap(values: Mapping[tuple[int, int], float], path: Path, metric: str) -> Path:
    """Metric over batch size (rows) x pre-training steps (columns)."""
    batches = sorted({b for b, _ in values})
    steps = sorted({s for _, s in values})
    grid = np.array([[values.get((b, s), np.nan) for s in steps] for b in batches])
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="viridis")
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(steps)), [str(s) for s in steps])
    ax.set_yticks(range(len(batches)), [str(b) for b in batches])
    ax.set_xlabel("pre-training steps")
    ax.set_ylabel("batch size")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.3f}", ha="center", va="center", color="w")
    return _save(fig, path)


def embedding_map(
    xy: np.ndarray, labels: np.ndarray, names: Sequence[str], path: Path, title: str
) -> Path:
    """A 2-d map of N points (N x 2 coordinates, e.g. t-SNE), coloured by class."""
    fig = Figure(figsize=(7.5, 5))
    ax = fig.add_subplot()
    for c in np.unique(labels):
        mask = labels == c
        ax.scatter(xy[mask, 0], xy[mask, 1], s=8, label=names[int(c)])
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(
        fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0
    )
    return _save(fig, path)
