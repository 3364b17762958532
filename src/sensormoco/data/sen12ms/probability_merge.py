"""Scene labels from the probability pickle merged with the lc layer's, and the report of
where the two disagree (``LABELS.disagreements.csv`` next to the labels CSV).

The pickle's fractions are used where it has an entry, the lc layer's elsewhere; the
patches are those of the lc layer (the pickle covers the whole dataset).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sensormoco.atomic import atomic_write_text
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.probability_pickle import ProbabilityComparison, ProbabilityPickle

DISAGREEMENTS_HEADER = "patch_id,max_difference,igbp_code"


def merge_fractions(
    from_lc: Mapping[PatchId, np.ndarray], pickle: ProbabilityPickle
) -> dict[PatchId, np.ndarray]:
    """Per patch of ``from_lc``: the pickle's 17 fractions where it has an entry, else lc's."""
    return {pid: pickle.fractions.get(pid, f) for pid, f in from_lc.items()}


def disagreements_path(labels_csv: Path) -> Path:
    """Where the disagreement report of the labels CSV ``labels_csv`` is written."""
    return labels_csv.with_name(labels_csv.name + ".disagreements.csv")


def write_disagreements(comparison: ProbabilityComparison, labels_csv: Path) -> Path | None:
    """Write the disagreements (one row each: id, largest difference, IGBP code) next to
    ``labels_csv``, atomically; with none, remove a stale report of an earlier run and return
    None. Returns the report's path."""
    report = disagreements_path(labels_csv)
    if not comparison.disagreements:
        report.unlink(missing_ok=True)
        return None
    lines = [DISAGREEMENTS_HEADER] + [
        f"{d.patch_id},{d.max_difference!r},{d.code}" for d in comparison.disagreements
    ]
    atomic_write_text(report, "\n".join(lines) + "\n")
    return report
