"""The experiment matrix: pre-training seeds, per-protocol budgets and inputs, and the demo's
one definition, whose budgets fit the embedded default's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sensormoco import defaults
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.splits import draw_budget, official_split
from sensormoco.data.sen12ms.synth import SynthConfig, plan_scenes
from sensormoco.errors import DataError
from sensormoco.experiments.matrix import Experiment, demo_experiment, load_experiment
from sensormoco.experiments.runner import eval_config

ROOT = Path(__file__).parents[2]


def _load(tmp_path: Path, raw: dict[str, Any]) -> Experiment:
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_experiment(path)


def test_each_pretraining_cell_runs_per_seed_and_its_evaluations_follow(tmp_path: Path) -> None:
    raw = {
        "pretrain": {"modes": ["sensor-pairs", "fusion-all"], "seeds": [0, 1]},
        "evaluate": {"inputs": ["s1", "s1s2"], "baselines": ["random"]},
    }
    exp = _load(tmp_path, raw)
    names = [c.name for c in exp.pretrain_cells()]
    assert names == [
        "sensor-pairs_auto_full_b32_s300_seed0",
        "sensor-pairs_auto_full_b32_s300_seed1",
        "fusion-all_auto_full_b32_s300_seed0",
        "fusion-all_auto_full_b32_s300_seed1",
    ]
    assert {c.group for c in exp.pretrain_cells()} == {
        "sensor-pairs_auto_full_b32_s300",
        "fusion-all_auto_full_b32_s300",
    }
    sources = [c.source for c in exp.eval_cells()]
    for name in names:  # every input of every pre-training seed
        assert sources.count(name) == 2
    assert sources.count("random") == 2  # baselines do not depend on pre-training seeds
    assert exp.pretrain_cells()[1].label() == "sensor-pairs (batch 32, 300 steps, seed 1)"


def test_without_pretrain_seeds_a_cell_keeps_its_seedless_name(tmp_path: Path) -> None:
    exp = _load(tmp_path, {"pretrain": {"modes": ["sensor-pairs"]}})
    assert exp.pretrain_seeds == (None,)
    assert [c.name for c in exp.pretrain_cells()] == ["sensor-pairs_auto_full_b32_s300"]
    with pytest.raises(DataError, match=r"pretrain\.seeds must be a non-empty list"):
        _load(tmp_path, {"pretrain": {"seeds": 3}})


def test_fine_tuning_cells_take_their_own_budgets_and_inputs(tmp_path: Path) -> None:
    evaluate = {
        "protocols": ["linear", "finetune"],
        "inputs": ["s1", "s2", "s1s2"],
        "budgets": [64, 1024],
        "finetune_budgets": [1024],
        "finetune_inputs": ["s1s2"],
        "baselines": ["supervised", "random"],
    }
    exp = _load(tmp_path, {"pretrain": {"modes": ["fusion-all"]}, "evaluate": evaluate})
    cells = exp.eval_cells()
    tuned = {(c.source, c.input, c.budget) for c in cells if c.protocol == "finetune"}
    assert tuned == {("fusion-all_auto_full_b32_s300", "s1s2", 1024), ("supervised", "s1s2", 1024)}
    probed = [c for c in cells if c.protocol == "linear"]
    assert len(probed) == 2 * 3 * 2  # the encoder and random init, 3 inputs, 2 budgets


def test_fine_tuning_cells_take_the_experiments_lr_grid(tmp_path: Path) -> None:
    evaluate = {"protocols": ["linear", "finetune"], "finetune_lr_grid": [0.03]}
    exp = _load(tmp_path, {"pretrain": {"modes": ["fusion-all"]}, "evaluate": evaluate})
    grids = {c.protocol: eval_config(exp, c, tmp_path, "DATA").resolved_lr_grid
             for c in exp.eval_cells()}  # fmt: skip
    assert grids == {"finetune": (0.03,), "linear": defaults.EVAL_LINEAR_LR_GRID}
    default = _load(tmp_path, {"evaluate": {"protocols": ["finetune"]}})
    cell = default.eval_cells()[0]
    assert eval_config(default, cell, tmp_path, "D").resolved_lr_grid == (0.01, 0.03)


def test_the_demo_experiment_has_one_definition() -> None:
    """configs/demo/experiment.yaml is a link to the packaged demo experiment (replaces the
    test that two byte-identical copies parse alike)."""
    shipped = ROOT / "configs" / "demo" / "experiment.yaml"
    packaged = ROOT / "src" / "sensormoco" / "resources" / "experiments" / "demo.yaml"
    assert shipped.is_symlink()
    assert shipped.resolve() == packaged.resolve()
    assert load_experiment(shipped) == demo_experiment()
    cells = demo_experiment().eval_cells()
    assert {c.source.split("_")[0] for c in cells} == {"sensor-pairs", "fusion-all",
                                                        "supervised", "random"}  # fmt: skip


def test_the_demo_fills_every_input_and_three_budgets() -> None:
    exp = demo_experiment()
    linear = {(c.input, c.budget) for c in exp.eval_cells() if c.protocol == "linear"}
    assert {i for i, _ in linear} == {"s1", "s2", "s1s2"}
    assert len({b for _, b in linear}) >= 3


def test_demo_budgets_fit_the_default_data() -> None:
    """Every budget of the demo draws its train and val parts (>= 2 val patches) from the
    embedded default's split, for every evaluation seed."""
    config = SynthConfig()
    patches = range(1, config.grid**2 + 1)
    ids = [PatchId(p.season, p.number, k) for p in plan_scenes(config) for k in patches]
    exp = demo_experiment()
    split = official_split(ids, defaults.DEMO_VAL_FRACTION, defaults.SEED)
    budgets = {c.budget for c in exp.eval_cells()}
    assert None not in budgets
    for budget in budgets:
        assert budget is not None
        for seed in exp.seeds:
            train, val = draw_budget(split.train, split.val, budget, seed)
            assert len(val) >= 2
            assert len(train) + len(val) == budget
