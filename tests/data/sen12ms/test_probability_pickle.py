from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine

from sensormoco import defaults
from sensormoco.data.geotiff import write_raster
from sensormoco.data.sen12ms.labels import read_many_lc_fractions
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.probability_pickle import (
    ProbabilityPickle,
    compare_probabilities,
    load_probability_pickle,
)
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
    assert isinstance(loaded, ProbabilityPickle)
    assert loaded.skipped == []
    assert list(loaded.fractions) == [A, C, B]  # sorted ids
    assert loaded.fractions[A].tolist() == probs(c1=0.5, c12=0.3, c17=0.2)
    assert loaded.fractions[B].dtype == np.float64
    assert loaded.fractions[B][16] == 1.0
    assert loaded.fractions[C][9] == 0.75


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize(
    "dtype", ["<f2", "<f4", "<f8", "i1", "<i2", "<i4", "<i8", "u1", "<u2", "<u4", "<u8"]
)
def test_every_plain_dtype_loads_bit_exact(tmp_path: Path, protocol: int, dtype: str) -> None:
    one_hot = np.zeros(17, dtype=dtype)
    one_hot[3] = 1
    float16 = np.array(probs(c1=0.25, c2=0.75), dtype=np.float16)
    content = {A.filename("s2"): one_hot, B.filename("s2"): float16, C.filename("s2"): one_hot[0]}
    loaded = load_probability_pickle(dump(tmp_path / "p.pkl", content, protocol))
    assert loaded.fractions[A].tolist() == probs(c4=1.0)
    assert loaded.fractions[B].tolist() == probs(c1=0.25, c2=0.75)
    assert loaded.skipped == [
        f"{C.filename('s2')}: a {type(one_hot[0]).__name__}, expected 17 values"
    ]


def test_fortran_order_and_shared_arrays_load(tmp_path: Path) -> None:
    grid = np.asfortranarray(np.array([probs(c1=1.0), probs(c2=1.0)]))  # 2 x 17, F order
    row = np.array(probs(c3=1.0))
    content = {A.filename("s2"): row, B.filename("s2"): row, C.filename("s2"): grid}
    for protocol in (2, 5):
        loaded = load_probability_pickle(dump(tmp_path / "p.pkl", content, protocol))
        assert list(loaded.fractions) == [A, B]
        assert loaded.fractions[A] is not loaded.fractions[B]
        assert loaded.skipped == [f"{C.filename('s2')}: shape (2, 17), expected 17 values"]


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
    loaded = load_probability_pickle(path).fractions
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


# Hand-written pickles (protocol 3 opcodes) for the attacks on numpy's own unpickling code.
def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(text: str) -> bytes:
    return b"X" + len(text).to_bytes(4, "little") + text.encode()


def _bytes(data: bytes) -> bytes:
    return b"C" + bytes([len(data)]) + data


def _int(value: int) -> bytes:
    return b"J" + value.to_bytes(4, "little", signed=True)


PLAIN_STATE = b"(" + _int(3) + _str("<") + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"t"


def _dtype(code: str, state: bytes = b"") -> bytes:
    """``numpy.dtype(code, False, True)``, then BUILD with ``state`` when given."""
    made = _global("numpy", "dtype") + b"(" + _str(code) + b"\x89\x88tR"
    return made + state + b"b" if state else made


def _object_field_state(order: str) -> bytes:
    """dtype state (3, order, None, ('a',), {'a': (dtype('O'), 0)}, 8, 1, 0): an object field
    in a dtype whose hasobject flag stays False."""
    fields = b"}" + _str("a") + b"(" + _dtype("O8") + _int(0) + b"ts"
    names = b"(" + _str("a") + b"t"
    return b"(" + _int(3) + _str(order) + b"N" + names + fields + _int(8) + _int(1) + _int(0) + b"t"


