"""A tiny experiment matrix end to end, an interrupted one resumed, and its config errors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sensormoco.cli.main import main
from sensormoco.errors import DataError
from sensormoco.evaluation.result import EvalResult
from sensormoco.experiments import runner
from sensormoco.experiments.matrix import load_experiment
from sensormoco.experiments.report import write_report

TINY: dict[str, Any] = {
    "pretrain": {
        "config": "cpu-small", "modes": ["sensor-pairs"], "steps": [4], "batch_sizes": [8],
        "overrides": {"queue_size": 16, "crop_size": 32, "bn_splits": 2, "precision": "32",
                      "log_every_n_steps": 1, "checkpoint_every_n_steps": 2},
    },
    "evaluate": {
        "inputs": ["s1s2"], "budgets": [20], "seeds": [0, 1], "baselines": ["random"],
        "epochs": 1, "finetune_epochs": 1, "val_fraction": 0.2,
    },
}  # fmt: skip


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_tiny_matrix_runs_and_resumes_without_rerunning_finished_cells(
    synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = load_experiment(_write(tmp_path, TINY))
    out = tmp_path / "exp"
    real = runner.run_evaluation  # type: ignore[attr-defined]
    calls: list[str] = []

    def interrupted(config: Any, run: Path, *args: Any, **kwargs: Any) -> Any:
        calls.append(run.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the matrix stops in its second evaluation cell
        return real(config, run, *args, **kwargs)

    monkeypatch.setattr(runner, "run_evaluation", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_and_report(exp, out, lambda _: None, data=str(synth_root))
    summary = out / "pretrain" / "sensor-pairs_auto_full_b8_s4" / "summary.json"
    first = out / "eval" / calls[0] / "metrics.json"
    stamps = (summary.stat().st_mtime_ns, first.stat().st_mtime_ns)
    assert not (out / "eval" / calls[1] / "metrics.json").exists()

    messages: list[str] = []
    report = runner.run_and_report(exp, out, messages.append, data=str(synth_root))
    assert calls[2:] == [calls[1]]  # only the unfinished cell ran again
    assert (summary.stat().st_mtime_ns, first.stat().st_mtime_ns) == stamps
    assert sum("cached" in m for m in messages) == 2
    text = report.read_text()
    assert "| sensor-pairs (linear, 20) |" in text
    assert "random init, linear (20)" in text
    for png in ("loss_curves.png", "retrieval.png", "embedding_tsne.png", "label_efficiency.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
        assert f"({png})" in text
    assert (out / "table.csv").read_text().startswith("row,s1,s2,s1s2")


def test_unknown_keys_name_the_nearest_valid_one(tmp_path: Path) -> None:
    raw = {"pretrain": {"mode": ["sensor-pairs"]}}
    with pytest.raises(DataError, match=r"unknown key pretrain\.'mode'; did you mean 'modes'"):
        load_experiment(_write(tmp_path, raw))
    bad = {"evaluate": {"budgets": [0]}}
    with pytest.raises(DataError, match="budget must be a number > 1 or 'full'"):
        load_experiment(_write(tmp_path, bad))


def test_cli_reports_a_bad_experiment_file_in_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("pretrain: [unclosed")
    assert main(["experiment", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"sensormoco experiment: error: {path}: not valid YAML")
    assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_pretraining_seeds_pool_into_rows_and_the_report_only_reads(
    synth_root: Path, tmp_path: Path
) -> None:
    raw = {
        "pretrain": TINY["pretrain"] | {"seeds": [0, 1]},
        "evaluate": TINY["evaluate"] | {"inputs": ["s1", "s1s2"], "budgets": [10, 20]},
    }
    exp = load_experiment(_write(tmp_path, raw))
    data = tmp_path / "data"
    shutil.copytree(synth_root, data)
    out = tmp_path / "exp"
    results = runner.run_experiment(exp, out, lambda _: None, data=str(data))
    assert sorted(results.pretrain) == [
        "sensor-pairs_auto_full_b8_s4_seed0",
        "sensor-pairs_auto_full_b8_s4_seed1",
    ]
    assert isinstance(results.eval["random__linear_s1_10"], EvalResult)
    cell = out / "eval" / "sensor-pairs_auto_full_b8_s4_seed1__linear_s1_20"
    assert (cell / "features").resolve() == (out / "features").resolve()  # one shared cache
    # the report reads what the runner wrote: no data, no encoder needed
    shutil.rmtree(data)
    for encoder in out.glob("pretrain/*/encoder.pt"):
        encoder.unlink()
    report = write_report(exp, results, out)
    text = report.read_text()
    assert "pre-training seeds 0, 1 x evaluation seeds 0, 1" in text
    row = next(line for line in text.splitlines() if line.startswith("| sensor-pairs (linear"))
    assert row.endswith("| 4 |")  # 2 pre-training x 2 evaluation seeds
    assert row.startswith("| sensor-pairs (linear, 20) |")
    assert "| majority class (test) |" in text
    for png in ("embedding_tsne.png", "label_efficiency.png", "retrieval.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
