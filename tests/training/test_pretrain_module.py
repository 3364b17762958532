"""The pre-training Lightning module's schedule (training/pretrain_module.py)."""

from __future__ import annotations

import math

import pytest

from sensormoco.training.pretrain_module import lr_factor


def test_cosine_schedule_runs_from_one_to_zero() -> None:
    factor = lr_factor("cosine", 10)
    assert factor(0) == 1.0
    assert factor(5) == pytest.approx(0.5)
    assert factor(10) == 0.0
    assert factor(12) == 0.0
    assert lr_factor("constant", 10)(7) == 1.0
    assert math.isclose(factor(2), 0.5 * (1 + math.cos(math.pi * 0.2)))
