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
