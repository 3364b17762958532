"""The real BigEarthNet v2 sample of configilm 0.7.1 (MIT): ``metadata.parquet`` (18 patches,
6 per split), the snow/cloud/shadow parquet (6 more) and an LMDB with the real pixels of all
24 S1/S2 pairs. configilm is never installed (it pins numpy < 2): its wheel is fetched once with
``pip download --no-deps`` into a cache and the files are read out of the zip. A failed
download fails the tests that need it, with the reason.

``benv2_lmdb`` is the sample as shipped; ``benv2_tree`` is the same pixels written as the
v2 GeoTIFF tree (rasterio, UTM CRS and a 10 / 20 / 60 m transform per band).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from affine import Affine
from safetensors.numpy import load as load_safetensors

from sensormoco.data.bigearthnet.v2_lmdb import open_environment
from sensormoco.data.bigearthnet.v2_tree import patch_dir
from sensormoco.data.geotiff import write_raster

WHEEL = "configilm-0.7.1-py3-none-any.whl"
WHEEL_SHA256 = "54e8c2424c55bb4e68dfda07593e155e9ecfa6c60b50585c4b378076934cf5e3"
PREFIX = "configilm/extra/mock_data/BENv2/"
LMDB_FOLDER = "BigEarthNet-V2-LMDB"
PARQUETS = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")


def _cache_dir(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("configilm-0.7.1"))
    return Path.home() / ".cache" / "sensormoco-test" / "configilm-0.7.1"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def configilm_wheel(cache: Path) -> Path:
    """The configilm 0.7.1 wheel in ``cache``, downloaded (without dependencies) if absent."""
    wheel = cache / WHEEL
    if wheel.is_file() and _sha256(wheel) == WHEEL_SHA256:
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                   "configilm==0.7.1", "-d", tmp]  # fmt: skip
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"cannot download the BigEarthNet v2 test sample ({' '.join(command)}): "
                        f"{exc}", pytrace=False)  # fmt: skip
        got = Path(tmp) / WHEEL
        if run.returncode != 0 or not got.is_file():
            tail = " ".join((run.stderr or run.stdout).split())[-500:]
            pytest.fail(f"cannot download the BigEarthNet v2 test sample ({' '.join(command)}, "
                        f"exit {run.returncode}): {tail}", pytrace=False)  # fmt: skip
        if _sha256(got) != WHEEL_SHA256:
            pytest.fail(f"{WHEEL} from PyPI has an unexpected sha256", pytrace=False)
        os.replace(got, wheel)  # atomic: parallel test workers may race here
    return wheel


def extract_sample(wheel: Path, out: Path) -> Path:
    """Extract the BENv2 sample (two parquets, the LMDB folder) into ``out``; returns ``out``."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.startswith(PREFIX) and not info.is_dir():
                target = out / info.filename[len(PREFIX) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
    return out


def _transform(name: str, size: int) -> Affine:
    pixel = 1200.0 / size  # a patch covers 1,200 m
    row, col = (int(x) for x in name.split("_")[-2:])
    return Affine(pixel, 0, 300000.0 + 1200.0 * col, 0, -pixel, 5400000.0 - 1200.0 * row)


def _crs(name: str) -> str:
    zone = name.split("_")[-3].lstrip("T")[:2]  # the tile (T33UUP) or its S1 form (33UUP)
    return f"EPSG:326{zone}"


def write_tree(lmdb_root: Path, out: Path) -> Path:
    """The v2 GeoTIFF tree of every patch in ``lmdb_root``'s LMDB (one file per band), with
    copies of its parquets; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in PARQUETS:
        shutil.copy(lmdb_root / name, out / name)
    with open_environment(lmdb_root / LMDB_FOLDER).begin() as txn:
        for key, value in txn.cursor():
            name = key.decode()
            folder = patch_dir(out, name)
            for band, data in load_safetensors(bytes(value)).items():
                path = folder / f"{name}_{band}.tif"
                write_raster(path, data[None], _crs(name), _transform(name, data.shape[-1]))
    return out


@pytest.fixture(scope="session")
def benv2_lmdb(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """The configilm BENv2 sample root (parquets beside ``BigEarthNet-V2-LMDB/``), read-only."""
    wheel = configilm_wheel(_cache_dir(pytestconfig))
    return extract_sample(wheel, tmp_path_factory.mktemp("benv2") / "lmdb")


@pytest.fixture(scope="session")
def benv2_tree(tmp_path_factory: pytest.TempPathFactory, benv2_lmdb: Path) -> Path:
    """The same 24 pairs as a v2 GeoTIFF tree root, read-only."""
    return write_tree(benv2_lmdb, tmp_path_factory.mktemp("benv2") / "tree")
