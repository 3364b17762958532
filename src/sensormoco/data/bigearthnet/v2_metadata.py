"""BigEarthNet v2 (reBEN) metadata: ``metadata.parquet`` and the snow/cloud/shadow parquet
(docs/design.md §2), read with pyarrow and validated.

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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sensormoco.data.bigearthnet.labels import CLASSES_19
from sensormoco.errors import DataError

METADATA = "metadata.parquet"
SNOW_CLOUD_METADATA = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
COLUMNS: tuple[str, ...] = (
    "patch_id",
    "labels",
    "split",
    "country",
    "s1_name",
    "s2v1_name",
    "contains_seasonal_snow",
    "contains_cloud_or_shadow",
)
SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(slots=True)
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
        why = [
            w
            for w, flag in (
                ("seasonal snow", self.seasonal_snow),
                ("cloud or shadow", self.cloud_or_shadow),
            )
            if flag
        ]
        return " and ".join(why) or None


def _column(table: pa.Table, name: str, path: Path) -> list[Any]:
    column = table.column(name)
    if column.null_count:
        raise DataError(path, f"column {name!r} has empty values", "column")
    values: list[Any] = column.to_pylist()
    return values


def read_metadata_parquet(path: str | Path) -> list[V2Patch]:
    """The rows of a BigEarthNet v2 metadata parquet, validated: every column of ``COLUMNS``
    present, splits known, label names of the 19-class nomenclature, patch ids unique."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
        missing = [c for c in COLUMNS if c not in schema.names]
        if missing:
            raise DataError(
                path, f"no column {missing[0]!r} (needs {', '.join(COLUMNS)})", "column"
            )
        kind = schema.field("labels").type
        if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
            raise DataError(path, f"column 'labels' must be a list of names, not {kind}", "column")
        table = pq.read_table(path, columns=list(COLUMNS))
    except (OSError, pa.ArrowException) as exc:
        raise DataError(
            path, f"not a readable parquet file ({' '.join(str(exc).split())})", "unreadable"
        ) from exc
    ids = _column(table, "patch_id", path)
    if len(set(ids)) != len(ids):
        counts = Counter(ids)
        twice = next(pid for pid in ids if counts[pid] > 1)
        raise DataError(twice, f"listed twice in {path}", "duplicate")
    splits = _column(table, "split", path)
    known = pc.is_in(table.column("split"), value_set=pa.array(SPLITS)).to_numpy(
        zero_copy_only=False
    )
    if not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise DataError(
            ids[row],
            f"unknown split {splits[row]!r} in {path} (expected {', '.join(SPLITS)})",
            "split",
        )
    multi = _class_numbers(table, ids, path)
    country, s1, s2v1 = (_column(table, c, path) for c in ("country", "s1_name", "s2v1_name"))
    snow, cloud = ([bool(v) for v in _column(table, c, path)] for c in COLUMNS[-2:])
    rows = zip(ids, s1, s2v1, splits, country, multi, snow, cloud, strict=True)
    return [V2Patch(*row) for row in rows]


def _class_numbers(table: pa.Table, ids: list[Any], path: Path) -> list[tuple[int, ...]]:
    """Each row's 1-based class numbers (ascending, unique), vectorised over the label lists."""
    labels = table.column("labels").combine_chunks()
    if labels.null_count:
        raise DataError(path, "column 'labels' has empty values", "column")
    names = labels.flatten()
    index = pc.index_in(names, value_set=pa.array(CLASSES_19))  # 0-based, null: unknown
    offsets = labels.offsets.to_numpy()  # N + 1
    if index.null_count or names.null_count:
        first = int(np.flatnonzero(index.is_null().to_numpy(zero_copy_only=False))[0])
        row = int(np.searchsorted(offsets, first, side="right")) - 1
        name = names[first].as_py()
        raise DataError(ids[row], f"unknown BigEarthNet-19 label {name!r} in {path}", "labels")
    bits = np.left_shift(1, index.to_numpy().astype(np.int64))  # one bit per class
    starts, stops = offsets[:-1], offsets[1:]
    masks = np.zeros(len(starts), np.int64)  # N
    filled = stops > starts
    if bits.size:
        masks[filled] = np.bitwise_or.reduceat(bits, starts[filled])
    decoded: dict[int, tuple[int, ...]] = {}
    out = []
    for mask in masks.tolist():
        if mask not in decoded:
            decoded[mask] = tuple(n + 1 for n in range(len(CLASSES_19)) if mask >> n & 1)
        out.append(decoded[mask])
    return out


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
            detail = ", ".join(
                f"{r or 'listed'}: {n}"
                for r, n in sorted(reasons.items(), key=lambda item: item[0] or "")
            )
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
            raise DataError(
                twice, f"listed in both {METADATA} and {SNOW_CLOUD_METADATA}", "duplicate"
            )
        flagged = {p.patch_id for p in more}
        rows += more
    else:
        flagged = set()
    if keep_snow_cloud:
        return V2Metadata(rows)
    out = [p for p in rows if p.patch_id in flagged or p.left_out_reason]
    dropped = {p.patch_id for p in out}
    return V2Metadata([p for p in rows if p.patch_id not in dropped], out)
