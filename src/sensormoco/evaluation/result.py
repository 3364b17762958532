"""The result of one evaluation run: what ``metrics.json`` holds, as a typed record.

:meth:`EvalResult.to_dict` gives the keys of ``metrics.json`` in their order (the two
robustness aggregates only when the run has them), so the file is the same as when it was
written from a plain mapping; :meth:`EvalResult.from_json` reads one back. Per-seed rows stay
mappings (each protocol adds its own facts to them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sensormoco.errors import DataError

Aggregate = dict[str, dict[str, float | None]]  # metric -> {"mean", "std"} (std None: one seed)
OPTIONAL = ("aggregate_s1_zeroed", "aggregate_s2_zeroed")


@dataclass(frozen=True)
class EvalResult:
    """Settings, per-seed rows, their aggregate and the run's facts (``budget`` "full": the
    whole split)."""

    variant: str
    protocol: str
    input: str
    dataset: str
    label_type: str
    scheme: str
    budget: int | str
    encoder: str | None
    classes: list[str]
    test_patches: int
    skipped_patches: int
    seeds: list[int]
    per_seed: list[dict[str, Any]]
    aggregate: Aggregate
    retrieval: dict[str, float] | None
    seconds: float
    version: str
    aggregate_s1_zeroed: Aggregate | None = None  # s1s2 runs: tested with S1 zeroed
    aggregate_s2_zeroed: Aggregate | None = None

    def to_dict(self) -> dict[str, Any]:
        """The metrics.json mapping (the robustness aggregates only when present)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in out.items() if k not in OPTIONAL or v is not None}

    def to_json(self) -> str:
        """metrics.json's text (standard JSON: undefined metrics are null)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EvalResult:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown keys {unknown}")
        return cls(**raw)

    @classmethod
    def from_json(cls, text: str, source: str | Path = "metrics.json") -> EvalResult:
        """Parse metrics.json's text; a bad file is a one-line error naming ``source``."""
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise DataError(source, f"not an evaluation result ({exc})", "unreadable") from exc

    @classmethod
    def load(cls, path: str | Path) -> EvalResult:
        """Read a run's metrics.json."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(path, f"cannot read ({exc.strerror})", "missing") from exc
        return cls.from_json(text, path)
