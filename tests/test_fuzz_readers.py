"""Fuzzing the readers of untrusted files with hypothesis (docs/reliability.md, "Fuzzing").

Each reader gets random bytes, generated content and mutated valid files. The property is the
same everywhere: the reader returns, or raises the one exception it documents (DataError) with
a one-line message that starts with the file's path. Anything else (a traceback from inside
rasterio, csv, json or pickle) fails the test with the falsifying input.

Runs are bounded and repeatable: a fixed example count per test, derandomised (the same inputs
on every run), no example database written to disk.
"""

from __future__ import annotations

import itertools
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensormoco.data.bigearthnet.labels import CLASSES_43, read_metadata
from sensormoco.data.bigearthnet.v1 import read_split_csv
from sensormoco.data.geotiff import read_info, read_raster, write_raster
from sensormoco.data.sen12ms.index import Index, read_index_csv
from sensormoco.data.sen12ms.labels import LabelRow, read_lc_fractions
from sensormoco.data.sen12ms.labels_csv import read_labels_csv, write_labels_csv
from sensormoco.data.sen12ms.layout import PatchId, PatchRecord, read_id_list
from sensormoco.data.sen12ms.probability_pickle import load_probability_pickle
from sensormoco.errors import DataError

T = TypeVar("T")

# Example counts: the whole file takes about 30 s on 2 cores.
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MANY = settings(FUZZ, max_examples=1000)
MAX_PIXELS = 1_000_000  # mutated headers declaring more are read as headers only (see below)

_counter = itertools.count()
_previous: list[Path] = []


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(workdir: Path, content: bytes, suffix: str) -> Path:
    """A fresh file per example (no reader or GDAL cache sees an earlier one), alone in its
    folder: GDAL lists the folder of every file it opens, looking for side-car files, so a
    folder that grew with the examples would make each open slower than the last."""
    while _previous:
        _previous.pop().unlink(missing_ok=True)
    path = workdir / "examples" / f"f{next(_counter)}{suffix}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    _previous.append(path)
    return path


def _only_data_error(path: Path, read: Callable[[Path], T]) -> T | None:
    """``read(path)``, or None when it raised the documented DataError: one line, starting
    with the path (``path`` or ``path:line``). Any other exception propagates."""
    try:
        return read(path)
    except DataError as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1, message
        assert message.startswith(str(path)), message
        return None


# --- mutations of valid files ----------------------------------------------------------------

Mutation = tuple[str, int, bytes]

mutations = st.lists(
    st.tuples(
        st.sampled_from(["set", "insert", "delete", "truncate"]),
        st.one_of(st.integers(0, 511), st.integers(0, 1 << 20)),  # the header, or anywhere
        st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=6,
)


def _mutate(data: bytes, edits: list[Mutation]) -> bytes:
    out = bytearray(data)
    for kind, position, payload in edits:
        at = position % (len(out) + 1)
        if kind == "set":
            out[at : at + len(payload)] = payload
        elif kind == "insert":
            out[at:at] = payload
        elif kind == "delete":
            del out[at : at + len(payload)]
        else:
            del out[at:]
    return bytes(out)


def _mutate_text(text: str, edits: list[Mutation]) -> bytes:
    """Mutate the UTF-8 bytes of ``text`` (so edits may also break the encoding)."""
    return _mutate(text.encode("utf-8"), edits)


# --- GeoTIFF ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiffs(workdir: Path) -> list[bytes]:
    """Valid GeoTIFFs of the shapes the readers meet: S1, S2 and lc patches (deflate, plain)
    and a one-band BigEarthNet-like band (LZW)."""
    rng = np.random.default_rng(0)
    transform = Affine(10, 0, 500000.0, 0, -10, 5000000.0)
    arrays: list[tuple[np.ndarray, str | None]] = [
        (rng.uniform(-25, 0, (2, 8, 8)).astype(np.float32), "deflate"),
        (rng.integers(0, 10000, (13, 8, 8)).astype(np.uint16), "deflate"),
        (rng.integers(1, 18, (4, 8, 8)).astype(np.uint8), None),
        (rng.integers(0, 10000, (1, 20, 20)).astype(np.uint16), "lzw"),
    ]
    out = []
    for i, (data, compress) in enumerate(arrays):
        path = workdir / f"seed{i}.tif"
        write_raster(path, data, "EPSG:32633", transform, compress=compress)
        out.append(path.read_bytes())
    return out


def _read_tiff(path: Path) -> None:
    """Every GeoTIFF reader on ``path``: header, all bands, band 1, lc fractions."""
    info = _only_data_error(path, read_info)
    if info is None or info.width * info.height * info.count > MAX_PIXELS:
        # A corrupt header can declare any size; read_raster refuses more than
        # defaults.MAX_RASTER_BYTES (tests/reliability), but reading up to that limit per
        # example would make the fuzz slow, so it does not go there.
        return
    _only_data_error(path, read_raster)
    _only_data_error(path, lambda p: read_raster(p, (1,)))
    _only_data_error(path, read_lc_fractions)


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=2048),
        st.binary(max_size=1024).map(lambda b: b"II*\x00" + b),
        st.binary(max_size=1024).map(lambda b: b"MM\x00*" + b),
        st.binary(max_size=1024).map(lambda b: b"II+\x00\x08\x00\x00\x00" + b),  # BigTIFF
    )
)
def test_geotiff_readers_on_random_bytes(workdir: Path, content: bytes) -> None:
    _read_tiff(_write(workdir, content, ".tif"))


