from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.sen12ms.layout import (
    PatchId,
    check_triplet,
    mark_odd_sizes,
    read_id_list,
    scan_tree,
    write_id_list,
)
from sensormoco.errors import DataError


@pytest.mark.parametrize(
    "text",
    [
        "ROIs1158_spring_1_p30",
        "ROIs1158_spring_s2_1_p30.tif",
        "ROIs1158_spring/s2_1/ROIs1158_spring_s2_1_p30.tif",
        "  ROIs1158_spring_lc_1_p30.tif\n",
    ],
)
def test_patch_id_parses_ids_names_and_paths(text: str) -> None:
    pid = PatchId.parse(text)
    assert pid == PatchId("ROIs1158_spring", 1, 30)
    assert str(pid) == "ROIs1158_spring_1_p30"
    assert pid.relpath("s1") == Path("ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p30.tif")
    assert pid.scene_key == "ROIs1158_spring/s1_1"


@pytest.mark.parametrize("text", ["", "S2A_MSIL2A_20170613T101031_87_48", "ROIs1158_spring_1"])
def test_patch_id_rejects_other_names(text: str) -> None:
    with pytest.raises(ValueError, match="not a SEN12MS patch id"):
        PatchId.parse(text)


def test_patch_ids_sort_by_season_then_numbers() -> None:
    ids = [PatchId.parse(t) for t in ("ROIs1970_fall_2_p1", "ROIs1158_spring_10_p2",
                                      "ROIs1158_spring_2_p10", "ROIs1158_spring_2_p9")]  # fmt: skip
    assert [str(p) for p in sorted(ids)] == [
        "ROIs1158_spring_2_p9", "ROIs1158_spring_2_p10", "ROIs1158_spring_10_p2",
        "ROIs1970_fall_2_p1",
    ]  # fmt: skip


def test_id_list_round_trip_and_line_errors(tmp_path: Path) -> None:
    ids = [PatchId("ROIs2017_winter", 3, 7), PatchId("ROIs1158_spring", 1, 2)]
    write_id_list(tmp_path / "ids.txt", ids)
    assert read_id_list(tmp_path / "ids.txt") == ids
    (tmp_path / "bad.txt").write_text("ROIs1158_spring_1_p2\n# comment\nnonsense\n")
    with pytest.raises(DataError, match=r"bad.txt:3: not a SEN12MS patch id"):
        read_id_list(tmp_path / "bad.txt")


def test_scan_refuses_wrong_layout(tmp_path: Path) -> None:
    bigearthnet = tmp_path / "S2A_MSIL2A_20170613T101031_87_48"
    bigearthnet.mkdir()
    (bigearthnet / "S2A_MSIL2A_20170613T101031_87_48_B01.tif").write_bytes(b"x")
    with pytest.raises(DataError, match="no SEN12MS season folders"):
        scan_tree(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        scan_tree(tmp_path / "absent")
    (tmp_path / "ROIs1158_spring").mkdir()
    with pytest.raises(DataError, match="no SEN12MS patch files"):
        scan_tree(tmp_path)


def test_scan_groups_sensors_and_lists_strays(tmp_path: Path, make_triplet) -> None:
    pid = make_triplet(tmp_path)
    stray = tmp_path / "ROIs1158_spring" / "s2_1" / "notes.tif"
    stray.write_bytes(b"")
    misplaced = tmp_path / "ROIs1158_spring" / "s2_9" / "ROIs1158_spring_s2_1_p1.tif"
    misplaced.parent.mkdir()
    misplaced.write_bytes(b"")
    scan = scan_tree(tmp_path)
    assert list(scan.files) == [pid]
    assert set(scan.files[pid]) == {"s1", "s2", "lc"}
    assert sorted(scan.unrecognised) == sorted([stray, misplaced])


def _check(root: Path) -> tuple[str, str]:
    scan = scan_tree(root)
    (pid,) = scan.files
    record = check_triplet(root, pid, scan.files[pid])
    return record.kind, record.reason


def test_good_triplet_is_ok(tmp_path: Path, make_triplet) -> None:
    make_triplet(tmp_path)
    assert _check(tmp_path) == ("", "")


def test_missing_sensor_names_the_file(tmp_path: Path, make_triplet) -> None:
    make_triplet(tmp_path, s1=None)
    kind, reason = _check(tmp_path)
    assert kind == "missing"
    assert "s1_1/ROIs1158_spring_s1_1_p1.tif: missing s1 file" in reason


def test_truncated_geotiff_is_unreadable(tmp_path: Path, make_triplet) -> None:
    pid = make_triplet(tmp_path, size=64)
    path = tmp_path / pid.relpath("s2")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    kind, reason = _check(tmp_path)
    assert kind == "unreadable"
    assert reason.startswith(str(path))


def test_not_a_geotiff_is_unreadable(tmp_path: Path, make_triplet) -> None:
    pid = make_triplet(tmp_path)
    (tmp_path / pid.relpath("lc")).write_text("hello")
    kind, reason = _check(tmp_path)
    assert (kind, "not a readable GeoTIFF" in reason) == ("unreadable", True)


@pytest.mark.parametrize(
    ("sensor", "array", "kind", "message"),
    [
        ("s2", np.zeros((12, 16, 16), np.uint16), "bands", "12 band(s), expected 13"),
        ("s1", np.zeros((1, 16, 16), np.float32), "bands", "1 band(s), expected 2"),
        ("s2", np.zeros((13, 16, 16), np.float32), "dtype", "dtype float32, expected uint16"),
        ("s1", np.zeros((2, 16, 16), np.int16), "dtype", "dtype int16, expected float32"),
        ("lc", np.zeros((4, 16, 16), np.float32), "dtype", "expected an integer type"),
        ("lc", np.ones((4, 8, 8), np.uint8), "size", "size 8x8 differs from its s2"),
        ("s1", np.full((2, 16, 16), np.nan, np.float32), "nan", "every S1 pixel is NaN"),
    ],
)
def test_bad_file_reasons(
    tmp_path: Path, make_triplet, sensor: str, array: np.ndarray, kind: str, message: str
) -> None:
    pid = make_triplet(tmp_path, **{sensor: array})
    got_kind, reason = _check(tmp_path)
    assert got_kind == kind
    assert reason.startswith(str(tmp_path / pid.relpath(sensor)))
    assert message in reason
    assert "\n" not in reason


def test_crs_mismatch(tmp_path: Path, make_triplet) -> None:
    pid = make_triplet(tmp_path, crs="EPSG:32633")
    make_triplet(tmp_path, pid, crs="EPSG:32634", s2=None, lc=None)
    kind, reason = _check(tmp_path)
    assert kind == "crs"
    assert "EPSG:32634 differs" in reason


def test_odd_size_in_tree_is_marked(tmp_path: Path, make_triplet) -> None:
    for p in range(1, 4):
        make_triplet(tmp_path, f"ROIs1158_spring_1_p{p}")
    make_triplet(tmp_path, "ROIs1158_spring_1_p4", size=8)
    scan = scan_tree(tmp_path)
    records = [check_triplet(tmp_path, pid, files) for pid, files in sorted(scan.files.items())]
    assert mark_odd_sizes(records, tmp_path) == (16, 16)
    assert [r.kind for r in records] == ["", "", "", "size"]
    assert "size 8x8, expected 16x16" in records[3].reason
