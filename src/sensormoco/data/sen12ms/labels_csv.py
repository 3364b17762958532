"""The labels CSV: ``patch_id,single,multi,frac_...``, one row per patch, written atomically
and read back bit-exact (see :mod:`sensormoco.data.sen12ms.labels` for how the labels are made).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sensormoco.atomic import atomic_path
from sensormoco.data.sen12ms.labels import SCHEMES, LabelRow, scheme_names
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.errors import DataError


def _slug(name: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in name.lower()).split()
    return "_".join(w for w in words if w != "and")


def fraction_columns(scheme: str) -> tuple[str, ...]:
    """CSV fraction columns: ``frac_<2-digit code>_<name slug>``, e.g. ``frac_01_forest``,
    ``frac_13_urban_built_up`` (igbp17), ``frac_07_urban_built_up`` (igbp10)."""
    return tuple(f"frac_{i:02d}_{_slug(n)}" for i, n in enumerate(scheme_names(scheme), 1))


def csv_columns(scheme: str) -> tuple[str, ...]:
    return ("patch_id", "single", "multi", *fraction_columns(scheme))


def write_labels_csv(path: str | Path, rows: Iterable[LabelRow], scheme: str) -> None:
    """Write ``patch_id,single,multi,frac_...`` atomically. ``multi`` joins codes with ';'
    (empty when none); fractions are written with ``repr`` so they read back bit-exact."""
    columns = csv_columns(scheme)
    k = len(columns) - 3
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            if len(row.fractions) != k:
                raise ValueError(
                    f"{row.patch_id}: {len(row.fractions)} fractions, {scheme} has {k}"
                )
            multi = ";".join(str(c) for c in row.multi)
            writer.writerow(
                [str(row.patch_id), row.single, multi, *map(repr, map(float, row.fractions))]
            )


def _parse_row(values: list[str], k: int) -> LabelRow:
    if len(values) != k + 3:
        raise ValueError(f"{len(values)} field(s), expected {k + 3}")
    pid = PatchId.parse(values[0])
    single = int(values[1])
    multi = tuple(int(c) for c in values[2].split(";")) if values[2] else ()
    codes = (single, *multi)
    if min(codes) < 1 or max(codes) > k:
        raise ValueError(f"class code outside 1..{k}")
    if list(multi) != sorted(set(multi)):
        raise ValueError(f"multi {values[2]!r} is not ascending and unique")
    frac = np.array([float(v) for v in values[3:]])  # K
    if not np.all(np.isfinite(frac)):
        raise ValueError("non-finite fraction")
    return LabelRow(pid, single, multi, frac)


def read_labels_csv(path: str | Path, scheme: str | None = None) -> list[LabelRow]:
    """Read a labels CSV written by :func:`write_labels_csv`. The scheme is recognised from
    the header (and must equal ``scheme`` when given); errors name ``file:line``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read labels ({exc})", "unreadable") from exc
    try:
        records = list(csv.reader(lines))
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})", "unreadable") from exc
    header = tuple(records[0]) if records else ()
    found = [s for s in SCHEMES if csv_columns(s) == header]
    if not found:
        raise DataError(
            f"{path}:1", "not a labels CSV: header is not patch_id,single,multi,frac_..."
        )
    if scheme is not None and found[0] != scheme:
        raise DataError(path, f"has {found[0]} labels, expected {scheme}")
    k = len(header) - 3
    rows: list[LabelRow] = []
    seen: dict[PatchId, int] = {}
    for number, values in enumerate(records[1:], 2):
        try:
            row = _parse_row(values, k)
        except ValueError as exc:
            raise DataError(f"{path}:{number}", f"malformed labels row ({exc})") from exc
        if row.patch_id in seen:
            raise DataError(
                f"{path}:{number}", f"duplicate patch id {row.patch_id} (line {seen[row.patch_id]})"
            )
        seen[row.patch_id] = number
        rows.append(row)
    return rows
