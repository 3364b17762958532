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
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sensormoco import __version__, defaults
from sensormoco.atomic import atomic_write_text
from sensormoco.data.geotiff import read_raster
from sensormoco.data.sen12ms.index import select
from sensormoco.data.sen12ms.labels import igbp_fractions
from sensormoco.data.sen12ms.layout import BAND_COUNTS, PatchRecord, expected_dtype_ok
from sensormoco.data.store import format as layout
from sensormoco.errors import DataError
from sensormoco.progress import track

S1_NOTE = (
    "float32 dB exactly as in the GeoTIFFs (lossless, NaN kept); readers apply SEN12MS's "
    "nan_to_num + clip to [-25, 0] dB as the tree reader does"
)
# arrays by name, S1 non-finite pixel count, lc layer 1 pixels without an IGBP code
Triplet = tuple[dict[str, np.ndarray], int, int]


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


@dataclass(frozen=True)
class Partial:
    """A store being built: the tree it reads, its folder, arrays and open descriptors."""

    root: Path
    path: Path
    specs: dict[str, layout.ArraySpec]
    fds: dict[str, int]
    pool: Executor | None


def read_triplet(root: Path, record: PatchRecord, size: tuple[int, ...]) -> Triplet | DataError:
    """A triplet's arrays as stored, or the DataError (returned: one bad file never stops a
    pack). lc must fit uint16; IGBP fractions are NaN when layer 1 has no valid code."""
    arrays = {}
    try:
        for sensor in ("s1", "s2", "lc"):
            path = root / record.paths[sensor]
            data, info = read_raster(path)  # C x H x W
            if not expected_dtype_ok(sensor, info.dtype):
                raise DataError(path, f"dtype {info.dtype} is not the {sensor} dtype", "dtype")
            if data.shape != (BAND_COUNTS[sensor], *size):
                raise DataError(path, f"shape {data.shape}, expected {size} px", "size")
            if sensor == "lc" and (data.min() < 0 or data.max() > np.iinfo(np.uint16).max):
                raise DataError(path, "lc codes outside 0-65535", "dtype")
            arrays[sensor] = data
        nonfinite = int(np.count_nonzero(~np.isfinite(arrays["s1"])))
        if nonfinite == arrays["s1"].size:
            raise DataError(root / record.paths["s1"], "every S1 pixel is NaN or Inf", "nan")
    except DataError as exc:
        return exc
    try:
        arrays["igbp"], invalid = igbp_fractions(arrays["lc"][0])  # 17
    except ValueError:
        arrays["igbp"], invalid = np.full(layout.N_IGBP, np.nan), arrays["lc"][0].size  # 17
    return arrays, nonfinite, invalid


def _read_job(job: tuple[Path, PatchRecord, tuple[int, ...]]) -> Triplet | DataError:
    return read_triplet(*job)


