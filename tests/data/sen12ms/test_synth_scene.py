"""The synthetic scene model: fields, land cover, and S2/S1/lc derived from them."""

from __future__ import annotations

import numpy as np

from sensormoco.data.sen12ms.synth_scene import (
    LCCS_FROM_IGBP,
    land_cover_map,
    lc_from_cover,
    s1_from_cover,
    s2_from_cover,
    smooth_field,
)


def test_fields_and_cover_are_seeded_and_use_the_given_classes() -> None:
    field = smooth_field(np.random.default_rng(1), (40, 30), 6)  # 40 x 30
    assert field.dtype == np.float32
    assert abs(float(field.mean())) < 1e-5
    assert abs(float(field.std()) - 1.0) < 1e-3
    np.testing.assert_array_equal(field, smooth_field(np.random.default_rng(1), (40, 30), 6))
    cover = land_cover_map(np.random.default_rng(2), (40, 30), {3: 0.5, 12: 0.5}, 12.0, 4)
    assert cover.shape == (40, 30)
    assert set(np.unique(cover)) <= {3, 12}
    assert np.array_equal(cover[:4, :4], np.full((4, 4), cover[0, 0]))  # blocks of 4 px


def test_sensors_and_lc_follow_the_cover() -> None:
    rng = np.random.default_rng(3)
    cover = np.array([[1, 17], [13, 10]], dtype=np.uint8)  # 2 x 2
    texture = np.zeros((2, 2), np.float32)
    s2 = s2_from_cover(rng, cover, texture)
    s1 = s1_from_cover(rng, cover, texture)
    assert (s2.shape, s2.dtype) == ((13, 2, 2), np.dtype(np.float32))
    assert (s1.shape, s1.dtype) == ((2, 2, 2), np.dtype(np.float32))
    assert s2[7, 0, 1] < s2[7, 0, 0]  # water is darker than forest in NIR (B8)
    lc = lc_from_cover(cover)
    assert (lc.shape, lc.dtype) == ((4, 2, 2), np.dtype(np.uint16))
    assert lc[0].tolist() == cover.tolist()
    assert tuple(lc[1:, 1, 0]) == LCCS_FROM_IGBP[13]
