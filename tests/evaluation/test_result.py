"""The typed evaluation result writes metrics.json exactly as the former mapping did."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from sensormoco.errors import DataError
from sensormoco.evaluation.result import EvalResult


def _raw(zeroed: bool) -> dict[str, Any]:
    agg = {"oa": {"mean": 0.5, "std": None}}
    raw: dict[str, Any] = dict(
        variant="moco",
        protocol="linear",
        input="s1s2",
        dataset="sen12ms",
        label_type="single",
        scheme="igbp10",
        budget="full",
        encoder="e.pt",
        classes=["a", "b"],
        test_patches=9,
        skipped_patches=0,
        seeds=[0],
        per_seed=[{"seed": 0, "train": 16, "val": 4, "metrics": {"oa": 0.5}}],
        aggregate=agg,
        retrieval={"chance_r@1": 1 / 9},
        seconds=1.5,
        version="0.1",
    )
    if zeroed:
        raw |= {"aggregate_s1_zeroed": agg, "aggregate_s2_zeroed": agg}
    return raw


@pytest.mark.parametrize("zeroed", [False, True])
def test_metrics_json_keeps_its_keys_order_and_bytes(zeroed: bool, tmp_path: Path) -> None:
    raw = _raw(zeroed)
    result = EvalResult.from_dict(raw)
    assert result.to_json() == json.dumps(raw, indent=2, allow_nan=False) + "\n"
    assert list(result.to_dict()) == list(raw)
    path = tmp_path / "metrics.json"
    path.write_text(result.to_json())
    assert EvalResult.load(path) == result


def test_nan_is_refused_and_a_bad_file_is_one_line(tmp_path: Path) -> None:
    raw = _raw(False)
    raw["aggregate"] = {"oa": {"mean": math.nan, "std": None}}
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        EvalResult.from_dict(raw).to_json()  # metrics.json stays standard JSON
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(_raw(False) | {"extra": 1}))
    with pytest.raises(DataError, match=r"metrics.json: not an evaluation result \(unknown keys"):
        EvalResult.load(path)
