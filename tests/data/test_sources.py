"""data/sources.py: one chooser over trees and stores; raw samples standardised on the batch."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sensormoco.data.bands import SEN12MS_NORMALIZATION
from sensormoco.data.sources import open_patches, open_source, standardize
from sensormoco.data.store.format import open_store
from sensormoco.data.store.pack import pack_sen12ms
from sensormoco.errors import DataError


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tree whose lc layer 1 has invalid codes in one patch and none valid in another, and
    its store."""
    from affine import Affine

    from sensormoco.data.geotiff import write_raster
    from sensormoco.data.sen12ms.layout import PatchId

    root = tmp_path_factory.mktemp("labelled") / "tree"
    rng = np.random.default_rng(0)
    for number in range(1, 5):
        pid = PatchId("ROIs1158_spring", 1, number)
        lc = rng.integers(1, 18, (4, 16, 16)).astype(np.uint16)
        if number == 2:
            lc[0, :3] = 0  # 48 pixels without an IGBP code
        if number == 3:
            lc[0] = 255  # no valid pixel: no label
        arrays: dict[str, np.ndarray] = {
            "s1": rng.uniform(-25, 0, (2, 16, 16)).astype(np.float32),
            "s2": rng.integers(0, 12000, (13, 16, 16)).astype(np.uint16),
            "lc": lc,
        }
        transform = Affine(10, 0, 500000.0 + 160 * number, 0, -10, 5000000.0)
        for sensor, data in arrays.items():
            write_raster(root / pid.relpath(sensor), data, "EPSG:32633", transform)
    store = root.with_name("store")
    pack_sen12ms(root, store)
    return root, store


def test_tree_and_store_sources_agree(labelled: tuple[Path, Path]) -> None:
    tree, store = (open_source(p) for p in labelled)
    assert (tree.kind, store.kind) == ("tree", "store")
    assert tree.ids == store.ids
    assert tree.footprints() == store.footprints()
    a, b = tree.igbp_fractions(), store.igbp_fractions()
    assert a.fractions.keys() == b.fractions.keys()
    assert all(np.array_equal(a.fractions[p], b.fractions[p]) for p in a.fractions)
    assert a.invalid_pixels == b.invalid_pixels
    assert list(a.invalid_pixels.values()) == [48]
    assert a.errors.keys() == b.errors.keys()
    (error,) = b.errors.values()
    assert "lc.npy row 2 (ROIs1158_spring_1_p3): no pixel has a valid IGBP code" in str(error)


def test_version_1_store_still_reads(labelled: tuple[Path, Path], tmp_path: Path) -> None:
    old = tmp_path / "v1"
    shutil.copytree(labelled[1], old)
    (old / "rows.csv").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["version"] = 1
    del manifest["sha256"]["rows.csv"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert open_store(old).version == 1
    new, v1 = open_source(labelled[1]).igbp_fractions(), open_source(old).igbp_fractions()
    assert new.invalid_pixels == v1.invalid_pixels == {open_store(old).ids[1]: 48}


def test_store_refuses_an_index(labelled: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a packed store; --index applies to a GeoTIFF tree"):
        open_source(labelled[1], index_csv=tmp_path / "index.csv")
    with pytest.raises(DataError, match="not a directory"):
        open_source(tmp_path / "nowhere")


@pytest.mark.parametrize("which", [0, 1])
def test_raw_batches_standardise_to_the_same_bits(labelled: tuple[Path, Path], which: int) -> None:
    norm = SEN12MS_NORMALIZATION
    plain = open_patches(labelled[which]).dataset
    raw = open_patches(labelled[which], raw=True).dataset
    assert raw[0]["s2"].dtype == torch.int16
    assert raw[0]["s1"].dtype == torch.float32
    assert int(raw[0]["s2"].max()) <= 10000  # clipped as stored
    for a, b in zip(DataLoader(plain, batch_size=3), DataLoader(raw, batch_size=3), strict=True):
        b = standardize(b, norm.select(raw.s1_bands), norm.select(raw.s2_bands))
        assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def test_raw_tree_and_store_samples_are_equal(labelled: tuple[Path, Path]) -> None:
    tree, store = (
        open_patches(p, raw=True, s2_bands="s2-all", normalization=None).dataset for p in labelled
    )
    for i in range(len(tree)):
        x, y = tree[i], store[i]
        digest = [hashlib.sha256(x[k].numpy().tobytes()).hexdigest() for k in ("s1", "s2")]
        assert digest == [hashlib.sha256(y[k].numpy().tobytes()).hexdigest() for k in ("s1", "s2")]
        assert x["s2"].dtype == y["s2"].dtype == torch.int16
