from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine

from sensormoco.data.geotiff import write_raster
from sensormoco.data.labels import compare_probabilities, read_many_lc_fractions
from sensormoco.data.pickles import load_probability_pickle
from sensormoco.data.sen12ms import PatchId
from sensormoco.errors import DataError

A = PatchId.parse("ROIs1158_spring_1_p30")
B = PatchId.parse("ROIs2017_winter_44_p5")
C = PatchId.parse("ROIs1868_summer_3_p1")


def probs(**codes: float) -> list[float]:
    """17 fractions, e.g. ``probs(c1=0.5, c12=0.5)``."""
    out = [0.0] * 17
    for name, value in codes.items():
        out[int(name[1:]) - 1] = value
    return out


def dump(path: Path, obj: object, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_valid_pickle_with_lists_and_arrays_loads(tmp_path: Path, protocol: int) -> None:
    content: dict[str, Any] = {
        B.filename("s2"): np.array(probs(c17=1.0), dtype=np.float32),
        A.filename("s2"): probs(c1=0.5, c12=0.3, c17=0.2),
        C.filename("s2"): [np.float64(x) for x in probs(c10=0.75, c6=0.25)],
    }
    loaded = load_probability_pickle(dump(tmp_path / "p.pkl", content, protocol))
    assert list(loaded) == [A, C, B]  # sorted ids
    assert loaded[A].tolist() == probs(c1=0.5, c12=0.3, c17=0.2)
    assert loaded[B].dtype == np.float64
    assert loaded[B][16] == 1.0
    assert loaded[C][9] == 0.75


@pytest.mark.parametrize("protocol", [0, 2])
def test_numpy1_module_paths_load(tmp_path: Path, protocol: int) -> None:
    # The distributed file was written by numpy 1 (``numpy.core``); numpy 2 says ``numpy._core``.
    data = pickle.dumps(
        {A.filename("s2"): np.array(probs(c5=1.0)), B.filename("s2"): [np.float32(1)] + [0] * 16},
        protocol=protocol,
    )
    old = data.replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in old
    assert b"numpy._core" not in old
    path = tmp_path / "numpy1.pkl"
    path.write_bytes(old)
    loaded = load_probability_pickle(path)
    assert loaded[A][4] == 1.0
    assert loaded[B][0] == 1.0


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


class EvilPopen:
    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return subprocess.Popen, (["true"],)


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    path = dump(tmp_path / "evil.pkl", {A.filename("s2"): Evil(marker)})
    with pytest.raises(
        DataError, match=r"evil\.pkl: refused to load global (os|posix)\.system: "
    ) as err:
        load_probability_pickle(path)
    assert err.value.kind == "unsafe"
    assert "only dicts, lists, strings, numbers and numpy arrays are allowed" in str(err.value)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    path = dump(tmp_path / "popen.pkl", [EvilPopen()])
    with pytest.raises(DataError, match=r"refused to load global subprocess\.Popen") as err:
        load_probability_pickle(path)
    assert err.value.kind == "unsafe"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([probs(c1=1.0)], "expected a dict of S2 file name -> 17 fractions, got a list"),
        ({}, "holds no entries"),
        (
            {A.filename("s2"): "0.5,0.5"},
            "entry 'ROIs1158_spring_s2_1_p30.tif': expected 17 numbers, got a str",
        ),
        ({A.filename("s2"): [str(x) for x in probs(c1=1.0)]}, "got 'U'-kind values"),
        ({A.filename("s2"): probs(c1=1.0)[:16]}, "expected 17 numbers, got 16"),
        ({A.filename("s2"): [probs(c1=1.0)] * 2}, "got shape \\(2, 17\\)"),
        ({A.filename("s2"): probs(c1=float("nan"))}, "non-finite value"),
        ({A.filename("s2"): probs(c1=1.5, c2=-0.5)}, "value outside \\[0, 1\\]"),
        ({A.filename("s2"): probs(c1=0.5, c2=0.4)}, "values sum to 0.9, expected 1"),
        (
            {"ROIs1158_spring_s2_1.tif": probs(c1=1.0)},
            "key 'ROIs1158_spring_s2_1.tif' is not a SEN12MS",
        ),
        ({7: probs(c1=1.0)}, "key 7 is a int"),
        (
            {A.filename("s2"): probs(c1=1.0), str(A): probs(c1=1.0)},
            "name the same patch ROIs1158_spring_1_p30",
        ),
        (
            {B.filename("s2"): probs(c1=1.0), A.filename("s2"): [], C.filename("s2"): None},
            "entry 'ROIs1158_spring_s2_1_p30.tif': expected 17 numbers, got 0 \\(and 1 more bad",
        ),
    ],
)
def test_malformed_content_is_a_data_error(tmp_path: Path, content: object, message: str) -> None:
    path = dump(tmp_path / "labels.pkl", content)
    with pytest.raises(DataError, match=rf"labels\.pkl: .*{message}") as err:
        load_probability_pickle(path)
    assert "\n" not in str(err.value)


def test_truncated_and_non_pickle_files_are_data_errors(tmp_path: Path) -> None:
    full = pickle.dumps({A.filename("s2"): np.array(probs(c1=1.0))})
    broken = {
        "cut.pkl": full[: len(full) // 2],
        "tail.pkl": full[:-1],
        "empty.pkl": b"",
        "text.pkl": b"patch,probabilities\n",
    }
    for name, data in broken.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError, match=rf"{name}: .*pickle") as err:
            load_probability_pickle(path)
        assert err.value.kind == "unreadable"
    with pytest.raises(DataError, match="file not found"):
        load_probability_pickle(tmp_path / "absent.pkl")


def test_disagreement_with_lc_fractions_is_reported(tmp_path: Path) -> None:
    transform = Affine(10, 0, 500000, 0, -10, 5000000)
    lc_paths = {}
    for pid, code in ((A, 1), (B, 12), (C, 17)):
        lc = np.full((4, 10, 10), code, np.uint16)
        lc[0, :5] = 10  # layer 1: half code 10, half ``code``
        lc_paths[pid] = tmp_path / pid.filename("lc")
        write_raster(lc_paths[pid], lc, "EPSG:32633", transform)
    from_lc = read_many_lc_fractions(lc_paths).fractions
    path = dump(
        tmp_path / "p.pkl",
        {
            A.filename("s2"): probs(c1=0.5, c10=0.5),  # agrees
            B.filename("s2"): probs(c12=0.45, c10=0.55),  # 0.05 off on two classes
            "ROIs1970_fall_9_p9": probs(c1=1.0),  # no lc here: ignored
        },
    )  # C missing from the pickle
    comparison = compare_probabilities(from_lc, load_probability_pickle(path), tolerance=1e-3)
    assert comparison.compared == 2
    assert [d.patch_id for d in comparison.disagreements] == [B]
    assert comparison.disagreements[0].max_difference == pytest.approx(0.05)
    assert comparison.disagreements[0].code == 10
    assert comparison.missing == [C]
    assert not comparison.ok
    summary = comparison.summary(1e-3)
    assert "2 patch(es) compared" in summary
    assert "1 differ by more than 0.001" in summary
    assert "worst ROIs2017_winter_44_p5: 0.05 on IGBP 10" in summary
    assert "1 missing" in summary
    loose = compare_probabilities(from_lc, load_probability_pickle(path), tolerance=0.06)
    assert loose.disagreements == []
    assert loose.missing == [C]