@MANY
@given(which=st.integers(0, 3), edits=mutations)
def test_geotiff_readers_on_mutated_files(
    workdir: Path, tiffs: list[bytes], which: int, edits: list[Mutation]
) -> None:
    _read_tiff(_write(workdir, _mutate(tiffs[which], edits), ".tif"))


# --- CSV and text lists ----------------------------------------------------------------------

# Pieces of valid ids, names and CSV syntax, and characters that trip parsers.
TOKENS = [
    "ROIs1158_spring", "ROIs2017_winter", "_s2_", "_s1_", "_lc_", "_1", "_30", "_p", "5",
    ".tif", "/", "\\", "#", ",", ";", '"', " ", "\t", "\r", "\n", "\r\n", "\x00", "\ufeff",
    "\u2028", "\x85", "\x0c", "é", "١", "-", ".", "e", "nan", "inf", "0.5", "1e999",
    "S2A_MSIL2A_20170613T101031_87_48", "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)), max_size=60).map("".join)
files_of_text = st.one_of(
    texts.map(lambda t: t.encode("utf-8")),
    st.binary(max_size=512),
)

PIDS = [PatchId.parse(p) for p in ("ROIs1158_spring_1_p30", "ROIs2017_winter_44_p5")]


def _labels_csv(workdir: Path, scheme: str) -> str:
    k = 17 if scheme == "igbp17" else 10
    rows = [LabelRow(pid, i + 1, (i + 1, k), np.eye(k)[i] * 0.75 + 0.25 / k)
            for i, pid in enumerate(PIDS)]  # fmt: skip
    path = workdir / f"labels_{scheme}.csv"
    write_labels_csv(path, rows, scheme)
    return path.read_text(encoding="utf-8")


def _index_csv(workdir: Path) -> str:
    from sensormoco.data.sen12ms.index import write_index_csv

    good = PatchRecord(PIDS[0], {s: f"ROIs1158_spring/{s}_1/x.tif" for s in ("s1", "s2", "lc")},
                       "EPSG:32633", (0.0, 1.0, 2.0, 3.0), 16, 16,
                       {"s1": "float32", "s2": "uint16", "lc": "uint8"}, 2)  # fmt: skip
    bad = PatchRecord(PIDS[1], {"s1": "", "s2": "a.tif", "lc": ""}, reason="x: missing", kind="m")
    path = workdir / "index.csv"
    write_index_csv(Index(workdir, [good, bad]), path)
    return path.read_text(encoding="utf-8")


@FUZZ
@given(content=files_of_text, scheme=st.sampled_from([None, "igbp10", "igbp17"]))
def test_labels_csv_reader_on_random_text(
    workdir: Path, content: bytes, scheme: str | None
) -> None:
    _only_data_error(_write(workdir, content, ".csv"), lambda p: read_labels_csv(p, scheme))


@MANY
@given(scheme=st.sampled_from(["igbp10", "igbp17"]), edits=mutations, check=st.booleans())
def test_labels_csv_reader_on_mutated_files(
    workdir: Path, scheme: str, edits: list[Mutation], check: bool
) -> None:
    content = _mutate_text(_labels_csv(workdir, scheme), edits)
    path = _write(workdir, content, ".csv")
    rows = _only_data_error(path, lambda p: read_labels_csv(p, scheme if check else None))
    for row in rows or []:
        assert np.isfinite(row.fractions).all()
        assert 1 <= row.single <= len(row.fractions)


@FUZZ
@given(content=files_of_text)
def test_index_csv_reader_on_random_text(workdir: Path, content: bytes) -> None:
    _only_data_error(_write(workdir, content, ".csv"), lambda p: read_index_csv(p, workdir))


@MANY
@given(edits=mutations)
def test_index_csv_reader_on_mutated_files(workdir: Path, edits: list[Mutation]) -> None:
    path = _write(workdir, _mutate_text(_index_csv(workdir), edits), ".csv")
    _only_data_error(path, lambda p: read_index_csv(p, workdir))


ID_LIST = "# train ids\nROIs1158_spring_1_p30\nROIs2017_winter_s2_44_p5.tif\nROIs1868_summer/s2_3/ROIs1868_summer_s2_3_p1.tif  # a path\n"  # noqa: E501
SPLIT_CSV = "\ufeffs2,s1\nS2A_MSIL2A_20170613T101031_87_48,S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48\nS2B_MSIL2A_20180204T94161_57_38,S1A_IW_GRDH_1SDV_20180204T043253_35VPK_57_38\n"  # noqa: E501


@FUZZ
@given(content=st.one_of(files_of_text, mutations.map(lambda e: _mutate_text(ID_LIST, e))))
def test_id_list_reader(workdir: Path, content: bytes) -> None:
    ids = _only_data_error(_write(workdir, content, ".txt"), read_id_list)
    for pid in ids or []:
        assert PatchId.parse(str(pid)) == pid


@FUZZ
@given(content=st.one_of(files_of_text, mutations.map(lambda e: _mutate_text(SPLIT_CSV, e))))
def test_split_csv_reader(workdir: Path, content: bytes) -> None:
    pairs = _only_data_error(_write(workdir, content, ".csv"), read_split_csv)
    for s2, s1 in pairs or []:
        assert (s2[:2], s1[:2]) == ("S2", "S1")


# --- BigEarthNet JSON ------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
label_names = st.one_of(st.sampled_from(CLASSES_43), st.text(max_size=8))
metadata_like = st.fixed_dictionaries(
    {"labels": st.one_of(st.lists(label_names, max_size=4), json_values)},
    optional={
        "corresponding_s2_patch": st.one_of(st.text(max_size=12), json_values),
        "coordinates": json_values,
    },
)
METADATA = json.dumps({
    "labels": ["Pastures", "Coniferous forest"],
    "coordinates": {"ulx": 404400, "uly": 5342400, "lrx": 405600, "lly": 5341200},
    "projection": "EPSG:32633",
    "corresponding_s2_patch": "S2A_MSIL2A_20170613T101031_87_48",
    "scene_source": "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017015_01C5B2_7E25",
    "acquisition_time": "2017-06-13T16:50:43",
})  # fmt: skip


@MANY
@given(
    content=st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        metadata_like.map(lambda v: json.dumps(v).encode()),
        mutations.map(lambda e: _mutate_text(METADATA, e)),
        files_of_text,
    ),
    sensor=st.sampled_from(["s1", "s2"]),
)
def test_metadata_json_reader(workdir: Path, content: bytes, sensor: str) -> None:
    meta = _only_data_error(_write(workdir, content, ".json"), lambda p: read_metadata(p, sensor))
    if meta is not None:
        assert set(meta.labels) <= set(CLASSES_43)
        assert (meta.corresponding_s2_patch is None) == (sensor == "s2")


