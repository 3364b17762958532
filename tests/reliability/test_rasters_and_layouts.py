"""The bad-input sweep, rasters and layouts: every bad GeoTIFF, triplet or folder goes through
the real command line and is skipped, named and counted (batch commands) or ends in a one-line
error naming the input (exit code 2). See docs/reliability.md."""

from __future__ import annotations

import csv
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from sensormoco.cli.main import main
from sensormoco.data.bands import S1_BANDS
from sensormoco.data.bigearthnet.v1 import read_s2, read_split_csv, scan_pairs
from sensormoco.data.geotiff import write_raster
from sensormoco.data.sen12ms.layout import PatchId, read_s1
from sensormoco.errors import DataError
from tests.reliability.common import (
    BAD,
    EVAL_FAST,
    GOOD,
    TRANSFORM,
    Capsys,
    make_tree,
    one_error,
    run_cli,
)

# --- index: one bad triplet among good ones is skipped, named and counted -------------------


def _corrupt(root: Path) -> None:
    (root / BAD.relpath("s2")).write_bytes(np.random.default_rng(0).bytes(4096))


def _empty_file(root: Path) -> None:
    (root / BAD.relpath("lc")).write_bytes(b"")


def _truncated(root: Path) -> None:
    path = root / BAD.relpath("s2")
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])


def _truncated_header(root: Path) -> None:
    path = root / BAD.relpath("s1")
    path.write_bytes(path.read_bytes()[:8])


def _other_crs(root: Path) -> None:
    lc = np.ones((4, 16, 16), np.uint8)
    write_raster(root / BAD.relpath("lc"), lc, "EPSG:32632", TRANSFORM)


def _shifted(root: Path) -> None:
    s1 = np.full((2, 16, 16), -10.0, np.float32)
    shifted = Affine(10, 0, 500030.0, 0, -10, 5000000.0)  # 3 pixels east
    write_raster(root / BAD.relpath("s1"), s1, "EPSG:32633", shifted)


def _wrong_folder(root: Path) -> None:
    path = root / BAD.relpath("s2")
    path.rename(root / BAD.relpath("s1").parent / path.name)


NAN_INF = np.full((2, 16, 16), np.nan, np.float32)
NAN_INF[0, 0] = np.inf
NAN_INF[1, 0] = -np.inf

# case -> (arrays of BAD, change made after writing, file named, kind, problem)
INDEX_CASES: dict[str, tuple[dict[str, np.ndarray | None], Callable[[Path], None] | None, str,
                             str, str]] = {
    "corrupt GeoTIFF (random bytes)": ({}, _corrupt, "s2", "unreadable", "not a readable GeoTIFF"),
    "empty file": ({}, _empty_file, "lc", "unreadable", "not a readable GeoTIFF"),
    "truncated GeoTIFF (60 %)": ({}, _truncated, "s2", "unreadable",
                                 "unreadable pixel data, truncated?"),
    "truncated GeoTIFF (8 bytes)": ({}, _truncated_header, "s1", "unreadable",
                                    "not a readable GeoTIFF"),
    "wrong dtype (S2 float32)": ({"s2": np.zeros((13, 16, 16), np.float32)}, None, "s2",
                                 "dtype", "dtype float32, expected uint16"),
    "wrong dtype (S1 int16)": ({"s1": np.zeros((2, 16, 16), np.int16)}, None, "s1", "dtype",
                               "dtype int16, expected float32"),
    "wrong dtype (lc float32)": ({"lc": np.ones((4, 16, 16), np.float32)}, None, "lc", "dtype",
                                 "dtype float32, expected an integer type"),
    "wrong band count (S1 3)": ({"s1": np.zeros((3, 16, 16), np.float32)}, None, "s1", "bands",
                                "3 band(s), expected 2 for s1"),
    "wrong band count (S2 12)": ({"s2": np.zeros((12, 16, 16), np.uint16)}, None, "s2", "bands",
                                 "12 band(s), expected 13 for s2"),
    "wrong size (lc 8 px)": ({"lc": np.ones((4, 8, 8), np.uint8)}, None, "lc", "size",
                             "size 8x8 differs from its s2 patch (16x16)"),
    "missing sensor (no S1)": ({"s1": None}, None, "s1", "missing",
                               f"missing s1 file of patch {BAD}"),
    "missing sensor (no lc)": ({"lc": None}, None, "lc", "missing",
                               f"missing lc file of patch {BAD}"),
    "S1 all NaN / Inf": ({"s1": NAN_INF}, None, "s1", "nan", "every S1 pixel is NaN or Inf"),
    "CRS differs": ({}, _other_crs, "lc", "crs", "CRS EPSG:32632 differs from its s2"),
    "bounds shifted": ({}, _shifted, "s1", "bounds", "bounds (500030.0, 4999840.0, "),
    "S2 in the S1 folder": ({}, _wrong_folder, "s2", "missing", f"missing s2 file of patch {BAD}"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INDEX_CASES))
