"""A pack's chunks (data/store/pack.py): the triplets of a chunk read, written to the arrays
of ``STORE.partial`` and committed by writing its record (``chunks/NNNNNN.json``) after its
rows are flushed; the committed records are what an interrupted pack resumes after.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensormoco.atomic import atomic_write_text
from sensormoco.data.geotiff import read_raster
from sensormoco.data.sen12ms.labels import N_IGBP, igbp_fractions
from sensormoco.data.sen12ms.layout import BAND_COUNTS, PatchRecord, expected_dtype_ok
from sensormoco.data.store.arrays import ArraySpec, pwrite_all
from sensormoco.data.store.checksums import ChunkSums
from sensormoco.errors import DataError

# arrays by name, S1 non-finite pixel count, lc layer 1 pixels without an IGBP code
Triplet = tuple[dict[str, np.ndarray], int, int]
Footprint = tuple[str, float, float, float, float]  # crs, left, bottom, right, top


@dataclass(frozen=True)
class Partial:
    """A store being built: the tree it reads, its folder, arrays and open descriptors."""

    root: Path
    path: Path
    specs: dict[str, ArraySpec]
    fds: dict[str, int]
    pool: Executor | None


@dataclass(frozen=True)
class ChunkRecord:
    """A committed chunk: its rows (from ``first_row`` on) with their ids, footprints and
    counts, the triplets it skipped and the sha256 of each array's block of rows."""

    chunk: int
    first_row: int
    ids: list[str]
    footprints: list[Footprint]
    s1_nonfinite: list[int]  # per row: the S1 pixels that are NaN or Inf
    igbp_invalid: list[int]  # per row: lc layer 1's pixels without an IGBP code
    labels_missing: int  # rows whose lc layer 1 has no valid IGBP code at all
    skipped: list[list[str]]  # [patch id, kind, one-line reason] per triplet left out
    sha256: dict[str, str]  # array name -> hex digest of the chunk's rows

    @property
    def rows(self) -> int:
        return len(self.ids)

    @property
    def sums(self) -> ChunkSums:
        return ChunkSums(self.chunk, self.first_row, self.rows, self.sha256)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChunkRecord:
        data = json.loads(text)
        data["footprints"] = [
            (str(crs), float(left), float(bottom), float(right), float(top))
            for crs, left, bottom, right, top in data["footprints"]
        ]
        return cls(**data)


def chunk_file(partial: Path, number: int) -> Path:
    return partial / "chunks" / f"{number:06d}.json"


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
        arrays["igbp"], invalid = np.full(N_IGBP, np.nan), arrays["lc"][0].size  # 17
    return arrays, nonfinite, invalid


def _read_job(job: tuple[Path, PatchRecord, tuple[int, ...]]) -> Triplet | DataError:
    return read_triplet(*job)


def write_chunk(
    partial: Partial, number: int, records: Sequence[PatchRecord], first_row: int
) -> ChunkRecord:
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
        pwrite_all(fd, block.data, spec.row_offset(first_row))
        os.fsync(fd)
        sums[name] = hashlib.sha256(block.data).hexdigest()
    chunk = ChunkRecord(
        chunk=number,
        first_row=first_row,
        ids=[str(r.patch_id) for r, _ in good],
        footprints=[(r.crs, *r.bounds) for r, _ in good],
        s1_nonfinite=[res[1] for _, res in good],
        igbp_invalid=[res[2] for _, res in good],
        labels_missing=sum(bool(np.isnan(res[0]["igbp"][0])) for _, res in good),
        skipped=[
            [str(r.patch_id), res.kind, str(res)]
            for r, res in zip(records, results, strict=True)
            if isinstance(res, DataError)
        ],
        sha256=sums,
    )
    atomic_write_text(chunk_file(partial.path, number), chunk.to_json())
    return chunk


def committed_chunks(partial: Path) -> list[ChunkRecord]:
    """Records of the chunks committed so far, in order (a gap ends them)."""
    done: list[ChunkRecord] = []
    for path in sorted((partial / "chunks").glob("*.json")):
        if path.name != chunk_file(partial, len(done)).name:
            break
        done.append(ChunkRecord.from_json(path.read_text("utf-8")))
    return done
