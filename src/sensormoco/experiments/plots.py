"""The experiment's figures (PNG, matplotlib's Agg canvas; every file written atomically)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sensormoco.atomic import atomic_path


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def label_efficiency(
    curves: Mapping[str, Sequence[tuple[float, float, float]]], metric: str, path: Path
) -> Path:
    """Metric against label budget, one line per source: points (budget, mean, std)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, points in curves.items():
        xs, means, stds = (np.array(v, dtype=float) for v in zip(*sorted(points), strict=True))
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labelled patches (budget)")
    ax.set_ylabel(f"test {metric}")
    ax.set_title("Label efficiency (mean ± std over seeds)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def loss_curves(logs: Mapping[str, Path], path: Path) -> Path:
    """Pre-training InfoNCE loss against step, one line per run (from its CSV log)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, log in logs.items():
        with log.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("loss")]
        ax.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("InfoNCE loss")
    ax.set_title("Pre-training loss")
    ax.legend(fontsize=7)
    return _save(fig, path)


def retrieval_bars(recalls: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Cross-modal recall@k per source, both directions, with chance as a dashed line."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    keys = [k for k in next(iter(recalls.values())) if not k.startswith("chance")]
    width = 0.8 / max(1, len(recalls))
    for i, (name, values) in enumerate(recalls.items()):
        ax.bar(np.arange(len(keys)) + i * width, [values[k] for k in keys], width, label=name)
    chance = next(iter(recalls.values()))
    for j, key in enumerate(keys):
        level = chance.get(f"chance_{key.split('_')[-1]}")
        if level is not None:
            ax.hlines(level, j - 0.1, j + 0.8, colors="k", linestyles="dashed")
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, keys, rotation=30, fontsize=8)
    ax.set_ylabel("recall")
    ax.set_title("Cross-modal retrieval on the test set (dashed: chance)")
    ax.legend(fontsize=8)
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
    features: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    path: Path,
    title: str,
    seed: int = 0,
) -> Path:
    """A t-SNE map (scikit-learn) of N x F features, coloured by class."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    xy = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(features)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    for c in np.unique(labels):
        mask = labels == c
        ax.scatter(xy[mask, 0], xy[mask, 1], s=8, label=names[int(c)])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=2)
    return _save(fig, path)