# --- the probability pickle ------------------------------------------------------------------

NAMES = [pid.filename("s2") for pid in PIDS]
numbers = st.one_of(
    st.floats(), st.integers(-(2**70), 2**70), st.booleans(), st.just(1 / 17), st.none()
)
arrays = st.builds(
    lambda dtype, values: np.array(values).astype(dtype),
    st.sampled_from(["<f4", "<f8", ">f8", "<i8", "u1", "b1", "<f2", "<c8", "O"]),
    st.lists(st.floats(0, 1), min_size=0, max_size=20),
)
entries = st.one_of(
    st.lists(numbers, min_size=15, max_size=18),
    st.lists(numbers, max_size=3),
    arrays,
    st.lists(st.floats(0, 1), min_size=17, max_size=17).map(tuple),
    st.text(max_size=5),
    st.dictionaries(st.text(max_size=3), numbers, max_size=2),
)
keys: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(NAMES), st.text(max_size=30), st.integers(), st.tuples(st.integers())
)
contents: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(keys, entries, max_size=4),
    st.lists(entries, max_size=3),
    entries,
)


def _valid_pickle(protocol: int) -> bytes:
    content = {
        NAMES[0]: [1 / 17] * 17,
        NAMES[1]: np.full(17, 1 / 17, dtype=np.float32),
        "ROIs1868_summer_s2_3_p1.tif": tuple(np.eye(17)[3]),
    }
    return pickle.dumps(content, protocol=protocol)


VALID_PICKLES = [_valid_pickle(protocol) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]


def _load_pickle(path: Path) -> None:
    loaded = _only_data_error(path, load_probability_pickle)
    if loaded is None:
        return
    assert loaded.fractions
    for fractions in loaded.fractions.values():
        assert fractions.shape == (17,)
        assert fractions.dtype == np.float64
        assert np.isfinite(fractions).all()
        assert fractions.min() >= 0.0
        assert fractions.max() <= 1.0
    for reason in loaded.skipped:
        assert len(reason.splitlines()) == 1, reason


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=1024),
        st.binary(max_size=512).map(lambda b: b"\x80\x04\x95" + b),  # protocol 4 framing
        st.binary(max_size=512).map(lambda b: b"(dp0\n" + b),  # protocol 0 dict
    )
)
def test_pickle_loader_on_random_bytes(workdir: Path, content: bytes) -> None:
    _load_pickle(_write(workdir, content, ".pkl"))


@MANY
@given(which=st.integers(0, len(VALID_PICKLES) - 1), edits=mutations)
def test_pickle_loader_on_mutated_files(workdir: Path, which: int, edits: list[Mutation]) -> None:
    _load_pickle(_write(workdir, _mutate(VALID_PICKLES[which], edits), ".pkl"))


@FUZZ
@given(content=contents, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_pickle_loader_on_unexpected_content(workdir: Path, content: Any, protocol: int) -> None:
    _load_pickle(_write(workdir, pickle.dumps(content, protocol=protocol), ".pkl"))
