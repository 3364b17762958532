"""SEN12MS pixels as the models see them: S1 dB cleaning, S2 clipping."""

from __future__ import annotations

import numpy as np

from sensormoco.data.sen12ms.pixels import clip_s2_raw_, preprocess_s1, preprocess_s2


def test_s1_nan_handling_matches_sen12ms_code() -> None:
    values = [[[np.nan, np.inf], [-np.inf, -30.0]], [[-5.0, 3.0], [-12.5, np.nan]]]
    data = np.array(values, dtype=np.float32)
    out, nonfinite = preprocess_s1(data)
    assert nonfinite == 4
    expected = np.clip(np.nan_to_num(data), -25, 0)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32


def test_s2_is_clipped_to_10000_alike_as_float_and_as_stored() -> None:
    stored = np.array([[[0, 9999], [10000, 65535]]], dtype=np.uint16)  # 1 x 2 x 2
    as_float = preprocess_s2(stored)
    assert as_float.dtype == np.float32
    assert as_float.tolist() == [[[0.0, 9999.0], [10000.0, 10000.0]]]
    raw = clip_s2_raw_(stored.copy())
    assert raw.dtype == np.int16
    np.testing.assert_array_equal(raw.astype(np.float32), as_float)
