"""The bad-input sweep (docs/reliability.md): every bad input goes through the real command
line and must end in a one-line error naming the input and the problem (exit code 2), or, for
the batch commands, be skipped, named and counted while the good items go on.

Cases that still end in a traceback, or in a message that does not name the input, are marked
``xfail(strict=True)`` with the reason; fixing the code turns them into failures to unmark.
"""

from __future__ import annotations

import csv
import os
import pickle
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from sensormoco.cli.main import main
from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS, SEN12MS_NORMALIZATION
from sensormoco.data.bigearthnet import read_s2, read_split_csv, scan_pairs
from sensormoco.data.geotiff import write_raster
from sensormoco.data.sen12ms import PatchId, read_s1
from sensormoco.errors import DataError
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder
from tests.data.bigearthnet_fake import write_pair

Capsys = pytest.CaptureFixture[str]
GOOD = ("ROIs1158_spring_1_p1", "ROIs1158_spring_1_p2")  # two good triplets in every tree
BAD = PatchId.parse("ROIs1158_spring_1_p3")
TRANSFORM = Affine(10, 0, 500000.0, 0, -10, 5000000.0)  # make_triplet's default grid
EVAL_FAST = ["--budget", "20", "--val-fraction", "0.2", "--seeds", "0", "--backbone", "resnet18",
             "--epochs", "1"]  # fmt: skip


def _run(argv: list[str], capsys: Capsys) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the non-empty stderr lines of one command."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def _one_error(err: list[str], command: str) -> str:
    """The only stderr line, which must be the command's one-line error; returns its text."""
    assert len(err) == 1, err
    prefix = f"sensormoco {command}: error: "
    assert err[0].startswith(prefix), err[0]
    return err[0].removeprefix(prefix)


def _tree(root: Path, make_triplet: Callable[..., PatchId], **bad: np.ndarray | None) -> Path:
    """Two good triplets and the triplet BAD (with ``bad`` overriding its arrays)."""
    for seed, pid in enumerate(GOOD, 1):
        make_triplet(root, pid, seed=seed)
    make_triplet(root, BAD, seed=3, **bad)
    return root


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
    root = _tree(tmp_path / "tree", make_triplet, **arrays)
    if change is not None:
        change(root)
    out_csv = tmp_path / "index.csv"
    code, out, err = _run(["index", "sen12ms", str(root), "-o", str(out_csv)], capsys)
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
    root = _tree(tmp_path / "tree", make_triplet, s1=NAN_INF)
    _corrupt(root)  # the s2 is read first: the triplet is unreadable
    code, out, err = _run(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv"),
                           "--workers", "2"], capsys)  # fmt: skip
    assert code == 0
    assert err == [f"bad: {root / BAD.relpath('s2')}: " + err[0].split(": ", 2)[2]]
    assert "not a readable GeoTIFF" in err[0]
    assert "3 patch ids: 2 usable, 1 bad (unreadable: 1)" in out


