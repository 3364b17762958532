"""Shared fixtures: real GeoTIFF triplets written with rasterio, never mocks."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from sensormoco.data.geotiff import write_raster
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.progress import set_quiet
from tests.data.benv2_sample import benv2_lmdb, benv2_tree  # noqa: F401 (fixtures, BigEarthNet v2)
from tests.threads import share_threads_between_workers

MakeTriplet = Callable[..., PatchId]


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker uses its share of the cores (see tests/threads.py)."""
    share_threads_between_workers()


@pytest.fixture(autouse=True)
def _no_progress_lines() -> Iterator[None]:
    """Progress lines (on stderr) are off, so tests can read stderr's one-line errors; the
    console tests turn them on."""
    set_quiet(True)
    yield
    set_quiet(False)


def _default(sensor: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if sensor == "s1":
        return rng.uniform(-25, 0, (2, size, size)).astype(np.float32)
    if sensor == "s2":
        return rng.integers(0, 10000, (13, size, size)).astype(np.uint16)
    return rng.integers(1, 18, (4, size, size)).astype(np.uint16)


@pytest.fixture
def make_triplet() -> MakeTriplet:
    """Write one SEN12MS triplet under ``root``; pass an array per sensor to override it, or
    ``None`` to leave that sensor's file out. Returns the patch id."""

    def make(
        root: Path,
        pid: str | PatchId = "ROIs1158_spring_1_p1",
        size: int = 16,
        crs: str = "EPSG:32633",
        origin: tuple[float, float] = (500000.0, 5000000.0),
        seed: int = 0,
        **arrays: np.ndarray | None,
    ) -> PatchId:
        pid = PatchId.parse(pid) if isinstance(pid, str) else pid
        rng = np.random.default_rng(seed)
        transform = Affine(10, 0, origin[0], 0, -10, origin[1])
        for sensor in ("s1", "s2", "lc"):
            data = arrays.get(sensor, _default(sensor, size, rng))
            if data is not None:
                write_raster(root / pid.relpath(sensor), data, crs, transform)
        return pid

    return make


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic SEN12MS tree (8 scenes of 3 x 3 patches at 32 px), shared read-only."""
    from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms

    root = tmp_path_factory.mktemp("synth") / "sen12ms"
    synthesize_sen12ms(root, SynthConfig(scenes=8, grid=3, size=32, seed=0), probabilities=True)
    return root


@pytest.fixture(scope="session")
def ben(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real example roots (S1, S2), extracted once and shared read-only."""
    out = tmp_path_factory.mktemp("bigearthnet")
    package = files("bigearthnet_common")
    for sensor in ("S1", "S2"):
        with (
            package.joinpath(f"BigEarthNet-{sensor}-Example.tar.bz2").open("rb") as raw,
            tarfile.open(fileobj=raw, mode="r:bz2") as tar,
        ):
            if hasattr(tarfile, "data_filter"):
                tar.extractall(out, filter="data")
            else:  # Python without extraction filters (3.10 before 3.10.12)
                tar.extractall(out)  # a pinned, trusted test archive
    return out / "BigEarthNet-S1-Example", out / "BigEarthNet-S2-Example"