def _pwrite(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def write_chunk(
    partial: Partial, number: int, records: Sequence[PatchRecord], first_row: int
) -> dict[str, Any]:
    """Read, write and commit chunk ``number``, its rows from ``first_row`` on; return its
    record (committed: the rows are flushed before the record is written)."""
    size = partial.specs["s1"].row_shape[1:]
    jobs = [(partial.root, r, size) for r in records]
    results = list(partial.pool.map(_read_job, jobs) if partial.pool else map(_read_job, jobs))
    good = [(r, res) for r, res in zip(records, results, strict=True) if isinstance(res, tuple)]
    sums = {}
    for name, spec in partial.specs.items():
        rows = [res[0][name] for _, res in good]
        block = np.ascontiguousarray(np.stack(rows) if rows else [], spec.dtype)  # n x row
        fd = partial.fds[name]
        _pwrite(fd, block.data, layout.NPY_HEADER_BYTES + first_row * spec.row_bytes)
        os.fsync(fd)
        sums[name] = hashlib.sha256(block.data).hexdigest()
    chunk = {
        "chunk": number,
        "first_row": first_row,
        "ids": [str(r.patch_id) for r, _ in good],
        "footprints": [[r.crs, *r.bounds] for r, _ in good],
        "s1_nonfinite": [res[1] for _, res in good],
        "igbp_invalid": [res[2] for _, res in good],
        "labels_missing": sum(bool(np.isnan(res[0]["igbp"][0])) for _, res in good),
        "skipped": [
            [str(r.patch_id), res.kind, str(res)]
            for r, res in zip(records, results, strict=True)
            if isinstance(res, DataError)
        ],
        "sha256": sums,
    }
    atomic_write_text(partial.path / "chunks" / f"{number:06d}.json", json.dumps(chunk))
    return chunk


def _check_out(out: Path) -> None:
    if layout.is_store(out):
        raise DataError(out, "is already a packed store; remove it or choose another output")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(out, "exists and is not an empty folder")


@contextmanager
def _open_partial(
    root: Path, out: Path, plan: dict[str, Any], rows: int, workers: int
) -> Iterator[Partial]:
    """Create or resume ``STORE.partial`` for ``plan`` (locked while in use)."""
    path = layout.partial_path(out)
    (path / "chunks").mkdir(parents=True, exist_ok=True)
    lock = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    specs = layout.array_specs(*plan["size"])
    fds: dict[str, int] = {}
    pool = ProcessPoolExecutor(workers) if workers > 0 else None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataError(path, "another `sensormoco pack` is writing it", "busy") from exc
        plan_file = path / "plan.json"
        if plan_file.is_file() and json.loads(plan_file.read_text("utf-8")) != plan:
            raise DataError(
                path,
                "an interrupted pack of other inputs (root, ids, index or "
                "chunk size); delete it to start over",
            )
        atomic_write_text(plan_file, json.dumps(plan, indent=1))
        for name, spec in specs.items():
            fds[name] = os.open(path / spec.file, os.O_RDWR | os.O_CREAT, 0o644)
            if os.fstat(fds[name]).st_size == 0:
                _pwrite(fds[name], layout.npy_header(spec, rows), 0)
                os.ftruncate(fds[name], layout.NPY_HEADER_BYTES + rows * spec.row_bytes)
        yield Partial(root, path, specs, fds, pool)
    finally:
        if pool is not None:
            pool.shutdown()
        for fd in fds.values():
            os.close(fd)
        os.close(lock)


def _committed(partial: Path) -> list[dict[str, Any]]:
    """Records of the chunks committed so far, in order (a gap ends them)."""
    done: list[dict[str, Any]] = []
    for path in sorted((partial / "chunks").glob("*.json")):
        if path.name != f"{len(done):06d}.json":
            break
        done.append(json.loads(path.read_text("utf-8")))
    return done


def _csv_text(header: Sequence[str], rows: Iterator[Sequence[object]] | list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _finish(
    partial: Partial,
    chunks: list[dict[str, Any]],
    skipped: list[list[str]],
    source: dict[str, Any],
) -> None:
    """Cut the arrays to the rows written; write the small files, then the manifest."""
    rows, specs = sum(len(c["ids"]) for c in chunks), partial.specs
    for name, spec in specs.items():
        os.ftruncate(partial.fds[name], layout.NPY_HEADER_BYTES + rows * spec.row_bytes)
        _pwrite(partial.fds[name], layout.npy_header(spec, rows), 0)
        os.fsync(partial.fds[name])
    texts = {
        layout.IDS: "".join(f"{pid}\n" for c in chunks for pid in c["ids"]),
        layout.FOOTPRINTS: _csv_text(
            ("patch_id", "crs", "left", "bottom", "right", "top"),
            (
                (pid, fp[0], *map(repr, fp[1:]))
                for c in chunks
                for pid, fp in zip(c["ids"], c["footprints"], strict=True)
            ),
        ),
        layout.ROWS: _csv_text(
            ("patch_id", "s1_nonfinite", "igbp_invalid"),
            (
                row
                for c in chunks
                for row in zip(c["ids"], c["s1_nonfinite"], c["igbp_invalid"], strict=True)
            ),
        ),
        layout.SKIPPED: _csv_text(("patch_id", "kind", "reason"), skipped),
        layout.CHECKSUMS: _csv_text(
            ("chunk", "first_row", "rows", *specs),
            (
                (c["chunk"], c["first_row"], len(c["ids"]), *(c["sha256"][n] for n in specs))
                for c in chunks
                if c["ids"]
            ),
        ),
    }
    for name, text in texts.items():
        (partial.path / name).write_text(text, encoding="utf-8")
    nonfinite = [n for c in chunks for n in c["s1_nonfinite"]]
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
        labels_missing=sum(c["labels_missing"] for c in chunks),
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
    plan = {
        "version": layout.FORMAT_VERSION,
        "root": str(index.root.resolve()),
        "size": size,
        "rows_per_chunk": per_chunk,
        "ids_sha256": hashlib.sha256(ids_text.encode()).hexdigest(),
    }
    with _open_partial(index.root, out, plan, len(planned), workers) as partial:
        done = _committed(partial.path)
        resumed, row = len(done), sum(len(c["ids"]) for c in done)
        for number in track(range(resumed, len(chunks)), "pack", unit="chunks"):
            done.append(write_chunk(partial, number, chunks[number], row))
            row += len(done[-1]["ids"])
        if row == 0:
            raise DataError(
                root,
                f"none of {len(planned)} triplet(s) could be read; see {partial.path / 'chunks'}",
            )
        skipped = [[str(r.patch_id), r.kind, r.reason] for r in index.bad]
        skipped += [[str(p), "absent", f"{ids_file}: listed id not in the data"] for p in absent]
        skipped += [s for c in done for s in c["skipped"]]
        source = {"dataset": "sen12ms", "root": plan["root"]}
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
