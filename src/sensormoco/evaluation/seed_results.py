"""Finished seeds of an evaluation run, kept so an interrupted run resumes without redoing them.

Each seed's result is written atomically to ``RUN/seeds/seed_{S}.json`` as soon as it is done,
with a digest of the settings that decide it; a resumed run keeps a seed whose file carries
the digest of its own settings and refuses a file written under other settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sensormoco.atomic import atomic_write_text
from sensormoco.errors import DataError
from sensormoco.evaluation.config import SPEED_ONLY, EvalConfig

FOLDER = "seeds"


def settings_digest(config: EvalConfig) -> str:
    """sha256 of the settings that decide a run's numbers (all but :data:`SPEED_ONLY`)."""
    settings = {k: v for k, v in asdict(config).items() if k not in SPEED_ONLY}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def seed_path(out: Path, seed: int) -> Path:
    return out / FOLDER / f"seed_{seed}.json"


def save_seed(out: Path, config: EvalConfig, row: dict[str, Any],
              retrieval: dict[str, float] | None) -> Path:  # fmt: skip
    """Write a finished seed's row (and the run's retrieval, for its first seed)."""
    path = seed_path(out, row["seed"])
    record = {"settings": settings_digest(config), "row": row, "retrieval": retrieval}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")  # NaN kept as NaN
    return path


def load_seed(out: Path, config: EvalConfig,
              seed: int) -> tuple[dict[str, Any], dict[str, float] | None] | None:  # fmt: skip
    """The row and retrieval of a finished seed, or None when it has not finished."""
    path = seed_path(out, seed)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        settings, row, retrieval = record["settings"], record["row"], record["retrieval"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataError(path, f"unreadable finished-seed file ({exc}); remove it to redo the "
                        "seed", "unreadable") from exc  # fmt: skip
    if settings != settings_digest(config) or row.get("seed") != seed:
        raise DataError(path, "written by an evaluation with other settings; use another "
                        "--out or remove the seeds folder", "settings")  # fmt: skip
    return row, retrieval