def _reconstructed(dtype: bytes, raw: bytes, shape: int = 1) -> bytes:
    """numpy's protocol 2-4 array: ``_reconstruct(ndarray, (0,), b'b')``, then BUILD with
    ``(1, (shape,), dtype, False, raw)``."""
    made = b"(" + _global("numpy", "ndarray") + b"(" + _int(0) + b"t" + _bytes(b"b") + b"tR"
    state = b"(" + _int(1) + b"(" + _int(shape) + b"t" + dtype + b"\x89" + _bytes(raw) + b"tb"
    return _global("numpy._core.multiarray", "_reconstruct") + made + state


def _entry(value: bytes) -> bytes:
    """A whole pickle: ``{A's S2 file name: [value]}`` or ``{...: value}``."""
    return b"\x80\x03}" + _str(A.filename("s2")) + value + b"s."


ATTACKS = {
    # numpy.ndarray((1,), dtype('O8'), buffer=b'AAAAAAAA'): an object array of raw pointers
    "ndarray_call": _entry(
        b"]" + _global("numpy", "ndarray") + b"((" + _int(1) + b"t" + _dtype("O8")
        + _bytes(b"A" * 8) + b"tRa"
    ),
    "object_dtype": _entry(
        b"]" + _reconstructed(_dtype("O8", PLAIN_STATE.replace(b"<", b"|")), b"A" * 8) + b"a"
    ),
    "void_with_object_field": _entry(
        b"]" + _reconstructed(_dtype("V8", _object_field_state("|")), b"A" * 8) + b"a"
    ),
    "float_with_object_field": _entry(
        b"]" + _reconstructed(_dtype("f8", _object_field_state("<")), b"A" * 8) + b"a"
    ),
    "scalar_route": _entry(
        b"]" + _global("numpy._core.multiarray", "scalar") + b"("
        + _dtype("V8", _object_field_state("|")) + _bytes(b"A" * 8) + b"tRa"
    ),
    "frombuffer_object": _entry(
        _global("numpy.core.numeric", "_frombuffer") + b"(" + _bytes(b"A" * 8) + _dtype("O8")
        + b"(" + _int(1) + b"t" + _str("C") + b"tR"
    ),
    "short_buffer": _entry(_reconstructed(_dtype("f8", PLAIN_STATE), b"A" * 8, 17)),
    "big_endian": _entry(
        _reconstructed(_dtype("f8", PLAIN_STATE.replace(b"<", b">")), b"A" * 8 * 17, 17)
    ),
    "reconstruct_other_type": _entry(
        _global("numpy._core.multiarray", "_reconstruct") + b"(" + _dtype("f8") + b"(" + _int(0)
        + b"t" + _bytes(b"b") + b"tR"
    ),
    "codec": _entry(_global("_codecs", "encode") + b"(" + _str("x") + _str("zlib") + b"tR"),
    # BUILD on an allowed global would set attributes on our function (its __defaults__)
    "build_on_global": _entry(
        _global("numpy._core.multiarray", "scalar") + b"}" + _str("__defaults__") + b"(" + _int(1)
        + b"tsb"
    ),
    "build_on_scalar": _entry(
        _global("numpy._core.multiarray", "scalar") + b"(" + _dtype("f8", PLAIN_STATE)
        + _bytes(b"A" * 8) + b"tR}" + _str("raw") + b"]sb"
    ),
    "long_dtype_code": _entry(_reconstructed(_dtype("f" * 1000), b"")),
    # {((((...)))): 1}: CPython hashes the key recursively in C and overflows the stack
    "deep_tuple_key": b"\x80\x02})" + b"\x85" * 200_000 + b"K\x01s.",
}  # fmt: skip
REFUSALS = {
    "ndarray_call": "numpy.ndarray may only be used to rebuild a pickled array",
    "object_dtype": "dtype 'O8' is not allowed (only plain numbers)",
    "void_with_object_field": "dtype 'V8' is not allowed (only plain numbers)",
    "float_with_object_field": "dtype 'f8' has a non-plain state (fields or byte order)",
    "scalar_route": "dtype 'V8' is not allowed (only plain numbers)",
    "frombuffer_object": "dtype 'O8' is not allowed (only plain numbers)",
    "short_buffer": "array of shape (17,) and dtype float64 needs 136 bytes, the pickle holds 8",
    "big_endian": "dtype 'f8' has a non-plain state (fields or byte order)",
    "reconstruct_other_type": "_reconstruct may only rebuild a numpy.ndarray",
    "codec": "_codecs.encode with str and 'zlib'",
    "build_on_global": "numpy.scalar cannot take a pickled state",
    "build_on_scalar": "a numpy scalar cannot take a pickled state",
    "deep_tuple_key": "tuples or frozensets nested deeper than 100 levels",
    "long_dtype_code": f"dtype {'f' * 1000!r} is not allowed (only plain numbers)"[:197] + "...",
}

