"""What an experiment's runs produced: pre-training summaries and evaluation results by cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sensormoco.evaluation.result import EvalResult


@dataclass
class MatrixResults:
    """Finished cells by name (absent: cells that do not fit their encoder) and the wall time."""

    pretrain: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> summary.json
    eval: dict[str, EvalResult] = field(default_factory=dict)  # name -> metrics.json
    seconds: float = 0.0
