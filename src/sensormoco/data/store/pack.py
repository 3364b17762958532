"""Packing a SEN12MS tree (or a subset) into a store (data/store/format.py): restartable and atomic.

The store is built in ``STORE.partial``: the arrays are created at their planned size, then
filled chunk by chunk in patch-id order. A chunk is committed by writing its record
(``chunks/NNNNNN.json``: ids, footprints, skipped triplets, sha256 per array) after its rows
are written and flushed; an interrupted pack run again with the same inputs resumes after the
last committed chunk. At the end the arrays are cut to the rows actually written (triplets
that fail when read are skipped and counted, never silently), the small files and the
manifest are written, and ``STORE.partial`` is renamed to ``STORE``: a store is complete or
absent.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sensormoco import __version__, defaults
from sensormoco.atomic import atomic_write_text
from sensormoco.data.sen12ms.index import select
from sensormoco.data.store import chunks as chunking
from sensormoco.data.store import format as layout
from sensormoco.data.store.arrays import npy_header, pwrite_all
from sensormoco.data.store.checksums import checksums_csv
from sensormoco.data.store.chunks import ChunkRecord, Partial, committed_chunks
from sensormoco.errors import DataError
from sensormoco.progress import track

S1_NOTE = (
    "float32 dB exactly as in the GeoTIFFs (lossless, NaN kept); readers apply SEN12MS's "
    "nan_to_num + clip to [-25, 0] dB as the tree reader does"
)


@dataclass(frozen=True)
class PackPlan:
    """What a pack is of (``plan.json``): a resumed pack must have the same plan."""

    version: int
    root: str
    size: list[int]  # height, width
    rows_per_chunk: int
    ids_sha256: str  # of the planned ids, in order


@dataclass(frozen=True)
class PackSummary:
    """What a pack wrote and left out."""

    path: Path
    rows: int
    skipped: dict[str, int]  # kind -> bad triplets left out (found by the index or when read)
    absent: int  # listed ids not in the data
    chunks: int
    resumed: int  # chunks already committed by an interrupted run
    nbytes: int
    seconds: float
    first_problem: str  # one line, "" when nothing was skipped


def _check_out(out: Path) -> None:
    if layout.is_store(out):
        raise DataError(out, "is already a packed store; remove it or choose another output")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(out, "exists and is not an empty folder")


@contextmanager
def _open_partial(
    root: Path, out: Path, plan: PackPlan, rows: int, workers: int
) -> Iterator[Partial]:
    """Create or resume ``STORE.partial`` for ``plan`` (locked while in use)."""
    path = layout.partial_path(out)
    (path / "chunks").mkdir(parents=True, exist_ok=True)
    lock = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    specs = layout.array_specs(*plan.size)
    fds: dict[str, int] = {}
    pool = ProcessPoolExecutor(workers) if workers > 0 else None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataError(path, "another `sensormoco pack` is writing it", "busy") from exc
        plan_file = path / "plan.json"
        if plan_file.is_file() and json.loads(plan_file.read_text("utf-8")) != asdict(plan):
            raise DataError(
                path,
                "an interrupted pack of other inputs (root, ids, index or "
                "chunk size); delete it to start over",
            )
        atomic_write_text(plan_file, json.dumps(asdict(plan), indent=1))
        for name, spec in specs.items():
            fds[name] = os.open(path / spec.file, os.O_RDWR | os.O_CREAT, 0o644)
            if os.fstat(fds[name]).st_size == 0:
                pwrite_all(fds[name], npy_header(spec, rows), 0)
                os.ftruncate(fds[name], spec.row_offset(rows))
        yield Partial(root, path, specs, fds, pool)
    finally:
        if pool is not None:
            pool.shutdown()
        for fd in fds.values():
            os.close(fd)
        os.close(lock)


def _csv_text(header: Sequence[str], rows: Iterator[Sequence[object]] | list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _finish(
    partial: Partial,
    chunks: list[ChunkRecord],
    skipped: list[list[str]],
    source: dict[str, Any],
) -> None:
    """Cut the arrays to the rows written; write the small files, then the manifest."""
    rows, specs = sum(c.rows for c in chunks), partial.specs
    for name, spec in specs.items():
        os.ftruncate(partial.fds[name], spec.row_offset(rows))
        pwrite_all(partial.fds[name], npy_header(spec, rows), 0)
        os.fsync(partial.fds[name])
    texts = {
        layout.IDS: "".join(f"{pid}\n" for c in chunks for pid in c.ids),
        layout.FOOTPRINTS: _csv_text(
            ("patch_id", "crs", "left", "bottom", "right", "top"),
            (
                (pid, fp[0], *map(repr, fp[1:]))
                for c in chunks
                for pid, fp in zip(c.ids, c.footprints, strict=True)
            ),
        ),
        layout.ROWS: _csv_text(
            ("patch_id", "s1_nonfinite", "igbp_invalid"),
            (
                row
                for c in chunks
                for row in zip(c.ids, c.s1_nonfinite, c.igbp_invalid, strict=True)
            ),
        ),
        layout.SKIPPED: _csv_text(("patch_id", "kind", "reason"), skipped),
        layout.CHECKSUMS: checksums_csv((c.sums for c in chunks if c.ids), list(specs)),
    }
    for name, text in texts.items():
        (partial.path / name).write_text(text, encoding="utf-8")
    nonfinite = [n for c in chunks for n in c.s1_nonfinite]
    manifest = dict(
        format=layout.FORMAT,
        version=layout.FORMAT_VERSION,
        sensormoco=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        source={k: v and str(v) for k, v in source.items()},
        count=rows,
        height=specs["s1"].row_shape[1],
        width=specs["s1"].row_shape[2],
        s1=S1_NOTE,
        checksum=f"sha256 of each array's bytes per chunk of rows, in {layout.CHECKSUMS}",
        arrays={n: spec.describe(rows) for n, spec in specs.items()},
        skipped=dict(sorted(Counter(row[1] for row in skipped).items())),
        s1_nonfinite={"pixels": sum(nonfinite), "patches": sum(map(bool, nonfinite))},
        labels_missing=sum(c.labels_missing for c in chunks),
        chunks=len(chunks),
        sha256={n: layout.sha256_file(partial.path / n) for n in layout.SMALL_FILES},
    )
    text = json.dumps(manifest, indent=1) + "\n"
    (partial.path / layout.MANIFEST).write_text(text, encoding="utf-8")


def pack_sen12ms(
    root: str | Path,
    out: str | Path,
    ids_file: str | Path | None = None,
    index_csv: str | Path | None = None,
    workers: int = defaults.SCAN_WORKERS,
    chunk_rows: int | None = None,
) -> PackSummary:
    """Pack the usable triplets of ``root`` (those of ``ids_file``; validated by ``index_csv``
    when given, else by a header scan) into the store ``out``; ``workers`` processes read."""
    start, out = time.perf_counter(), Path(out)
    _check_out(out)
    index, absent = select(root, ids_file, index_csv, read_pixels=False, workers=workers)
    planned = sorted(index.usable, key=lambda r: r.patch_id)
    if not planned:
        raise DataError(root, "no usable SEN12MS patches to pack")
    size = [planned[0].height, planned[0].width]
    row_bytes = sum(s.row_bytes for s in layout.array_specs(*size).values())
    per_chunk = chunk_rows or max(1, defaults.PACK_CHUNK_MIB * 2**20 // row_bytes)
    chunks = [planned[i : i + per_chunk] for i in range(0, len(planned), per_chunk)]
    ids_text = " ".join(str(r.patch_id) for r in planned)
    ids_sha256 = hashlib.sha256(ids_text.encode()).hexdigest()
    plan = PackPlan(layout.FORMAT_VERSION, str(index.root.resolve()), size, per_chunk, ids_sha256)
    with _open_partial(index.root, out, plan, len(planned), workers) as partial:
        done = committed_chunks(partial.path)
        resumed, row = len(done), sum(c.rows for c in done)
        for number in track(range(resumed, len(chunks)), "pack", unit="chunks"):
            done.append(chunking.write_chunk(partial, number, chunks[number], row))
            row += done[-1].rows
        if row == 0:
            raise DataError(
                root,
                f"none of {len(planned)} triplet(s) could be read; see {partial.path / 'chunks'}",
            )
        skipped = [[str(r.patch_id), r.kind, r.reason] for r in index.bad]
        skipped += [[str(p), "absent", f"{ids_file}: listed id not in the data"] for p in absent]
        skipped += [s for c in done for s in c.skipped]
        source = {"dataset": "sen12ms", "root": plan.root}
        _finish(partial, done, skipped, {**source, "ids_file": ids_file, "index_csv": index_csv})
    shutil.rmtree(partial.path / "chunks")
    for name in ("plan.json", ".lock"):
        (partial.path / name).unlink()
    _check_out(out)
    if out.is_dir():
        out.rmdir()
    os.replace(partial.path, out)
    bad = [s for s in skipped if s[1] != "absent"]
    return PackSummary(
        out,
        row,
        dict(Counter(s[1] for s in bad)),
        len(absent),
        len(chunks),
        resumed,
        sum(f.stat().st_size for f in out.iterdir()),
        time.perf_counter() - start,
        bad[0][2] if bad else "",
    )
