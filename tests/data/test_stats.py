from __future__ import annotations

import numpy as np

from sensormoco.data.stats import stream_statistics


def test_streaming_statistics_equal_two_pass() -> None:
    rng = np.random.default_rng(0)
    patches = [rng.normal(loc=[[[1000.0]], [[-12.0]]], scale=[[[300.0]], [[4.0]]],
                          size=(2, 8 + k, 8 + k)) for k in range(6)]  # fmt: skip
    norm = stream_statistics(("B2", "VV"), iter(patches))
    flat = np.concatenate([p.reshape(2, -1) for p in patches], axis=1)
    np.testing.assert_allclose(norm.mean, flat.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(norm.std, flat.std(axis=1), rtol=1e-12)
    assert norm.bands == ("B2", "VV")
