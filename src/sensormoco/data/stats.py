"""Per-band statistics computed by streaming over patches (Chan et al.'s parallel variance).

Memory stays O(bands) whatever the number of patches; results equal a two-pass computation up
to float64 rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sensormoco.data.bands import Normalization


@dataclass
class RunningStats:
    """Per-band count, mean and sum of squared deviations (M2), in float64."""

    bands: tuple[str, ...]
    count: np.ndarray = field(init=False)  # C
    mean: np.ndarray = field(init=False)  # C
    m2: np.ndarray = field(init=False)  # C

    def __post_init__(self) -> None:
        n = len(self.bands)
        self.count, self.mean, self.m2 = np.zeros(n), np.zeros(n), np.zeros(n)

    def update(self, x: np.ndarray) -> None:
        """Add one patch of shape (C, H, W)."""
        if x.ndim != 3 or x.shape[0] != len(self.bands):
            raise ValueError(f"expected ({len(self.bands)}, H, W), got {x.shape}")
        flat = x.reshape(x.shape[0], -1).astype(np.float64)  # C x HW
        n_b = float(flat.shape[1])
        mean_b = flat.mean(axis=1)  # C
        m2_b = ((flat - mean_b[:, None]) ** 2).sum(axis=1)  # C
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / total)
        self.count = total

    def normalization(self) -> Normalization:
        """Mean and population standard deviation per band."""
        if not self.count.any():
            raise ValueError("no data seen")
        std = np.sqrt(self.m2 / self.count)
        return Normalization(self.bands, tuple(self.mean.tolist()), tuple(std.tolist()))


def stream_statistics(bands: Sequence[str], patches: Iterable[np.ndarray]) -> Normalization:
    """Statistics of ``bands`` over patches of shape (C, H, W), read one at a time."""
    stats = RunningStats(tuple(bands))
    for patch in patches:
        stats.update(patch)
    return stats.normalization()
