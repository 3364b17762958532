"""The benchmark scripts run end to end (tiny settings, CPU) and print their tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _run(script: str, *args: str) -> str:
    command = [sys.executable, "-m", f"benchmarks.{script.removesuffix('.py')}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_pretrain_step_benchmark_prints_rows_and_ratios(tmp_path: Path) -> None:
    out = _run("pretrain_step.py", "--size", "32", "--batch", "8", "--steps", "2", "--warmup",
               "1", "--repeats", "1", "--scenes", "2", "--grid", "4", "--skip-torchgeo",
               "--root", str(tmp_path / "data"))  # fmt: skip
    for row in ("| ceiling | fp32 | NCHW |", "| ceiling | bf16 autocast | channels_last |",
                "| sensormoco | fp32 |", "| sensormoco, crop only | bf16 autocast |",
                "| sensormoco / ceiling |", "| sensormoco: bf16 / fp32 |"):  # fmt: skip
        assert row in out, out


@pytest.mark.slow
def test_gpu_throughput_benchmark_runs_on_cpu(tmp_path: Path) -> None:
    out = _run("gpu_throughput.py", "--accelerator", "cpu", "--backbone", "resnet18", "--size",
               "32", "--patch", "32", "--batch", "8", "--steps", "2", "--warmup", "1",
               "--repeats", "1", "--workers", "0", "--root", str(tmp_path / "data"))  # fmt: skip
    assert "pairs/s" in out, out
    assert "ceiling" in out, out


@pytest.mark.slow
def test_scale_rehearsal_runs_every_command_at_a_tiny_size(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.scale", "--sizes", "64", "128", "--size", "32",
               "--steps", "1", "--crop", "32", "--budget", "16", "--work", str(tmp_path),
               "--out", str(tmp_path / "scale.md")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "scale.md").read_text()
    for name in ("index", "labels", "subset", "pack", "pretrain", "evaluate linear",
                 "evaluate finetune", "evaluate knn"):  # fmt: skip
        assert f"| {name} | " in table, table
    assert "64 and 128 patches of 32 px" in table


@pytest.mark.slow
def test_convergence_benchmark_checks_loss_and_validation_retrieval(tmp_path: Path) -> None:
    from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms

    root, runs = tmp_path / "data", tmp_path / "runs"
    synthesize_sen12ms(root, SynthConfig(scenes=6, grid=4, size=32, seed=0))
    out = _run("pretrain_convergence.py", "--steps", "6", "--retrieval-every", "3", "--root",
               str(root), "--out", str(runs), "--set", "batch_size=8", "crop_size=32",
               "queue_size=32", "checkpoint_every_n_steps=3",
               "diagnostics_every_n_steps=3")  # fmt: skip
    assert "| runs/sensor-pairs | 16 |" in out, out  # cross-sensor: K = half the queue
    assert "val r@10 (both ways) by step: 3: " in out, out  # a snapshot, then the end
    assert "stable" in out or "CLIMBS BACK" in out, out
    assert "own_sensor_top1 by step:" in out, out
    assert (runs / "sensor-pairs.png").is_file()
    run = runs / "sensor-pairs"
    stale = _run("queue_staleness.py", "--run", str(run), "--root", str(root),
                 str(run / "checkpoints" / "last.ckpt"))  # fmt: skip
    assert "| 6 | " in stale, stale


@pytest.mark.slow
def test_encoder_comparison_reports_both_encoders_on_validation_and_continues(
    tmp_path: Path,
) -> None:
    import json

    from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms

    root, runs = tmp_path / "data", tmp_path / "runs"
    synthesize_sen12ms(root, SynthConfig(scenes=12, grid=4, size=64, seed=0))
    args = ["--root", str(root), "--steps", "2", "--seeds", "0", "--probe-budget", "40",
            "--set", "schedule=constant", "lr=0.02", "--out", str(runs)]  # fmt: skip
    out = _run("encoder_comparison.py", *args)
    assert "| shared | 0 | " in out, out
    assert "| per-sensor | 0 | " in out, out
    summary = json.loads((runs / "encoder_comparison.json").read_text())
    assert summary["validation_patches"] == 32  # 2 validation scenes of 16 patches
    assert summary["settings"] == {"schedule": "constant", "lr": 0.02}
    for rows in summary["rows"].values():
        assert {"s1_to_s2_r@5", "s2_to_s1_r@10", "oa_s1", "oa_s2", "oa_s1s2"} <= rows[0].keys()
    again = _run("encoder_comparison.py", *args)  # each run's row is read back
    assert json.loads((runs / "encoder_comparison.json").read_text())["rows"] == summary["rows"]
    assert "| shared | 0 | " in again, again
