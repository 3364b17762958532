"""An interrupted evaluation resumes with its finished seeds kept, never mixing settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sensormoco.errors import DataError
from sensormoco.evaluation.run import EvalConfig, run_evaluation
from sensormoco.evaluation.seed_results import seed_path

FAST: dict[str, Any] = {"backbone": "resnet18", "epochs": 1, "batch_size": 16, "val_fraction": 0.2}


class Interrupt(Exception):
    pass


def test_a_resumed_run_keeps_finished_seeds_and_matches_an_uninterrupted_one(
    synth_root: Path, tmp_path: Path
) -> None:
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(0, 1), **FAST)
    whole = run_evaluation(config, tmp_path / "whole", progress=lambda _: None).to_dict()

    def stop(message: str) -> None:
        raise Interrupt(message)  # right after the first seed is done

    run = tmp_path / "run"
    with pytest.raises(Interrupt, match="seed 0"):
        run_evaluation(config, run, progress=stop)
    first = seed_path(run, 0)
    assert first.is_file()
    assert not seed_path(run, 1).exists()
    assert not (run / "metrics.json").exists()
    stamp = first.stat().st_mtime_ns
    messages: list[str] = []
    resumed = run_evaluation(config, run, progress=messages.append, resume=True).to_dict()
    assert messages[0] == "  seed 0: finished before, kept"
    assert messages[1].startswith("  seed 1: oa ")
    assert first.stat().st_mtime_ns == stamp
    assert resumed["per_seed"] == whole["per_seed"]
    assert resumed["aggregate"] == whole["aggregate"]
    assert json.loads((run / "metrics.json").read_text())["per_seed"] == whole["per_seed"]


def test_without_resume_every_seed_runs_again(synth_root: Path, tmp_path: Path) -> None:
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(0,), **FAST)
    run_evaluation(config, tmp_path, progress=lambda _: None)
    stamp = seed_path(tmp_path, 0).stat().st_mtime_ns
    messages: list[str] = []
    run_evaluation(config, tmp_path, progress=messages.append)
    assert messages[0].startswith("  seed 0: oa ")
    assert seed_path(tmp_path, 0).stat().st_mtime_ns != stamp


def test_a_seed_of_other_settings_is_refused(synth_root: Path, tmp_path: Path) -> None:
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(0,), **FAST)
    run_evaluation(config, tmp_path, progress=lambda _: None)
    other = EvalConfig(str(synth_root), variant="supervised", budget=24, seeds=(0,), **FAST)
    with pytest.raises(DataError, match=r"seed_0\.json: written by an evaluation with other"):
        run_evaluation(other, tmp_path, progress=lambda _: None, resume=True)
    faster = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(0,),
                        workers=1, device="cpu", **FAST)  # fmt: skip
    messages: list[str] = []
    run_evaluation(faster, tmp_path, progress=messages.append, resume=True)
    assert messages == ["  seed 0: finished before, kept"]  # speed settings may change
    seed_path(tmp_path, 0).write_text("{")
    with pytest.raises(DataError, match="unreadable finished-seed file"):
        run_evaluation(config, tmp_path, progress=lambda _: None, resume=True)
