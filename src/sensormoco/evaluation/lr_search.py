"""The learning rate of one seed's fit, chosen on validation from a small grid.

Each grid value trains the same network from the same initial weights, on the same batches in
the same order (and the same augmentation draws): only the learning rate differs. Each fit
keeps its best validation epoch; the grid value whose best validation score is highest is
chosen (ties: the earlier value), and the network is left at that fit's best epoch. Test is
scored afterwards, once, by the caller.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from sensormoco.evaluation.classify import FitConfig, FitResult


@dataclass(frozen=True)
class LrChoice:
    """The chosen learning rate, its fit, the grid and each grid value's validation score."""

    lr: float
    result: FitResult
    grid: tuple[float, ...]
    val_scores: tuple[float, ...]

    @property
    def chosen_on_validation(self) -> bool:
        return len(self.grid) > 1

    def facts(self) -> dict[str, Any]:
        """The per-seed record's keys: ``lr``, ``lr_grid``, ``lr_val_scores`` (an undefined
        score, -inf while choosing, as NaN: null in metrics.json)."""
        shown = [s if math.isfinite(s) else math.nan for s in self.val_scores]
        return {"lr": self.lr, "lr_grid": list(self.grid), "lr_val_scores": shown}


def choose_lr(
    net: nn.Module,
    grid: Sequence[float],
    config: FitConfig,
    fit_one: Callable[[FitConfig], FitResult],
) -> LrChoice:
    """Run ``fit_one`` (which trains ``net`` and leaves it at its best epoch) once per value of
    ``grid`` from ``net``'s present weights; leave ``net`` at the chosen value's best epoch."""
    if not grid:
        raise ValueError("the learning-rate grid is empty")
    initial = copy.deepcopy(net.state_dict())
    best: tuple[float, FitResult, dict[str, Any]] | None = None
    val_scores = []
    for i, lr in enumerate(grid):
        if i > 0:
            net.load_state_dict(initial)
        result = fit_one(replace(config, lr=lr))
        val_scores.append(result.best_score)
        if best is None or result.best_score > best[1].best_score:
            state = copy.deepcopy(net.state_dict()) if len(grid) > 1 else {}
            best = (lr, result, state)
    assert best is not None
    if len(grid) > 1:
        net.load_state_dict(best[2])
    return LrChoice(best[0], best[1], tuple(grid), tuple(val_scores))