LOAD_EACH = """
import sys
from sensormoco.data.sen12ms.probability_pickle import load_probability_pickle
from sensormoco.errors import DataError
for path in sys.argv[1:]:
    try:
        load_probability_pickle(path)
        print(path, "loaded")
    except DataError as exc:
        print(exc.kind, str(exc).replace(chr(10), "<newline>"))
"""


def test_attacks_on_numpy_unpickling_are_refused_without_crashing(tmp_path: Path) -> None:
    # In a child process: without the stand-ins these pickles crash the interpreter (SIGSEGV).
    paths = [str(tmp_path / f"{name}.pkl") for name in ATTACKS]
    for path, data in zip(paths, ATTACKS.values(), strict=True):
        Path(path).write_bytes(data)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_EACH, *paths], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = [f"unsafe {p}: {REFUSALS[name]}" for p, name in zip(paths, ATTACKS, strict=True)]
    assert result.stdout.splitlines() == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([probs(c1=1.0)], "expected a dict of S2 file name -> 17 fractions, got a list"),
        (np.array(probs(c1=1.0)), "expected a dict of S2 file name -> 17 fractions, got a ndarray"),
        ({}, "the pickle holds no entries"),
        (
            {A.filename("s2"): "0.5,0.5"},
            "no usable entry: ROIs1158_spring_s2_1_p30.tif: a str, expected 17 values$",
        ),
        (
            {B.filename("s2"): probs(c1=0.5), A.filename("s2"): [], 7: None},
            "no usable entry: 7: key is a int, expected a file name \\(and 2 more\\)",
        ),
    ],
)
def test_bad_files_are_data_errors(tmp_path: Path, content: object, message: str) -> None:
    path = dump(tmp_path / "labels.pkl", content)
    with pytest.raises(DataError, match=rf"labels\.pkl: {message}") as err:
        load_probability_pickle(path)
    assert "\n" not in str(err.value)


GOOD = {C.filename("s2"): probs(c10=1.0)}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            {A.filename("s2"): [str(x) for x in probs(c1=1.0)]},
            "a str among the values, expected numbers",
        ),
        ({A.filename("s2"): np.array(probs(c1=1.0)) > 0}, "'b'-kind values, expected numbers"),
        ({A.filename("s2"): [True, *probs()[1:]]}, "a bool among the values, expected numbers"),
        ({A.filename("s2"): [2**1024, *probs()[1:]]}, "a value too large for a float"),
        ({A.filename("s2"): probs(c1=1.0)[:16]}, "16 values, expected 17"),
        ({A.filename("s2"): [probs(c1=1.0)] * 2}, "2 values, expected 17"),
        ({A.filename("s2"): np.array([probs(c1=1.0)] * 2)}, "shape (2, 17), expected 17 values"),
        ({A.filename("s2"): [[1.0], *probs()[1:]]}, "a nested sequence, expected 17 values"),
        ({A.filename("s2"): {"c1": 1.0}}, "a dict, expected 17 values"),
        ({A.filename("s2"): probs(c1=float("nan"))}, "non-finite value (NaN or Inf)"),
        ({A.filename("s2"): probs(c1=1.5, c2=-0.5)}, "value outside [0, 1] (-0.5 .. 1.5)"),
        ({A.filename("s2"): probs(c1=0.5, c2=0.4)}, "values sum to 0.9, expected 1 (±0.001)"),
    ],
)
def test_a_bad_value_is_skipped_and_named(tmp_path: Path, bad: dict[str, Any], reason: str) -> None:
    loaded = load_probability_pickle(dump(tmp_path / "p.pkl", {**bad, **GOOD}))
    assert list(loaded.fractions) == [C]
    assert loaded.skipped == [f"ROIs1158_spring_s2_1_p30.tif: {reason}"]


