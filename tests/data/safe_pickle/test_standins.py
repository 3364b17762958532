"""The stand-ins: only plain little-endian numeric dtypes and exact byte counts become arrays."""

from __future__ import annotations

import numpy as np
import pytest

from sensormoco.data.safe_pickle.standins import ALLOWED, PickledDtype, Refused, materialize


def test_plain_dtypes_resolve_and_others_are_refused() -> None:
    assert PickledDtype("f4").resolve() == np.dtype("<f4")
    assert PickledDtype("u1").resolve() == np.dtype("|u1")
    for code in ("O", "U8", "V4", 3):
        with pytest.raises(Refused, match="is not allowed"):
            PickledDtype(code).resolve()
    big_endian = PickledDtype("f4")
    big_endian.state = (3, ">", None, None, None, -1, -1, 0)
    with pytest.raises(Refused, match="non-plain state"):
        big_endian.resolve()


def test_a_recorded_array_needs_its_exact_byte_count() -> None:
    frombuffer = ALLOWED[("numpy.core.numeric", "_frombuffer")]
    dtype = ALLOWED[("numpy", "dtype")]("f8")
    array = frombuffer(np.arange(3.0).tobytes(), dtype, (3,), "C")
    np.testing.assert_array_equal(materialize({"a": array}, {})["a"], np.arange(3.0))  # type: ignore[index]
    short = frombuffer(b"\x00" * 8, dtype, (3,), "C")
    with pytest.raises(Refused, match="needs 24 bytes, the pickle holds 8"):
        materialize(short, {})
    with pytest.raises(Refused, match=r"numpy\.dtype cannot take a pickled state"):
        ALLOWED[("numpy", "dtype")].__setstate__({"x": 1})