def test_index_skips_names_and_counts_a_bad_triplet(
    case: str, tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    arrays, change, sensor, kind, problem = INDEX_CASES[case]
    root = make_tree(tmp_path / "tree", make_triplet, **arrays)
    if change is not None:
        change(root)
    out_csv = tmp_path / "index.csv"
    code, out, err = run_cli(["index", "sen12ms", str(root), "-o", str(out_csv)], capsys)
    assert code == 0  # the good triplets are usable
    bad = [line for line in err if line.startswith("bad: ")]
    assert len(bad) == 1
    assert bad[0].startswith(f"bad: {root / BAD.relpath(sensor)}: {problem}"), bad[0]
    assert "3 patch ids: 2 usable, 1 bad" in out
    assert f"({kind}: 1)" in out
    rows = {r["patch_id"]: r for r in csv.DictReader(out_csv.read_text().splitlines())}
    assert (rows[str(BAD)]["status"], rows[str(BAD)]["kind"]) == ("bad", kind)
    assert all(rows[p]["status"] == "ok" for p in GOOD)
    if case == "S2 in the S1 folder":  # the misplaced file is listed, not dropped
        assert f"unrecognised: {root / BAD.relpath('s1').parent / BAD.filename('s2')}" in err[-1]
        assert "; 1 unrecognised file(s)" in out
    else:
        assert len(err) == 1, err


def test_index_in_worker_processes_reports_the_same(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = make_tree(tmp_path / "tree", make_triplet, s1=NAN_INF)
    _corrupt(root)  # the s2 is read first: the triplet is unreadable
    code, out, err = run_cli(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv"),
                           "--workers", "2"], capsys)  # fmt: skip
    assert code == 0
    assert err == [f"bad: {root / BAD.relpath('s2')}: " + err[0].split(": ", 2)[2]]
    assert "not a readable GeoTIFF" in err[0]
    assert "3 patch ids: 2 usable, 1 bad (unreadable: 1)" in out


def test_odd_sized_triplet_is_flagged_against_the_tree(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = tmp_path / "tree"
    make_tree(root, make_triplet)
    make_triplet(root, "ROIs1158_spring_1_p4", size=32)
    code, out, err = run_cli(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv")], capsys)
    assert code == 0
    pid = PatchId.parse("ROIs1158_spring_1_p4")
    assert err == [f"bad: {root / pid.relpath('s2')}: size 32x32, expected 16x16 like the rest "
                   "of the tree"]  # fmt: skip
    assert "4 patch ids: 3 usable, 1 bad (size: 1)" in out


def test_s1_nan_and_inf_are_repaired_as_sen12ms_does(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    s1 = np.full((2, 16, 16), -10.0, np.float32)
    s1[0, 0, :3] = (np.nan, np.inf, -np.inf)
    s1[1, 5, 5] = 40.0  # above the clip
    root = make_tree(tmp_path / "tree", make_triplet, s1=s1)
    code, out, err = run_cli(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv")], capsys)
    assert (code, err) == (0, [])
    assert "3 patch ids: 3 usable, 0 bad" in out
    assert "3 non-finite S1 pixel(s) in 1 patch(es), set by nan_to_num + clip" in out
    repaired, nonfinite = read_s1(root / BAD.relpath("s1"), S1_BANDS)
    assert nonfinite == 3
    assert np.isfinite(repaired).all()
    assert repaired[0, 0, :3].tolist() == [0.0, 0.0, -25.0]  # NaN -> 0, +Inf -> 0, -Inf -> -25
    assert repaired[1, 5, 5] == 0.0  # clipped to [-25, 0] dB


def test_index_with_nothing_usable_exits_1(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    make_triplet(tmp_path / "tree", BAD)
    _corrupt(tmp_path / "tree")
    code, out, err = run_cli(["index", "sen12ms", str(tmp_path / "tree"), "-o",
                           str(tmp_path / "i.csv")], capsys)  # fmt: skip
    assert code == 1
    assert len(err) == 1
    assert "1 patch ids: 0 usable, 1 bad (unreadable: 1)" in out


def test_labels_skips_an_lc_without_valid_codes(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = make_tree(tmp_path / "tree", make_triplet, lc=np.zeros((4, 16, 16), np.uint16))
    out_csv = tmp_path / "labels.csv"
    code, out, err = run_cli(["labels", "sen12ms", str(root), "-o", str(out_csv)], capsys)
    assert code == 0
    assert err == [
        f"bad: {root / BAD.relpath('lc')}: no pixel has a valid IGBP code (1-17) in layer 1",
        "skipped 1 patch(es) whose lc could not be read",
    ]
    assert "labelled 2 patch(es)" in out
    assert len(out_csv.read_text().splitlines()) == 3  # header + the two good patches


def test_pretrain_skips_bad_headers_and_stops_on_unreadable_pixels(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    """Pre-training validates headers only (a pixel scan of SEN12MS takes half an hour):
    header-bad triplets are skipped and counted; pixel data that turns out unreadable stops
    the run with a one-line error naming the file (training/datamodule.py)."""
    root = tmp_path / "tree"
    for p in range(1, 17):  # 16 usable patches: two full batches of 8, every one read
        make_triplet(root, f"ROIs1158_spring_1_p{p}", size=32, seed=p)
    make_triplet(root, "ROIs1158_spring_1_p17", size=32, s1=None)  # skipped and counted
    victim = root / PatchId.parse("ROIs1158_spring_1_p5").relpath("s2")
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size * 6 // 10])
    code, _, err = run_cli(["pretrain", "--data", str(root), "--out", str(tmp_path / "run"),
                         "--config", "cpu-small", "--mode", "sensor-pairs", "--crop-size", "32",
                         "--batch-size", "8", "--queue-size", "16", "--loader-workers", "0",
                         "--max-steps", "2", "--log-every", "1"], capsys)  # fmt: skip
    assert code == 2
    assert (
        "pre-training on 16 patches; left out 0 test-scene patch(es), 1 bad triplet(s), "
        "0 subset id(s) not in the data" in err
    )
    errors = [line for line in err if line.startswith("sensormoco pretrain: error: ")]
    assert errors == [f"sensormoco pretrain: error: {victim}: unreadable pixel data, truncated? "
                      + errors[0].split("truncated? ", 1)[-1]]  # fmt: skip
    assert not (tmp_path / "run" / "summary.json").exists()


# --- not a SEN12MS tree at all --------------------------------------------------------------


@pytest.fixture
def bigearthnet(ben: tuple[Path, Path]) -> Path:
    """The folder holding the real BigEarthNet S1 and S2 example roots (conftest's ``ben``)."""
    return ben[0].parent


NOT_SEN12MS = "no SEN12MS season folders"


@pytest.mark.parametrize("command", ["index", "labels", "subset", "split", "stats"])
@pytest.mark.parametrize("folder", ["BigEarthNet-S2-Example", "BigEarthNet-S1-Example", "."])
def test_bigearthnet_given_as_sen12ms_is_one_line(
    bigearthnet: Path, tmp_path: Path, capsys: Capsys, command: str, folder: str
) -> None:
    root = (bigearthnet / folder).resolve()
    extra = ["--non-overlapping"] if command == "subset" else []
    argv = [command, "sen12ms", str(root), "-o", str(tmp_path / "out"), *extra]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert one_error(err, command) == (
        f"{root}: {NOT_SEN12MS} (ROIs1158_spring, ROIs1868_summer, ROIs1970_fall, "
        "ROIs2017_winter); is this a SEN12MS root?"
    )


def test_bigearthnet_given_to_pretrain_and_evaluate(
    bigearthnet: Path, tmp_path: Path, capsys: Capsys
) -> None:
    root = bigearthnet / "BigEarthNet-S2-Example"
    code, _, err = run_cli(["pretrain", "--data", str(root), "--out", str(tmp_path / "p"),
                         "--config", "cpu-small", "--mode", "sensor-pairs"], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "pretrain").startswith(f"{root}: {NOT_SEN12MS}")
    assert not (tmp_path / "p" / "checkpoints").exists()
    code, _, err = run_cli(["evaluate", "--data", str(root), "--out", str(tmp_path / "e"),
                         *EVAL_FAST], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "evaluate").startswith(f"{root}: {NOT_SEN12MS}")


@pytest.mark.parametrize("layout", ["empty directory", "season folder without files", "absent"])
def test_empty_or_absent_root_is_one_line(tmp_path: Path, capsys: Capsys, layout: str) -> None:
    root = tmp_path / "root"
    problem = {"empty directory": NOT_SEN12MS, "absent": "not a directory",
               "season folder without files": "no SEN12MS patch files"}[layout]  # fmt: skip
    if layout != "absent":
        root.mkdir()
    if layout == "season folder without files":
        (root / "ROIs1970_fall" / "s1_3").mkdir(parents=True)
    for command in ("index", "labels"):
        code, _, err = run_cli([command, "sen12ms", str(root), "-o", str(tmp_path / "o")], capsys)
        assert code == 2
        assert one_error(err, command).startswith(f"{root}: {problem}")


def test_sen12ms_given_to_the_bigearthnet_reader(
    tmp_path: Path, make_triplet: Callable[..., PatchId]
) -> None:
    """The reverse (no BigEarthNet command yet): the reader skips and counts every folder."""
    root = make_tree(tmp_path / "tree", make_triplet)
    scan = scan_pairs(root, root)
    assert scan.records == []
    assert scan.summary() == "1 S1 folder(s): 0 paired, 1 skipped (missing: 1)"
    json_file = root / "ROIs1158_spring" / "ROIs1158_spring_labels_metadata.json"
    assert [str(p) for p in scan.problems] == [f"{json_file}: no labels metadata JSON"]
    s2 = root / BAD.relpath("s2").parent
    with pytest.raises(DataError, match=rf"^{s2}: no B1 band file \(s2_1_B01\.tif\)$"):
        read_s2(s2)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{GOOD[0]}\n{BAD}\n")  # the first line could be a header
    with pytest.raises(DataError, match=rf"^{ids}:2: expected 'S2name,S1name', got '{BAD}'$"):
        read_split_csv(ids)


# --- bugs the sweep found (fixed) ---------------------------------------


def test_index_lc_of_a_dtype_numpy_does_not_know(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = make_tree(tmp_path / "tree", make_triplet)
    path = root / BAD.relpath("lc")
    with rasterio.open(path) as src:
        profile = src.profile
    profile.update(dtype="complex_int16")
    with rasterio.open(path, "w", **profile):
        pass
    code, _, err = run_cli(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv")], capsys)
    assert code == 0
    assert err == [f"bad: {path}: dtype complex_int16, expected an integer type"]


def _tiff_declaring(width: int, height: int) -> bytes:
    """A 150-byte uncompressed one-band uint8 TIFF whose header declares width x height pixels
    (one strip of 16 bytes): what a corrupted header looks like."""
    data = bytes(16)
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, len(data)), (284, 3, 1),
            (339, 3, 1)]  # fmt: skip
    offset = 8 + 2 + 12 * len(tags) + 4  # the strip follows the directory
    body = b"".join(
        struct.pack("<HHI", tag, kind, 1)
        + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", offset if tag == 273
                                                                       else value))
        for tag, kind, value in tags
    )  # fmt: skip
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + body + bytes(4) + data


def test_labels_lc_header_declaring_a_huge_size(tree: Path, tmp_path: Path, capsys: Capsys) -> None:
    index = tmp_path / "index.csv"
    assert main(["index", "sen12ms", str(tree), "-o", str(index)]) == 0
    lc = tree / BAD.relpath("lc")
    lc.write_bytes(_tiff_declaring(2**31 - 1, 2**31 - 1))  # broken after the index was made
    capsys.readouterr()
    code, _, err = run_cli(["labels", "sen12ms", str(tree), "--index", str(index), "-o",
                         str(tmp_path / "l.csv"), "--workers", "0"], capsys)  # fmt: skip
    assert code == 0
    assert err[0].startswith(f"bad: {lc}: ")
