"""The restricted unpickler: plain data loads, any other global is refused unimported."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.safe_pickle import load_restricted_pickle, short_text, type_name
from sensormoco.errors import DataError


def test_plain_data_and_numeric_arrays_load(tmp_path: Path) -> None:
    content = {"a": [1, 2.5, "x"], "b": np.arange(3, dtype=np.float32), "c": np.float64(0.25)}
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(content))
    loaded = load_restricted_pickle(path)
    assert isinstance(loaded, dict)
    assert loaded["a"] == [1, 2.5, "x"]
    np.testing.assert_array_equal(loaded["b"], np.arange(3, dtype=np.float32))
    assert loaded["c"] == 0.25
    assert type_name(loaded["b"]) == "ndarray"


def test_other_globals_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps({"when": Path("x")}))
    with pytest.raises(DataError, match="refused to load global pathlib") as err:
        load_restricted_pickle(path)
    assert err.value.kind == "unsafe"


def test_short_text_cuts_long_messages() -> None:
    assert short_text("abc", 5) == "abc"
    assert short_text("abcdefgh", 6) == "abc..."
