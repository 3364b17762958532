"""Features computed batch by batch into keyed .npy files, reused only under the same key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from sensormoco.data.bands import S2_LAND_BANDS
from sensormoco.evaluation.classify import predict
from sensormoco.evaluation.data import load_sen12ms
from sensormoco.evaluation.features import FeatureCache, feature_key, weights_sha256
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.variants import load_variant


class Counting(nn.Module):
    """A network that counts the samples it sees and can fail after some batches."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(10, 3)
        self.seen = 0
        self.batches = 0
        self.fail_after = fail_after

    def forward(self, x: Tensor) -> Tensor:
        if self.fail_after is not None and self.batches == self.fail_after:
            raise RuntimeError("interrupted")
        self.batches += 1
        self.seen += len(x)
        out: Tensor = self.linear(x.mean(dim=(2, 3)))  # N x 3
        return out


def test_features_equal_the_network_on_stacked_inputs(synth_root: Path, tmp_path: Path):
    data = load_sen12ms(synth_root, val_fraction=0.2)
    ids = data.test_ids
    net = load_variant("supervised", "s2", "resnet18", seed=0).features
    cache = FeatureCache(tmp_path, LoaderSettings(batch_size=4, workers=2))
    network = {"weights": weights_sha256(net)}
    got = cache.features(net, network, data.samples(ids, "single"), data.fingerprint(ids),
                         ["s2"], S2_LAND_BANDS)["s2"]  # fmt: skip
    x = next(iter(DataLoader(data.samples(ids, "single"), batch_size=len(ids))))["s2"]
    assert isinstance(got, np.memmap)
    assert got.dtype == np.float32
    assert got.shape == (9, 512)
    assert torch.allclose(torch.from_numpy(np.array(got)), predict(net, x, 4), atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == [
        feature_key(network, "s2", S2_LAND_BANDS, data.fingerprint(ids)) + ".npy"
    ]


def test_a_cached_file_is_used_only_under_its_own_key(synth_root: Path, tmp_path: Path) -> None:
    data = load_sen12ms(synth_root, val_fraction=0.2)
    cache = FeatureCache(tmp_path, LoaderSettings(batch_size=4))
    net = Counting()
    ids = data.test_ids

    def run(network: dict[str, str], ids: list[Any], names: tuple[str, ...] = ("s2",)) -> None:
        cache.features(net, network, data.samples(ids, "single"), data.fingerprint(ids), names,
                       S2_LAND_BANDS)  # fmt: skip

    run({"weights": "a"}, ids)
    assert net.seen == 9
    run({"weights": "a"}, list(ids))
    assert net.seen == 9  # same network, data and ids: read from the file
    run({"weights": "b"}, ids)  # another encoder
    run({"weights": "a"}, ids[:-1])  # another id list
    run({"weights": "a"}, ids[::-1])  # the same ids in another order
    assert net.seen == 9 + 9 + 8 + 9
    assert len(list(tmp_path.glob("*.npy"))) == 4


def test_an_interrupted_computation_leaves_no_file(synth_root: Path, tmp_path: Path) -> None:
    data = load_sen12ms(synth_root, val_fraction=0.2)
    cache = FeatureCache(tmp_path, LoaderSettings(batch_size=4))
    ids = data.test_ids
    with pytest.raises(RuntimeError, match="interrupted"):
        cache.features(Counting(fail_after=2), {"weights": "a"}, data.samples(ids, "single"),
                       data.fingerprint(ids), ["s2"], S2_LAND_BANDS)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_weights_digest_sees_every_tensor() -> None:
    net = load_variant("supervised", "s2", "resnet18", seed=0).features
    digest = weights_sha256(net)
    assert weights_sha256(load_variant("supervised", "s2", "resnet18", seed=0).features) == digest
    assert weights_sha256(load_variant("supervised", "s2", "resnet18", seed=1).features) != digest
    bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert bn.num_batches_tracked is not None
    bn.num_batches_tracked.add_(1)  # an int64 buffer
    assert weights_sha256(net) != digest
