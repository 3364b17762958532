"""The console a person reads: progress with rate and ETA, a summary per step, nothing from the
frameworks (their tips and warnings go to the run's log file), lines rather than redraw frames
when the output is not a terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sensormoco import defaults
from sensormoco.progress import Progress, set_quiet, track

NOISE = re.compile(r"warning|tip\b|deprecat", re.IGNORECASE)


def _run(*args: str) -> str:
    env = os.environ | {"PYTHONWARNINGS": "default"}  # every warning would be shown
    done = subprocess.run([sys.executable, "-m", "sensormoco.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_pretrain_and_evaluate_print_no_framework_noise(synth_root: Path, tmp_path: Path):
    pre = tmp_path / "pre"
    console = _run("pretrain", "--data", str(synth_root), "--mode", "sensor-pairs", "--config",
                   "cpu-small", "--max-steps", "4", "--batch-size", "8", "--queue-size", "16",
                   "--crop-size", "32", "--loader-workers", "0", "--out", str(pre))  # fmt: skip
    console += _run("evaluate", "--data", str(synth_root), "--encoder", str(pre / "encoder.pt"),
                    "--out", str(tmp_path / "ev"), "--budget", "20", "--seeds", "0",
                    "--epochs", "2", "--protocol", "finetune")  # fmt: skip
    noisy = [line for line in console.splitlines() if NOISE.search(line)]
    assert noisy == []
    assert re.search(r"^pre-training: 4 steps in .* steps/s", console, re.MULTILINE)
    assert re.search(r"^fine-tuning: 2 epochs in ", console, re.MULTILINE)
    assert re.search(r"^scan: \d+ patches in ", console, re.MULTILINE)
    assert "\r" not in console  # not a terminal: whole lines, no redraw frames
    assert (pre / "logs" / "console.log").is_file()  # where Lightning's messages went


def test_a_log_file_gets_a_line_every_tenth_and_one_summary(monkeypatch) -> None:
    set_quiet(False)
    stream = io.StringIO()
    list(track(range(100), "scan", stream=stream))
    assert len(stream.getvalue().splitlines()) == 1  # a short step: only its summary
    monkeypatch.setattr(defaults, "PROGRESS_QUIET_SECONDS", 0.0)
    stream = io.StringIO()
    for _ in track(range(100), "scan", stream=stream):
        pass
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10  # 10, 20, ..., 90 %, then the summary
    assert re.fullmatch(r"scan:  10% 10/100 patches, [\d.]+ patches/s, ETA \d+ s", lines[0])
    assert re.fullmatch(r"scan: 100 patches in \d+ s \([\d.]+ patches/s\)", lines[-1])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_bar_is_redrawn_in_place_and_ends_with_the_summary() -> None:
    set_quiet(False)
    stream = Terminal()
    with Progress("pack", 3, "chunks", stream) as progress:
        for _ in range(3):
            progress.update()
    text = stream.getvalue()
    assert "\n" not in text.rstrip("\n")  # one line, redrawn
    assert text.endswith("pack: 3 chunks in 0 s (" + text.split("(")[-1])
    assert "  33% 1/3 chunks" in text


def test_quiet_prints_nothing_and_a_failed_step_no_summary(monkeypatch) -> None:
    monkeypatch.setattr(defaults, "PROGRESS_QUIET_SECONDS", 0.0)
    stream = io.StringIO()
    set_quiet(True)
    list(track(range(5), "scan", stream=stream))
    assert stream.getvalue() == ""
    set_quiet(False)
    with pytest.raises(RuntimeError):
        _fail_at(3, stream)
    assert stream.getvalue().startswith("labels:  20% 1/5")  # shown from the first tenth
    assert not re.search(r"^labels: \d+ patches in", stream.getvalue(), re.MULTILINE)


def _fail_at(n: int, stream: io.StringIO) -> None:
    for i in track(range(5), "labels", stream=stream):
        if i == n:
            raise RuntimeError("bad file")
