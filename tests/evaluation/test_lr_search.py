"""The learning rate is chosen per seed on validation from a grid, and recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sensormoco.cli.main import main
from sensormoco.evaluation.classify import FitConfig, Fitting, ProbeHead, fit_tensors, predict
from sensormoco.evaluation.config import EvalConfig
from sensormoco.evaluation.lr_search import choose_lr
from sensormoco.evaluation.run import run_evaluation


def _accuracy(s: torch.Tensor, y: torch.Tensor) -> float:
    return float((s.argmax(1) == y).float().mean())


def _features(n: int = 90) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3  # N
    x = 0.3 * torch.randn(n, 8, generator=g) + torch.nn.functional.one_hot(y, 8).float()
    return x, y  # N x 8, separable


@pytest.mark.parametrize("grid", [(1e-6, 0.5), (0.5, 1e-6)])
def test_the_grid_value_best_on_validation_is_chosen_and_kept(grid: tuple[float, ...]) -> None:
    x, y = _features()
    torch.manual_seed(0)
    head = ProbeHead(8, 3)
    config = FitConfig(epochs=3, batch_size=16, seed=1)
    fit = lambda c: fit_tensors(head, x[:60], y[:60], x[60:], y[60:], Fitting(c, _accuracy))  # noqa: E731
    choice = choose_lr(head, grid, config, fit)
    assert choice.lr == 0.5  # 1e-6 cannot move the random head in 3 epochs
    assert choice.grid == grid
    slow, fast = (choice.val_scores[grid.index(v)] for v in (1e-6, 0.5))
    assert fast > slow + 0.2
    assert choice.result.best_score == fast
    # the head is left at the chosen fit's best epoch
    assert _accuracy(predict(head, x[60:], 16).softmax(1), y[60:]) == pytest.approx(fast)
    scores = list(choice.val_scores)
    assert choice.facts() == {"lr": 0.5, "lr_grid": list(grid), "lr_val_scores": scores}


def test_each_grid_value_starts_from_the_same_weights() -> None:
    x, y = _features()
    head = ProbeHead(8, 3)
    config = FitConfig(epochs=2, batch_size=16)
    fit = lambda c: fit_tensors(head, x[:60], y[:60], x[60:], y[60:], Fitting(c, _accuracy))  # noqa: E731
    twice = choose_lr(head, (0.1, 0.1), config, fit)
    assert twice.val_scores[0] == twice.val_scores[1]
    assert twice.lr == 0.1


def test_config_grid_defaults_and_checks() -> None:
    from sensormoco import defaults

    assert EvalConfig("d").resolved_lr_grid == defaults.EVAL_LINEAR_LR_GRID
    assert EvalConfig("d", protocol="finetune").resolved_lr_grid == defaults.EVAL_FINETUNE_LR_GRID
    assert len(defaults.EVAL_LINEAR_LR_GRID) == 3
    assert len(defaults.EVAL_FINETUNE_LR_GRID) == 2
    assert EvalConfig("d", lr=0.2).resolved_lr_grid == (0.2,)
    assert EvalConfig("d", lr_grid=(0.2, 0.4)).resolved_lr_grid == (0.2, 0.4)
    with pytest.raises(ValueError, match="not both"):
        EvalConfig("d", lr=0.2, lr_grid=(0.2,))
    with pytest.raises(ValueError, match="empty"):
        EvalConfig("d", lr_grid=())
    with pytest.raises(ValueError, match="positive"):
        EvalConfig("d", lr_grid=(0.1, -1.0))


FAST: dict[str, Any] = {"backbone": "resnet18", "epochs": 2, "batch_size": 16, "val_fraction": 0.2}


def test_run_records_the_choice_per_seed(synth_root: Path, tmp_path: Path) -> None:
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(0,),
                        lr_grid=(1e-7, 0.3), **FAST)  # fmt: skip
    shown: list[str] = []
    result = run_evaluation(config, tmp_path, progress=shown.append).to_dict()
    row = json.loads((tmp_path / "metrics.json").read_text())["per_seed"][0]
    assert row["lr"] in (1e-7, 0.3)
    assert row["lr_grid"] == [1e-7, 0.3]
    assert len(row["lr_val_scores"]) == 2
    assert row["val_oa"] == max(row["lr_val_scores"])
    assert row["lr"] == row["lr_grid"][row["lr_val_scores"].index(row["val_oa"])]
    saved = json.loads((tmp_path / "seeds" / "seed_0.json").read_text())["row"]
    assert saved["lr_grid"] == row["lr_grid"]
    assert result["per_seed"][0]["lr"] == row["lr"]
    assert "chosen on validation from 1e-07, 0.3" in shown[-1]
    assert "chosen on validation" in (tmp_path / "metrics.md").read_text()


def test_cli_lr_grid_flag(synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    common = ["evaluate", "--data", str(synth_root), "--budget", "20", "--seeds", "0",
              "--backbone", "resnet18", "--epochs", "1", "--val-fraction", "0.2"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "a"), "--lr-grid", "0.05", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "; lr chosen on validation per seed: 0.5" in out or "per seed: 0.05;" in out
    row = json.loads((tmp_path / "a" / "metrics.json").read_text())["per_seed"][0]
    assert row["lr_grid"] == [0.05, 0.5]
    code = main([*common, "--out", str(tmp_path / "b"), "--lr", "0.1", "--lr-grid", "0.1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not both" in err
    assert len(err.strip().splitlines()) == 1
