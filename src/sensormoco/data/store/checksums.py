"""The store's checksums: the sha256 of every array's bytes per chunk of rows
(``checksums.csv``, written by the pack, checked by ``Store.verify``), and of whole files."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sensormoco.data.store.arrays import ArraySpec
from sensormoco.errors import DataError

_BLOCK = 1 << 24  # bytes hashed at a time


@dataclass(frozen=True)
class ChunkSums:
    """One row of ``checksums.csv``: a chunk's rows and the sha256 of each array's bytes."""

    chunk: int
    first_row: int
    rows: int
    sha256: dict[str, str]  # array name -> hex digest


def checksums_csv(chunks: Iterable[ChunkSums], names: Sequence[str]) -> str:
    """The text of ``checksums.csv`` with the digests of arrays ``names`` (in that order)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("chunk", "first_row", "rows", *names))
    writer.writerows((c.chunk, c.first_row, c.rows, *(c.sha256[n] for n in names)) for c in chunks)
    return buffer.getvalue()


def parse_checksums(path: Path, rows: Iterable[Mapping[str, str]]) -> list[ChunkSums]:
    """The records of the rows of ``checksums.csv`` (read as dicts), or a DataError naming it."""
    out = []
    try:
        for row in rows:
            sums = {k: v for k, v in row.items() if k not in ("chunk", "first_row", "rows")}
            out.append(ChunkSums(int(row["chunk"]), int(row["first_row"]), int(row["rows"]), sums))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(path, f"malformed row ({exc})") from exc
    return out


def hash_rows(fd: int, spec: ArraySpec, first: int, rows: int) -> str:
    """sha256 of rows ``first`` .. ``first + rows - 1`` of the array ``spec`` open as ``fd``."""
    digest = hashlib.sha256()
    offset, end = spec.row_offset(first), rows * spec.row_bytes
    for start in range(0, end, _BLOCK):
        digest.update(os.pread(fd, min(_BLOCK, end - start), offset + start))
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
