"""The data commands run through the real entry point on real GeoTIFF trees."""

from __future__ import annotations

import csv
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sensormoco.cli.main import main
from sensormoco.data.sen12ms.labels_csv import read_labels_csv
from sensormoco.data.sen12ms.layout import PatchId, read_id_list
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.progress import set_quiet


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    first, *others = ("synth sen12ms", "index sen12ms", "labels sen12ms", "subset sen12ms",
                      "split sen12ms", "stats sen12ms", "demo")  # fmt: skip
    result = subprocess.run(  # one through the entry point, the rest in this process
        [sys.executable, "-m", "sensormoco.cli.main", *first.split(), "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage: sensormoco" in result.stdout
    for command in others:
        with pytest.raises(SystemExit) as exit_:
            main([*command.split(), "--help"])
        assert exit_.value.code == 0, command
        assert "usage: sensormoco" in capsys.readouterr().out, command


def test_index_writes_rows_and_reports_bad(synth_root: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "tree"
    shutil.copytree(synth_root, root)
    first = sorted((root / "ROIs1158_spring").glob("s2_*/*.tif"))[0]
    first.write_bytes(b"not a tiff")
    assert main(["index", "sen12ms", str(root), "-o", str(tmp_path / "index.csv")]) == 0
    out, err = capsys.readouterr()
    assert f"bad: {first}: not a readable GeoTIFF" in err
    assert "72 patch ids: 71 usable, 1 bad (unreadable: 1)" in out
    lines = (tmp_path / "index.csv").read_text().splitlines()
    rows = list(csv.DictReader(lines))
    assert len(rows) == 72
    assert sum(r["status"] == "bad" for r in rows) == 1


def test_index_fails_when_nothing_is_usable(tmp_path: Path, make_triplet, capsys) -> None:
    make_triplet(tmp_path, s2=None)
    assert main(["index", "sen12ms", str(tmp_path), "-o", str(tmp_path / "i.csv")]) == 1
    assert main(["index", "sen12ms", str(tmp_path / "nope"), "-o", str(tmp_path / "i.csv")]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'nope'}: not a directory" in err


def test_labels_from_lc_and_from_pickle(synth_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "labels.csv"
    assert main(["labels", "sen12ms", str(synth_root), "-o", str(out), "--scheme", "igbp17"]) == 0
    rows = read_labels_csv(out, "igbp17")
    assert len(rows) == 72
    header = out.read_text().splitlines()[0].split(",")
    assert header[:3] == ["patch_id", "single", "multi"]
    assert len(header) == 3 + 17
    # tamper with one pickle entry: it is reported, and the pickle's value is used
    probabilities = pickle.loads((synth_root / "IGBP_probability_labels.pkl").read_bytes())
    key = sorted(probabilities)[0]
    probabilities[key] = [1.0] + [0.0] * 16
    pkl = tmp_path / "p.pkl"
    pkl.write_bytes(pickle.dumps(probabilities))
    capsys.readouterr()
    assert main(["labels", "sen12ms", str(synth_root), "-o", str(out), "--probabilities",
                 str(pkl), "--scheme", "igbp17"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    pid = PatchId.parse(key)
    assert f"disagrees: {pid}" in err
    assert "72 patch(es) compared with the pickle: 1 differ" in err
    row = next(r for r in read_labels_csv(out) if r.patch_id == pid)
    assert row.single == 1
    assert (tmp_path / "labels.csv.disagreements.csv").read_text().count("\n") == 2


def test_labels_refuses_malicious_pickle(synth_root: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "MARKER"

    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(marker)],))

    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"ROIs1158_spring_s2_1_p1.tif": Evil()}))
    args = ["labels", "sen12ms", str(synth_root), "-o", str(tmp_path / "l.csv")]
    assert main([*args, "--probabilities", str(pkl)]) == 2
    assert "refused to load global" in capsys.readouterr().err
    assert not marker.exists()
    assert not (tmp_path / "l.csv").exists()


def test_subset_excludes_test_scenes_by_default(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "ids.txt"
    assert main(["subset", "sen12ms", str(synth_root), "--non-overlapping", "-o", str(out)]) == 0
    ids = read_id_list(out)
    assert ids
    assert not any(is_test(p) for p in ids)
    # 3 x 3 grid at stride size/2: patches 1, 3, 7, 9 of every non-test scene
    assert {p.patch for p in ids} == {1, 3, 7, 9}
    assert main(["subset", "sen12ms", str(synth_root), "--non-overlapping", "-o", str(out),
                 "--include-test"]) == 0  # fmt: skip
    assert any(is_test(p) for p in read_id_list(out))


def test_split_writes_disjoint_lists_and_budgets(synth_root: Path, tmp_path: Path) -> None:
    args = ["split", "sen12ms", str(synth_root), "-o", str(tmp_path), "--val-fraction", "0.3",
            "--budget", "10", "--budget-seeds", "0", "1"]  # fmt: skip
    assert main(args) == 0
    parts = {n: set(read_id_list(tmp_path / f"{n}.txt")) for n in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == 72
    assert not (parts["train"] & parts["val"])
    assert not (parts["train"] & parts["test"])
    train = read_id_list(tmp_path / "budget10_seed1_train.txt")
    val = read_id_list(tmp_path / "budget10_seed1_val.txt")
    assert (len(train), len(val)) == (8, 2)
    assert set(train) <= parts["train"]
    assert set(val) <= parts["val"]


def test_stats_streams_the_train_split(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "stats.json"
    args = ["stats", "sen12ms", str(synth_root), "-o", str(out), "--s2-bands", "B2,B8,B11"]
    assert main(args) == 0
    from sensormoco.data.bands import Normalization

    norm = Normalization.load(out)
    assert norm.bands == ("VV", "VH", "B2", "B8", "B11")
    assert -25 < norm.mean[0] < 0
    assert 0 < norm.mean[2] < 10000
    assert all(np.isfinite(norm.std))


@pytest.mark.parametrize("command", ["labels", "split", "stats"])
def test_commands_reuse_an_index_and_skip_bad(
    synth_root: Path, tmp_path: Path, command: str, capsys
) -> None:
    root = tmp_path / "tree"
    shutil.copytree(synth_root, root)
    victim = sorted((root / "ROIs1868_summer").glob("s1_*/*.tif"))[0]
    victim.unlink()
    assert main(["index", "sen12ms", str(root), "-o", str(tmp_path / "index.csv")]) == 0
    capsys.readouterr()
    args = [command, "sen12ms", str(root), "--index", str(tmp_path / "index.csv"), "-o"]
    assert main([*args, str(tmp_path / "out")]) == 0
    assert "skipped 1 bad patch(es)" in capsys.readouterr().err


@pytest.fixture
def pixel_bad_tree(synth_root: Path, tmp_path: Path) -> Path:
    """The synthetic tree with one truncated s2 file and one all-NaN s1 file: both pass a
    header check and fail a pixel check."""
    from sensormoco.data.geotiff import read_raster, write_raster

    root = tmp_path / "tree"
    shutil.copytree(synth_root, root)
    truncated = sorted((root / "ROIs1868_summer").glob("s2_*/*.tif"))[0]
    truncated.write_bytes(truncated.read_bytes()[: int(truncated.stat().st_size * 0.9)])
    nan_s1 = sorted((root / "ROIs1970_fall").glob("s1_*/*.tif"))[0]
    data, _ = read_raster(nan_s1)
    import rasterio

    with rasterio.open(nan_s1) as src:
        crs, transform = src.crs.to_string(), src.transform
    write_raster(nan_s1, np.full_like(data, np.nan), crs, transform)
    return root


@pytest.mark.parametrize(
    ("command", "output"),
    [("labels", "l.csv"), ("subset", "ids.txt"), ("split", "splits"), ("stats", "s.json")],
)
def test_commands_skip_pixel_level_bad_patches_like_index(
    pixel_bad_tree: Path, tmp_path: Path, command: str, output: str, capsys
) -> None:
    args = [command, "sen12ms", str(pixel_bad_tree), "-o", str(tmp_path / output)]
    if command == "subset":
        args.append("--non-overlapping")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "skipped 2 bad patch(es)" in err


def test_headers_only_index_does_not_claim_pixel_counts(
    synth_root: Path, tmp_path: Path, capsys
) -> None:
    args = ["index", "sen12ms", str(synth_root), "-o", str(tmp_path / "i.csv"), "--headers-only"]
    assert main(args) == 0
    assert "pixels not read (headers only)" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "i.csv").read_text().splitlines()))
    assert {r["s1_nonfinite"] for r in rows} == {""}


def test_unwritable_output_is_a_one_line_error(synth_root: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("")
    args = ["index", "sen12ms", str(synth_root), "-o", str(tmp_path / "afile" / "i.csv")]
    assert main([*args, "--headers-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sensormoco index: error:")
    assert err.count("\n") == 1


def test_subset_rejects_a_bad_overlap_limit(synth_root: Path, tmp_path: Path, capsys) -> None:
    args = ["subset", "sen12ms", str(synth_root), "--non-overlapping", "-o", str(tmp_path / "x"),
            "--max-overlap", "-0.1", "--headers-only"]  # fmt: skip
    assert main(args) == 2
    assert "max_overlap must be in [0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reuses_its_data(tmp_path: Path, capsys) -> None:
    set_quiet(False)  # the step lines are what this test reads
    assert main(["demo", "--out", str(tmp_path), "--data-only"]) == 0
    out = capsys.readouterr().out
    assert "[5/7" in out
    assert "[6/7" not in out
    assert "budget 1024: 819/205" in out
    for name in ("index.csv", "labels.csv", "nonoverlapping.txt", "splits/test.txt"):
        assert (tmp_path / name).is_file()
    assert main(["demo", "--out", str(tmp_path), "--data-only"]) == 0
    assert "already in" in capsys.readouterr().out
