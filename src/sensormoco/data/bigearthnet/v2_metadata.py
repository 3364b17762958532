"""BigEarthNet v2 (reBEN) metadata: ``metadata.parquet`` and the snow/cloud/shadow parquet
(DESIGN §2), read with pyarrow and validated.

Each row names an S2 patch (``patch_id``), its S1 partner (``s1_name``), its v1 name
(``s2v1_name``, to join v1 and v2 results), its official split (``train``, ``validation``,
``test``), its country, its 19-class label names and two flags. The patches of
``metadata_for_patches_with_snow_cloud_or_shadow.parquet`` (and any row flagged in either file)
are the ones the authors recommend leaving out: they are left out by default, counted, and kept
on request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.errors import DataError

METADATA = "metadata.parquet"
SNOW_CLOUD_METADATA = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
COLUMNS: tuple[str, ...] = (
    "patch_id", "labels", "split", "country", "s1_name", "s2v1_name",
    "contains_seasonal_snow", "contains_cloud_or_shadow",
)  # fmt: skip
SPLITS: tuple[str, ...] = ("train", "validation", "test")
_CLASS_NUMBER = {name: i + 1 for i, name in enumerate(CLASSES_19)}  # 1-based, original order


@dataclass(frozen=True)
class V2Patch:
    """One row of the metadata: an S2 patch, its S1 partner and its scene labels."""

    patch_id: str
    s1_name: str
    s2v1_name: str
    split: str
    country: str
    multi: tuple[int, ...]  # 1-based class numbers of CLASSES_19, ascending
    seasonal_snow: bool
    cloud_or_shadow: bool

    @property
    def names(self) -> tuple[str, ...]:
        """The label names, in the nomenclature's order."""
        return tuple(CLASSES_19[n - 1] for n in self.multi)

    @property
    def left_out_reason(self) -> str | None:
        """Why the authors recommend leaving this patch out (None: they do not)."""
        why = [w for w, flag in (("seasonal snow", self.seasonal_snow),
                                 ("cloud or shadow", self.cloud_or_shadow)) if flag]  # fmt: skip
        return " and ".join(why) or None


def _column(table: pa.Table, name: str, path: Path) -> list[Any]:
    values: list[Any] = table.column(name).to_pylist()
    if any(v is None for v in values):
        raise DataError(path, f"column {name!r} has empty values", "column")
    return values


def read_metadata_parquet(path: str | Path) -> list[V2Patch]:
    """The rows of a BigEarthNet v2 metadata parquet, validated: every column of ``COLUMNS``
    present, splits known, label names of the 19-class nomenclature, patch ids unique."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
        missing = [c for c in COLUMNS if c not in schema.names]
        if missing:
            raise DataError(path, f"no column {missing[0]!r} (needs {', '.join(COLUMNS)})",
                            "column")  # fmt: skip
        kind = schema.field("labels").type
        if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
            raise DataError(path, f"column 'labels' must be a list of names, not {kind}", "column")
        table = pq.read_table(path, columns=list(COLUMNS))
    except (OSError, pa.ArrowException) as exc:
        raise DataError(path, f"not a readable parquet file ({' '.join(str(exc).split())})",
                        "unreadable") from exc  # fmt: skip
    rows = zip(*(_column(table, c, path) for c in COLUMNS), strict=True)
    patches: list[V2Patch] = []
    seen: set[str] = set()
    for pid, labels, split, country, s1, s2v1, snow, cloud in rows:
        if pid in seen:
            raise DataError(pid, f"listed twice in {path}", "duplicate")
        seen.add(pid)
        if split not in SPLITS:
            raise DataError(pid, f"unknown split {split!r} in {path} (expected "
                            f"{', '.join(SPLITS)})", "split")  # fmt: skip
        numbers = set()
        for name in labels:
            number = _CLASS_NUMBER.get(name)
            if number is None:
                raise DataError(pid, f"unknown BigEarthNet-19 label {name!r} in {path}", "labels")
            numbers.add(number)
        patches.append(V2Patch(pid, s1, s2v1, split, country, tuple(sorted(numbers)),
                               bool(snow), bool(cloud)))  # fmt: skip
    return patches


@dataclass
class V2Metadata:
    """The patches a BigEarthNet v2 root offers (``patches``, in metadata order) and those left
    out as snow/cloud/shadow (``left_out``)."""

    patches: list[V2Patch]
    left_out: list[V2Patch] = field(default_factory=list)

    def split(self, names: str | Sequence[str] | None) -> list[V2Patch]:
        """The patches of one split, several, or all (None)."""
        if names is None:
            return list(self.patches)
        wanted = (names,) if isinstance(names, str) else tuple(names)
        unknown = [n for n in wanted if n not in SPLITS]
        if unknown:
            raise ValueError(f"unknown BigEarthNet v2 split {unknown[0]!r}; choose from {SPLITS}")
        return [p for p in self.patches if p.split in wanted]

    def summary(self) -> str:
        counts = Counter(p.split for p in self.patches)
        parts = ", ".join(f"{s} {counts[s]}" for s in SPLITS)
        text = f"{len(self.patches)} patches ({parts})"
        if self.left_out:
            reasons = Counter(p.left_out_reason for p in self.left_out)
            detail = ", ".join(f"{r or 'listed'}: {n}" for r, n in sorted(reasons.items(),
                               key=lambda item: item[0] or ""))  # fmt: skip
            text += f"; left out {len(self.left_out)} snow/cloud/shadow patch(es) ({detail})"
        return text


def load_metadata(root: str | Path, keep_snow_cloud: bool = False) -> V2Metadata:
    """The metadata of a BigEarthNet v2 root: ``metadata.parquet`` and, when present beside it,
    the snow/cloud/shadow parquet. Flagged patches are left out unless ``keep_snow_cloud``."""
    root = Path(root)
    rows = read_metadata_parquet(root / METADATA)
    extra = root / SNOW_CLOUD_METADATA
    if extra.is_file():
        known = {p.patch_id for p in rows}
        more = read_metadata_parquet(extra)
        twice = next((p.patch_id for p in more if p.patch_id in known), None)
        if twice is not None:
            raise DataError(twice, f"listed in both {METADATA} and {SNOW_CLOUD_METADATA}",
                            "duplicate")  # fmt: skip
        flagged = {p.patch_id for p in more}
        rows += more
    else:
        flagged = set()
    if keep_snow_cloud:
        return V2Metadata(rows)
    out = [p for p in rows if p.patch_id in flagged or p.left_out_reason]
    dropped = {p.patch_id for p in out}
    return V2Metadata([p for p in rows if p.patch_id not in dropped], out)
