"""A pack's chunk records: committed as JSON, read back alike, a gap ends them."""

from __future__ import annotations

import json
from pathlib import Path

from sensormoco.atomic import atomic_write_text
from sensormoco.data.store.checksums import ChunkSums
from sensormoco.data.store.chunks import ChunkRecord, chunk_file, committed_chunks


def _record(number: int, first_row: int) -> ChunkRecord:
    return ChunkRecord(
        chunk=number,
        first_row=first_row,
        ids=["ROIs1158_spring_1_p1", "ROIs1158_spring_1_p2"],
        footprints=[("EPSG:32633", 0.0, 1.0, 2.0, 3.5), ("EPSG:32633", 2.0, 1.0, 4.0, 3.5)],
        s1_nonfinite=[0, 3],
        igbp_invalid=[1, 0],
        labels_missing=0,
        skipped=[["ROIs1158_spring_1_p3", "nan", "s1.tif: every S1 pixel is NaN or Inf"]],
        sha256={"s1": "ab", "s2": "cd"},
    )


def test_records_round_trip_and_keep_the_json_keys(tmp_path: Path) -> None:
    record = _record(0, 0)
    assert ChunkRecord.from_json(record.to_json()) == record
    assert list(json.loads(record.to_json())) == [
        "chunk",
        "first_row",
        "ids",
        "footprints",
        "s1_nonfinite",
        "igbp_invalid",
        "labels_missing",
        "skipped",
        "sha256",
    ]
    assert record.rows == 2
    assert record.sums == ChunkSums(0, 0, 2, {"s1": "ab", "s2": "cd"})


def test_committed_chunks_stop_at_a_gap(tmp_path: Path) -> None:
    (tmp_path / "chunks").mkdir()
    for number in (0, 1, 3):
        atomic_write_text(chunk_file(tmp_path, number), _record(number, 2 * number).to_json())
    assert chunk_file(tmp_path, 3).name == "000003.json"
    done = committed_chunks(tmp_path)
    assert [c.chunk for c in done] == [0, 1]
    assert done[1] == _record(1, 2)
