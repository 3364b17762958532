"""BigEarthNet v2 index and labels tables: one row per patch of the metadata.

``index.csv``: ``patch_id,split,status,s1_name,s2v1_name`` where ``status`` is ``ok`` or the
one-line reason the pair cannot be used (snow/cloud/shadow patches left out by default are
listed too, with that reason). ``labels.csv``: ``patch_id,split,multi,names`` where ``multi``
holds the 1-based class numbers of the 19-class nomenclature in its original order (Urban
fabric = 1 ... Marine waters = 19) joined by ``;`` and ``names`` the class names, likewise.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensormoco.atomic import atomic_path
from sensormoco.data.bigearthnet.v2 import V2Source
from sensormoco.data.bigearthnet.v2_metadata import V2Patch
from sensormoco.errors import DataError

INDEX_COLUMNS = ("patch_id", "split", "status", "s1_name", "s2v1_name")
LABEL_COLUMNS = ("patch_id", "split", "multi", "names")
KEEP_HINT = "kept with --keep-snow-cloud"


@dataclass(frozen=True)
class IndexRow:
    patch: V2Patch
    status: str  # "ok" or the reason

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class V2Index:
    """Every patch of a v2 root with its status."""

    rows: list[IndexRow]

    @property
    def usable(self) -> list[V2Patch]:
        return [r.patch for r in self.rows if r.ok]

    def summary(self) -> str:
        left_out = sum(r.status.startswith("left out") for r in self.rows)
        bad = len(self.rows) - len(self.usable) - left_out
        splits = Counter(p.split for p in self.usable)
        parts = ", ".join(f"{s} {splits[s]}" for s in ("train", "validation", "test"))
        return (
            f"{len(self.rows)} patch(es): {len(self.usable)} usable ({parts}), {bad} bad, "
            f"{left_out} snow/cloud/shadow left out"
        )


def build_index(source: V2Source, read_pixels: bool = True) -> V2Index:
    """Check every patch of ``source`` (reading its pixels unless ``read_pixels`` is False:
    then only the presence of both sensors); the left-out patches are listed with why."""
    rows = [IndexRow(p, source.check(p, read_pixels) or "ok") for p in source.metadata.patches]
    rows += [
        IndexRow(p, f"left out: {p.left_out_reason or 'snow/cloud/shadow list'} ({KEEP_HINT})")
        for p in source.metadata.left_out
    ]
    return V2Index(rows)


def write_index_csv(index: V2Index, path: str | Path) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(INDEX_COLUMNS)
        for r in index.rows:
            p = r.patch
            writer.writerow((p.patch_id, p.split, r.status, p.s1_name, p.s2v1_name))


def write_labels_csv(patches: Iterable[V2Patch], path: str | Path) -> int:
    """Write ``labels.csv`` of ``patches``; returns the number of rows."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(LABEL_COLUMNS)
        for p in patches:
            writer.writerow((p.patch_id, p.split, ";".join(map(str, p.multi)), ";".join(p.names)))
            count += 1
    return count


def stream_pairs(
    source: V2Source,
    patches: Iterable[V2Patch],
    s1_bands: tuple[str, ...],
    s2_bands: tuple[str, ...],
    skipped: list[DataError],
) -> Iterator[np.ndarray]:
    """(C1 + C2) x 120 x 120 arrays of the pairs, one at a time; unreadable pairs are appended
    to ``skipped``, never dropped silently."""
    for p in patches:
        try:
            s1, s2 = source.read_s1(p, s1_bands), source.read_s2(p, s2_bands)
        except DataError as exc:
            skipped.append(exc)
            continue
        yield np.concatenate([s1, s2])  # (C1 + C2) x 120 x 120
