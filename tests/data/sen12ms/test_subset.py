from __future__ import annotations

import itertools

import numpy as np
import pytest

from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.subset import Footprint, non_overlapping

SIZE = 2560.0  # 256 px at 10 m
STRIDE = SIZE / 2


def _grid(rows: int, cols: int, numbers: list[int], crs: str = "EPSG:32633", scene: int = 1):
    """Row-major grid of patches with stride half the size; ``numbers`` gives patch numbers."""
    fps = []
    for k, (r, c) in enumerate(itertools.product(range(rows), range(cols))):
        left, top = 400000.0 + c * STRIDE, 5000000.0 - r * STRIDE
        pid = PatchId("ROIs1158_spring", scene, numbers[k])
        fps.append(Footprint(pid, crs, (left, top - SIZE, left + SIZE, top)))
    return fps


def _overlap(a: Footprint, b: Footprint) -> float:
    w = min(a.bounds[2], b.bounds[2]) - max(a.bounds[0], b.bounds[0])
    h = min(a.bounds[3], b.bounds[3]) - max(a.bounds[1], b.bounds[1])
    return max(w, 0) * max(h, 0)


def _reference(fps: list[Footprint], limit: float) -> list[PatchId]:
    """All-pairs greedy reference."""
    kept: list[Footprint] = []
    for fp in sorted(fps, key=lambda f: f.patch_id):
        area = (fp.bounds[2] - fp.bounds[0]) * (fp.bounds[3] - fp.bounds[1])
        if all(k.crs != fp.crs or _overlap(fp, k) <= limit * area for k in kept):
            kept.append(fp)
    return sorted(k.patch_id for k in kept)


def test_grid_keeps_every_other_row_and_column() -> None:
    rows, cols = 5, 7
    kept = non_overlapping(_grid(rows, cols, list(range(1, rows * cols + 1))))
    expected = [r * cols + c + 1 for r in range(0, rows, 2) for c in range(0, cols, 2)]
    assert [p.patch for p in kept] == expected


def test_shuffled_numbering_follows_the_numbers() -> None:
    rows, cols = 6, 6
    numbers = list(np.random.default_rng(3).permutation(rows * cols) + 1)
    fps = _grid(rows, cols, [int(n) for n in numbers])
    kept = non_overlapping(fps)
    assert kept == _reference(fps, 0.001)
    # the first patch in numeric order is always kept, and the result has no overlap
    assert PatchId("ROIs1158_spring", 1, 1) in kept
    chosen = [f for f in fps if f.patch_id in set(kept)]
    assert all(_overlap(a, b) == 0 for a, b in itertools.combinations(chosen, 2))
    # maximal: every dropped patch overlaps a kept one
    dropped = [f for f in fps if f.patch_id not in set(kept)]
    assert all(any(_overlap(d, k) > 0 for k in chosen) for d in dropped)


def test_zones_are_independent() -> None:
    a = _grid(2, 2, [1, 2, 3, 4], crs="EPSG:32633", scene=1)
    b = _grid(2, 2, [1, 2, 3, 4], crs="EPSG:32634", scene=2)
    assert len(non_overlapping(a + b)) == 2


@pytest.mark.parametrize(("shift_px", "kept"), [(255.8, 2), (255.6, 1)])
def test_overlap_threshold_is_a_share_of_area(shift_px: float, kept: int) -> None:
    # 0.2 px of 256 overlaps 0.078 % (kept); 0.4 px overlaps 0.156 % (> 0.1 %, dropped)
    first = Footprint(PatchId("ROIs1158_spring", 1, 1), "z", (0.0, 0.0, SIZE, SIZE))
    x = shift_px * 10
    second = Footprint(PatchId("ROIs1158_spring", 1, 2), "z", (x, 0.0, x + SIZE, SIZE))
    assert len(non_overlapping([first, second])) == kept


def test_random_layout_matches_all_pairs_reference() -> None:
    rng = np.random.default_rng(0)
    fps = []
    for k in range(300):
        x, y = rng.uniform(0, 40000, 2)
        side = rng.choice([SIZE, SIZE / 2])
        pid = PatchId("ROIs1868_summer", int(rng.integers(1, 4)), k)
        fps.append(Footprint(pid, str(rng.choice(["a", "b"])), (x, y, x + side, y + side)))
    assert non_overlapping(fps) == _reference(fps, 0.001)