def test_self_referencing_lists_are_skipped_quickly(tmp_path: Path) -> None:
    # numpy would explore 17 ** 32 paths through this list; the loader never hands it over.
    loop: list[object] = []
    loop.extend([loop] * 17)
    loaded = load_probability_pickle(dump(tmp_path / "p.pkl", {A.filename("s2"): loop, **GOOD}))
    assert loaded.skipped == ["ROIs1158_spring_s2_1_p30.tif: a nested sequence, expected 17 values"]


def test_bad_keys_are_skipped_and_named(tmp_path: Path) -> None:
    content: dict[object, list[float]] = {
        "ROIs1158_spring_s2_1.tif": probs(c1=1.0),
        7: probs(c1=1.0),
        "two\nlines": probs(c1=1.0),
        A.filename("s2"): probs(c1=1.0),
        str(A): probs(c2=1.0),
        B.filename("s2"): probs(
            c1=1.0 - defaults.PROBABILITY_SUM_TOLERANCE / 2
        ),  # within the tolerance
        C.filename("s2"): probs(c10=1.0),
    }
    loaded = load_probability_pickle(dump(tmp_path / "p.pkl", content))
    assert list(loaded.fractions) == [C, B]
    assert loaded.skipped == [
        "ROIs1158_spring_s2_1.tif: not a SEN12MS S2 file name",
        "7: key is a int, expected a file name",
        "'two\\nlines': not a SEN12MS S2 file name",
        "ROIs1158_spring_s2_1_p30.tif, ROIs1158_spring_1_p30: 2 keys name the same patch "
        "ROIs1158_spring_1_p30",
    ]
    strict = load_probability_pickle(tmp_path / "p.pkl", sum_tolerance=1e-6)
    assert list(strict.fractions) == [C]
    assert strict.skipped[-1] == f"{B.filename('s2')}: values sum to 0.9995, expected 1 (±1e-06)"


def test_truncated_and_non_pickle_files_are_data_errors(tmp_path: Path) -> None:
    full = pickle.dumps({A.filename("s2"): np.array(probs(c1=1.0))})
    broken = {
        "cut.pkl": full[: len(full) // 2],
        "tail.pkl": full[:-1],
        "empty.pkl": b"",
        "text.pkl": b"patch,probabilities\n",
        "outofband.pkl": pickle.dumps(
            {A.filename("s2"): np.array(probs(c1=1.0))},
            protocol=5,
            buffer_callback=list.append.__get__([]),
        ),
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
    from_pickle = load_probability_pickle(path).fractions
    comparison = compare_probabilities(from_lc, from_pickle, tolerance=1e-3)
    assert comparison.compared == 2
    assert [d.patch_id for d in comparison.disagreements] == [B]
    assert comparison.disagreements[0].max_difference == pytest.approx(0.05)
    assert comparison.disagreements[0].code == 10
    assert comparison.missing == [C]
    summary = comparison.summary(1e-3)
    assert "2 patch(es) compared" in summary
    assert "1 differ by more than 0.001" in summary
    assert "worst ROIs2017_winter_44_p5: 0.05 on IGBP 10" in summary
    assert "1 missing" in summary
    loose = compare_probabilities(from_lc, from_pickle, tolerance=0.06)
    assert loose.disagreements == []
    assert loose.missing == [C]
