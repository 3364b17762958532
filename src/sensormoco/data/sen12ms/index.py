"""The SEN12MS index: every triplet scanned and validated, one CSV row per patch id.

Commands never stop at the first bad file: each bad triplet gets a one-line reason naming the
file, and callers report how many were skipped.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sensormoco import defaults
from sensormoco.atomic import atomic_path
from sensormoco.data.sen12ms.layout import (
    SENSORS,
    PatchId,
    PatchRecord,
    check_triplet,
    mark_odd_sizes,
    read_id_list,
    scan_tree,
)
from sensormoco.errors import DataError
from sensormoco.progress import track

COLUMNS: tuple[str, ...] = (
    "patch_id",
    "season",
    "scene",
    "patch",
    "s1_path",
    "s2_path",
    "lc_path",
    "crs",
    "left",
    "bottom",
    "right",
    "top",
    "width",
    "height",
    "s1_dtype",
    "s2_dtype",
    "lc_dtype",
    "s1_nonfinite",
    "status",
    "kind",
    "reason",
)


@dataclass
class Index:
    """Validated records of a SEN12MS root, sorted by patch id, plus files that fit no patch."""

    root: Path
    records: list[PatchRecord]
    unrecognised: list[str] = field(default_factory=list)

    @property
    def usable(self) -> list[PatchRecord]:
        return [r for r in self.records if r.ok]

    @property
    def bad(self) -> list[PatchRecord]:
        return [r for r in self.records if not r.ok]

    def summary(self) -> str:
        """One line: totals, bad counts by kind, unrecognised files, S1 non-finite pixels."""
        kinds = Counter(r.kind for r in self.bad)
        detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
        text = f"{len(self.records)} patch ids: {len(self.usable)} usable, {len(self.bad)} bad"
        text += f" ({detail})" if detail else ""
        text += f"; {len(self.unrecognised)} unrecognised file(s)"
        counts = [r.s1_nonfinite for r in self.usable]
        if any(c is None for c in counts):
            return text + "; pixels not read (headers only)"
        nonfinite = sum(c or 0 for c in counts)
        patches = sum(1 for c in counts if c)
        return (
            text
            + f"; {nonfinite} non-finite S1 pixel(s) in {patches} patch(es), set by "
            + ("nan_to_num + clip")
        )


def _check(args: tuple[Path, PatchId, dict[str, Path], bool]) -> PatchRecord:
    return check_triplet(*args)


def build_index(
    root: str | Path, read_pixels: bool = True, workers: int = defaults.SCAN_WORKERS
) -> Index:
    """Scan ``root`` and validate every triplet (headers only when ``read_pixels`` is False)."""
    scan = scan_tree(root)
    jobs = [(scan.root, pid, scan.files[pid], read_pixels) for pid in sorted(scan.files)]
    if workers > 0:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            records = list(track(pool.map(_check, jobs, chunksize=64), "scan", len(jobs)))
    else:
        records = [_check(job) for job in track(jobs, "scan")]
    mark_odd_sizes(records, scan.root)
    unrecognised = [str(p.relative_to(scan.root)) for p in scan.unrecognised]
    return Index(scan.root, records, unrecognised)


def _row(r: PatchRecord) -> dict[str, object]:
    return {
        "patch_id": str(r.patch_id),
        "season": r.patch_id.season,
        "scene": r.patch_id.scene,
        "patch": r.patch_id.patch,
        **{f"{s}_path": r.paths.get(s, "") for s in SENSORS},
        "crs": r.crs,
        **dict(zip(("left", "bottom", "right", "top"), (repr(v) for v in r.bounds), strict=True)),
        "width": r.width,
        "height": r.height,
        **{f"{s}_dtype": r.dtypes.get(s, "") for s in SENSORS},
        "s1_nonfinite": "" if r.s1_nonfinite is None else r.s1_nonfinite,
        "status": "ok" if r.ok else "bad",
        "kind": r.kind,
        "reason": r.reason,
    }


def write_index_csv(index: Index, path: str | Path) -> None:
    """Write the index atomically (paths relative to the root)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(_row(r) for r in index.records)


def _record(row: dict[str, str]) -> PatchRecord:
    pid = PatchId.parse(row["patch_id"])
    bounds = tuple(float(row[k]) for k in ("left", "bottom", "right", "top"))
    return PatchRecord(
        patch_id=pid,
        paths={s: row[f"{s}_path"] for s in SENSORS},
        crs=row["crs"],
        bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        width=int(row["width"]),
        height=int(row["height"]),
        dtypes={s: row[f"{s}_dtype"] for s in SENSORS},
        s1_nonfinite=int(row["s1_nonfinite"]) if row["s1_nonfinite"] else None,
        reason="" if row["status"] == "ok" else (row["reason"] or "marked bad"),
        kind=row["kind"],
    )


def read_index_csv(path: str | Path, root: str | Path) -> Index:
    """Read an index written by :func:`write_index_csv`; ``root`` resolves its relative paths."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read index ({exc})") from exc
    try:
        reader = csv.DictReader(lines)
        fields, rows = reader.fieldnames or [], list(reader)
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})") from exc
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        raise DataError(path, f"not a sensormoco index: missing column(s) {missing}")
    records = []
    for number, row in enumerate(rows, 2):
        try:
            records.append(_record(row))
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{path}:{number}", f"malformed index row ({exc})") from exc
    return Index(Path(root), records)


def restrict(index: Index, ids: Iterable[PatchId]) -> tuple[Index, list[PatchId]]:
    """The index limited to ``ids``; also returns the ids it does not hold at all."""
    wanted = set(ids)
    records = [r for r in index.records if r.patch_id in wanted]
    absent = sorted(wanted - {r.patch_id for r in records})
    return Index(index.root, records, index.unrecognised), absent


def select(
    root: str | Path,
    ids_file: str | Path | None = None,
    index_csv: str | Path | None = None,
    read_pixels: bool = True,
    workers: int = defaults.SCAN_WORKERS,
) -> tuple[Index, list[PatchId]]:
    """The index of ``root`` (read from ``index_csv`` when given, else scanned), restricted to
    the ids of ``ids_file`` when given; also returns the listed ids absent from the data."""
    index = (
        read_index_csv(index_csv, root)
        if index_csv
        else build_index(root, read_pixels=read_pixels, workers=workers)
    )
    if ids_file is None:
        return index, []
    return restrict(index, read_id_list(ids_file))