def test_odd_sized_triplet_is_flagged_against_the_tree(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = tmp_path / "tree"
    _tree(root, make_triplet)
    make_triplet(root, "ROIs1158_spring_1_p4", size=32)
    code, out, err = _run(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv")], capsys)
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
    root = _tree(tmp_path / "tree", make_triplet, s1=s1)
    code, out, err = _run(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv")], capsys)
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
    code, out, err = _run(["index", "sen12ms", str(tmp_path / "tree"), "-o",
                           str(tmp_path / "i.csv")], capsys)  # fmt: skip
    assert code == 1
    assert len(err) == 1
    assert "1 patch ids: 0 usable, 1 bad (unreadable: 1)" in out


def test_labels_skips_an_lc_without_valid_codes(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = _tree(tmp_path / "tree", make_triplet, lc=np.zeros((4, 16, 16), np.uint16))
    out_csv = tmp_path / "labels.csv"
    code, out, err = _run(["labels", "sen12ms", str(root), "-o", str(out_csv)], capsys)
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
    code, _, err = _run(["pretrain", "--data", str(root), "--out", str(tmp_path / "run"),
                         "--config", "cpu-small", "--mode", "sensor-pairs", "--crop-size", "32",
                         "--batch-size", "8", "--queue-size", "16", "--workers", "0",
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
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert _one_error(err, command) == (
        f"{root}: {NOT_SEN12MS} (ROIs1158_spring, ROIs1868_summer, ROIs1970_fall, "
        "ROIs2017_winter); is this a SEN12MS root?"
    )


def test_bigearthnet_given_to_pretrain_and_evaluate(
    bigearthnet: Path, tmp_path: Path, capsys: Capsys
) -> None:
    root = bigearthnet / "BigEarthNet-S2-Example"
    code, _, err = _run(["pretrain", "--data", str(root), "--out", str(tmp_path / "p"),
                         "--config", "cpu-small", "--mode", "sensor-pairs"], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "pretrain").startswith(f"{root}: {NOT_SEN12MS}")
    assert not (tmp_path / "p" / "checkpoints").exists()
    code, _, err = _run(["evaluate", "--data", str(root), "--out", str(tmp_path / "e"),
                         *EVAL_FAST], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "evaluate").startswith(f"{root}: {NOT_SEN12MS}")


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
        code, _, err = _run([command, "sen12ms", str(root), "-o", str(tmp_path / "o")], capsys)
        assert code == 2
        assert _one_error(err, command).startswith(f"{root}: {problem}")


def test_sen12ms_given_to_the_bigearthnet_reader(
    tmp_path: Path, make_triplet: Callable[..., PatchId]
) -> None:
    """The reverse (no BigEarthNet command yet): the reader skips and counts every folder."""
    root = _tree(tmp_path / "tree", make_triplet)
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


# --- label pickles: never executed, unexpected types refused or skipped -----------------------


class _RunsCode:
    """Pickles as a call of ``func(*args)``: what a malicious pickle does when loaded."""

    def __init__(self, func: Callable[..., object], *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return self.func, self.args


@pytest.fixture
def tree(tmp_path: Path, make_triplet: Callable[..., PatchId]) -> Path:
    return _tree(tmp_path / "tree", make_triplet)


def _labels(root: Path, pkl: Path, tmp_path: Path, capsys: Capsys) -> tuple[int, str, list[str]]:
    argv = ["labels", "sen12ms", str(root), "-o", str(tmp_path / "labels.csv"),
            "--probabilities", str(pkl)]  # fmt: skip
    return _run(argv, capsys)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("how", ["os.system", "subprocess.call", "eval", "nested in a list"])
def test_code_running_pickle_is_refused_and_never_runs(
    tree: Path, tmp_path: Path, capsys: Capsys, how: str, protocol: int
) -> None:
    marker = tmp_path / "MARKER"
    payload = {
        "os.system": _RunsCode(os.system, f"touch {marker}"),
        "subprocess.call": _RunsCode(subprocess.call, ["touch", str(marker)]),
        "eval": _RunsCode(eval, f"open({str(marker)!r}, 'w').close()"),
        "nested in a list": [0.0] * 16 + [_RunsCode(os.system, f"touch {marker}")],
    }[how]
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({BAD.filename("s2"): payload}, protocol=protocol))
    code, _, err = _labels(tree, pkl, tmp_path, capsys)
    assert code == 2
    message = _one_error(err, "labels")
    assert message.startswith(f"{pkl}: refused to load global ")
    assert "the pickle may run code" in message
    assert not marker.exists()
    assert not (tmp_path / "labels.csv").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [([0.5, 0.5], "expected a dict of S2 file name -> 17 fractions, got a list"),
     ({}, "the pickle holds no entries"),
     ({BAD.filename("s2"): {"a": 1.0}}, f"no usable entry: {BAD.filename('s2')}: a dict, "
                                        "expected 17 values"),
     ({BAD.filename("s2"): {0.25, 0.5}}, "a set, expected 17 values"),
     ({BAD.filename("s2"): ["0.5"] * 17}, "a str among the values, expected numbers"),
     ({BAD.filename("s2"): [float("nan")] * 17}, "non-finite value (NaN or Inf)"),
     ({BAD.filename("s2"): np.full(17, 2.0)}, "value outside [0, 1]"),
     ({BAD.filename("s2"): np.zeros((17, 1))}, "shape (17, 1), expected 17 values"),
     ({7: [1.0] + [0.0] * 16}, "no usable entry: 7: key is a int, expected a file name"),
     ({BAD.filename("s2"): np.array([None] * 17, dtype=object)},
      "array data is a list, expected bytes"),
     (b"not a pickle", "not a readable pickle"),
     (b"", "not a readable pickle (pickle exhausted before seeing STOP)")],
)  # fmt: skip
def test_pickle_of_unexpected_types_is_one_line(
    tree: Path, tmp_path: Path, capsys: Capsys, content: object, problem: str
) -> None:
    pkl = tmp_path / "p.pkl"
    pkl.write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
    code, _, err = _labels(tree, pkl, tmp_path, capsys)
    assert code == 2
    message = _one_error(err, "labels")
    assert message.startswith(f"{pkl}: ")
    assert problem in message
    assert not (tmp_path / "labels.csv").exists()


def test_pickle_truncated_or_absent_is_one_line(tree: Path, tmp_path: Path, capsys: Capsys) -> None:
    whole = pickle.dumps({BAD.filename("s2"): np.full(17, 1 / 17)})
    for cut in (len(whole) // 2, 1):
        pkl = tmp_path / f"cut{cut}.pkl"
        pkl.write_bytes(whole[:cut])
        code, _, err = _labels(tree, pkl, tmp_path, capsys)
        assert code == 2
        assert _one_error(err, "labels").startswith(f"{pkl}: not a readable pickle (")
    code, _, err = _labels(tree, tmp_path / "absent.pkl", tmp_path, capsys)
    assert _one_error(err, "labels") == f"{tmp_path / 'absent.pkl'}: file not found"


def test_pickle_with_some_bad_entries_skips_and_counts_them(
    tree: Path, tmp_path: Path, capsys: Capsys
) -> None:
    good = [PatchId.parse(p) for p in GOOD]
    content: dict[object, object] = {
        good[0].filename("s2"): [1.0] + [0.0] * 16,
        good[1].filename("s2"): "0.5",
        3: None,
        "x": [0.1] * 17,
    }
    pkl = tmp_path / "p.pkl"
    pkl.write_bytes(pickle.dumps(content))
    code, out, err = _labels(tree, pkl, tmp_path, capsys)
    assert code == 0
    first = "3: key is a int, expected a file name"
    assert err[0] == f"skipped 3 bad pickle entr(y/ies); first: {first}"
    assert "labelled 3 patch(es)" in out  # the bad entries fall back to lc


# --- pre-training configs -------------------------------------------------------------------


def _pretrain(config: str | bytes, tmp_path: Path, capsys: Capsys, *extra: str) -> tuple[int, str]:
    path = tmp_path / "c.yaml"
    path.write_bytes(config if isinstance(config, bytes) else config.encode())
    code, _, err = _run(["pretrain", "--data", str(tmp_path / "unused"), "--out",
                         str(tmp_path / "run"), "--config", str(path), *extra], capsys)  # fmt: skip
    assert code == 2
    assert not (tmp_path / "run").exists()
    return code, _one_error(err, "pretrain")


@pytest.mark.parametrize(
    ("config", "problem"),
    [("mode: sensor-pairs\nqueue_sise: 64\n", "unknown key 'queue_sise'; did you mean queue_size?"),
     ("mode: sensor-pairs\nbacth_size: 8\n", "unknown key 'bacth_size'; did you mean batch_size?"),
     ("mode: sensor-pairs\nlearningrate: 0.1\n", "unknown key 'learningrate'; valid keys: mode, "),
     ("mod: sensor-pairs\n", "unknown key 'mod'; did you mean mode?"),
     ("mode: sensor-pairs\nbatch_size: eight\n", "batch_size must be int, got 'eight'"),
     ("mode: sensor-pairs\nshuffle_bn: 3\n", "shuffle_bn must be bool, got 3"),
     ("- mode\n- sensor-pairs\n", "a pre-training config must be a YAML mapping of key: value"),
     ("mode: [sensor-pairs\nlr: 1\n", "cannot read YAML (while parsing a flow sequence"),
     ("mode:\tsensor-pairs\n\tlr: 1\n", "cannot read YAML ("),
     (b"mode: \xff\xfe\n", "cannot read YAML (")],
)  # fmt: skip
def test_config_errors_are_one_line_naming_the_file(
    tmp_path: Path, capsys: Capsys, config: str | bytes, problem: str
) -> None:
    _, message = _pretrain(config, tmp_path, capsys)
    assert message.startswith(f"{tmp_path / 'c.yaml'}: {problem}")


def test_absent_config_file_is_one_line(tmp_path: Path, capsys: Capsys) -> None:
    code, _, err = _run(["pretrain", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                         "--config", str(tmp_path / "nope.yaml")], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "pretrain") == (
        f"{tmp_path / 'nope.yaml'}: no such config file or preset; presets: paper, cpu-small"
    )


def test_config_value_typo_names_the_file(tmp_path: Path, capsys: Capsys) -> None:
    _, message = _pretrain("mode: sensor-pair\n", tmp_path, capsys)
    assert "mode 'sensor-pair' is not one of" in message
    assert message.startswith(f"{tmp_path / 'c.yaml'}: ")


# --- encoders whose bands do not fit the evaluation -----------------------------------------


@pytest.mark.parametrize(
    ("bands", "input_"), [(S1_BANDS, "s2"), (S2_LAND_BANDS, "s1"), (S1_BANDS, "s1s2")]
)
def test_encoder_bands_that_do_not_fit_the_input(
    synth_root: Path, tmp_path: Path, capsys: Capsys, bands: tuple[str, ...], input_: str
) -> None:
    encoder = build_encoder(bands, "resnet18", "conv1", 16)
    path = tmp_path / "encoder.pt"
    export_encoder(encoder, path, {"normalization": SEN12MS_NORMALIZATION.select(bands).to_dict()})
    argv = ["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "ev"), "--encoder",
            str(path), "--input", input_, *EVAL_FAST]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert _one_error(err, "evaluate") == (
        f"{path}: encoder bands {list(bands)} do not fit input {input_!r}"
    )
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_truncated_encoder_is_one_line(synth_root: Path, tmp_path: Path, capsys: Capsys) -> None:
    path = tmp_path / "encoder.pt"
    export_encoder(build_encoder(S2_LAND_BANDS, "resnet18", "conv1", 16), path, {})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = _run(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "ev"),
                         "--encoder", str(path), *EVAL_FAST], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "evaluate").startswith(f"{path}: not a complete encoder file")


# --- index CSVs and id lists given to the commands ------------------------------------------


@pytest.mark.parametrize(
    ("flag", "text", "problem"),
    [("--index", "a,b\n1,2\n", ": not a sensormoco index: missing column(s) ['patch_id', "),
     ("--index", None, ":4: malformed index row (float() argument must be a string or a "
                       "real number, not 'NoneType')"),
     ("--index", "\xff", ": cannot read index ("),
     ("--ids", "ROIs1158_spring_1_p1\nhello world\n",
      ":2: not a SEN12MS patch id or file name: 'hello world'"),
     ("--ids", "\xfe\xff", ": cannot read id list (")],
)  # fmt: skip
def test_bad_index_or_id_list_is_one_line(
    tree: Path, tmp_path: Path, capsys: Capsys, flag: str, text: str | None, problem: str
) -> None:
    path = tmp_path / "given"
    if text is None:  # a real index with its last row cut short
        assert main(["index", "sen12ms", str(tree), "-o", str(path)]) == 0
        lines = path.read_text().splitlines()
        path.write_text("\n".join([*lines[:-1], lines[-1][:30]]) + "\n")
    else:
        path.write_bytes(text.encode("latin-1"))
    capsys.readouterr()
    code, _, err = _run(["labels", "sen12ms", str(tree), flag, str(path), "-o",
                         str(tmp_path / "l.csv")], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "labels").startswith(f"{path}{problem}")


# --- bugs the sweep found (fixed) ---------------------------------------


def test_index_lc_of_a_dtype_numpy_does_not_know(
    tmp_path: Path, make_triplet: Callable[..., PatchId], capsys: Capsys
) -> None:
    root = _tree(tmp_path / "tree", make_triplet)
    path = root / BAD.relpath("lc")
    with rasterio.open(path) as src:
        profile = src.profile
    profile.update(dtype="complex_int16")
    with rasterio.open(path, "w", **profile):
        pass
    code, _, err = _run(["index", "sen12ms", str(root), "-o", str(tmp_path / "i.csv")], capsys)
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
    code, _, err = _run(["labels", "sen12ms", str(tree), "--index", str(index), "-o",
                         str(tmp_path / "l.csv"), "--workers", "0"], capsys)  # fmt: skip
    assert code == 0
    assert err[0].startswith(f"bad: {lc}: ")


def test_index_csv_with_a_huge_field(tree: Path, tmp_path: Path, capsys: Capsys) -> None:
    index = tmp_path / "index.csv"
    assert main(["index", "sen12ms", str(tree), "-o", str(index)]) == 0
    index.write_text(index.read_text() + "x" * 200_000 + "\n")
    capsys.readouterr()
    code, _, err = _run(["labels", "sen12ms", str(tree), "--index", str(index), "-o",
                         str(tmp_path / "l.csv")], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "labels").startswith(f"{index}:")


def test_labels_csv_with_a_huge_field(synth_root: Path, tmp_path: Path, capsys: Capsys) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("patch_id,single,multi\n" + "x" * 200_000 + "\n")
    code, _, err = _run(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "ev"),
                         "--labels", str(labels), *EVAL_FAST], capsys)  # fmt: skip
    assert code == 2
    assert _one_error(err, "evaluate").startswith(f"{labels}:")


def test_bigearthnet_json_nested_too_deep(tmp_path: Path) -> None:
    _scan_with_bad_json(tmp_path, "[" * 100_000 + "]" * 100_000)


def test_bigearthnet_json_with_a_huge_integer(tmp_path: Path) -> None:
    _scan_with_bad_json(tmp_path, '{"labels": [], "x": ' + "1" * 5000 + "}")


def _scan_with_bad_json(tmp_path: Path, text: str) -> None:
    """Two pairs, the first S1 JSON replaced by ``text``: one skipped, one paired."""
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    bad, _ = write_pair(s1, s2, 1)
    write_pair(s1, s2, 2)
    json_file = bad / f"{bad.name}_labels_metadata.json"
    json_file.write_text(text)
    scan = scan_pairs(s1, s2)
    assert len(scan.records) == 1
    assert [p.source for p in scan.problems] == [str(json_file)]
    assert len(str(scan.problems[0]).splitlines()) == 1


def test_bigearthnet_scan_skips_unreadable_json(tmp_path: Path) -> None:
    """The common JSON faults are skipped and counted (contrast with the xfails above)."""
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    folders = [write_pair(s1, s2, tile)[0] for tile in (1, 2, 3, 4)]
    for folder, text in zip(folders, ["{", "[1, 2]", '{"labels": "Pastures"}'], strict=False):
        (folder / f"{folder.name}_labels_metadata.json").write_text(text)
    scan = scan_pairs(s1, s2)
    assert len(scan.records) == 1
    assert scan.summary() == "4 S1 folder(s): 1 paired, 3 skipped (json: 3)"
    assert all(len(str(p).splitlines()) == 1 for p in scan.problems)
