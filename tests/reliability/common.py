"""Shared pieces of the bad-input sweep (docs/reliability.md): trees with one bad triplet and
a runner that captures a command's exit code and stderr lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from sensormoco.cli.main import main
from sensormoco.data.sen12ms.layout import PatchId

Capsys = pytest.CaptureFixture[str]
GOOD = ("ROIs1158_spring_1_p1", "ROIs1158_spring_1_p2")  # two good triplets in every tree
BAD = PatchId.parse("ROIs1158_spring_1_p3")
TRANSFORM = Affine(10, 0, 500000.0, 0, -10, 5000000.0)  # make_triplet's default grid
EVAL_FAST = ["--budget", "20", "--val-fraction", "0.2", "--seeds", "0", "--backbone", "resnet18",
             "--epochs", "1"]  # fmt: skip


def run_cli(argv: list[str], capsys: Capsys) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the non-empty stderr lines of one command."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def one_error(err: list[str], command: str) -> str:
    """The only stderr line, which must be the command's one-line error; returns its text."""
    assert len(err) == 1, err
    prefix = f"sensormoco {command}: error: "
    assert err[0].startswith(prefix), err[0]
    return err[0].removeprefix(prefix)


def make_tree(root: Path, make_triplet: Callable[..., PatchId], **bad: np.ndarray | None) -> Path:
    """Two good triplets and the triplet BAD (with ``bad`` overriding its arrays)."""
    for seed, pid in enumerate(GOOD, 1):
        make_triplet(root, pid, seed=seed)
    make_triplet(root, BAD, seed=3, **bad)
    return root
