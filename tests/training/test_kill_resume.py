"""kill -9 in the middle of pre-training, resume, and get the uninterrupted run's weights."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sensormoco.cli.main import main
from sensormoco.errors import DataError
from sensormoco.training.training_checkpoint import checkpoint_step

ARGS = ["--config", "cpu-small", "--mode", "sensor-pairs", "--crop-size", "32", "--batch-size",
        "8", "--queue-size", "32", "--loader-workers", "0", "--log-every", "1",
        "--checkpoint-every", "4", "--deterministic", "--max-steps", "40"]  # fmt: skip


def _run(root: Path, out: Path, *extra: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["pretrain", "--data", str(root), "--out", str(out), *ARGS, *extra])


def _state(out: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    state: dict[str, torch.Tensor] = ckpt["state_dict"]
    return state


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_equals_an_uninterrupted_run(
    synth_root: Path, tmp_path: Path
) -> None:
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "sensormoco.cli.main", "pretrain", "--data",
               str(synth_root), "--out", str(killed), *ARGS]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    step = 0
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(DataError):
            step = checkpoint_step(checkpoint) if checkpoint.is_file() else 0
        if step >= 4:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run ended before it was killed"
    assert not (killed / "summary.json").exists()
    assert 4 <= checkpoint_step(checkpoint) < 40  # a complete checkpoint survived the kill

    assert _run(synth_root, killed, "--resume") == 0
    assert _run(synth_root, tmp_path / "whole") == 0
    a, b = _state(tmp_path / "whole"), _state(killed)
    for key, value in a.items():
        assert torch.equal(value, b[key]), key
