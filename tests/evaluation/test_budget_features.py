"""A linear probe's budget features: rows of the cached train + val pool features equal the
features computed for the budget alone; only an encoder file's network computes the pool."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from sensormoco.data.bands import FUSION_BANDS, SEN12MS_NORMALIZATION
from sensormoco.evaluation.classify import Classifier
from sensormoco.evaluation.features import FeatureCache
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import SeedContext, _budget_features
from sensormoco.evaluation.run import EvalConfig, load_data
from sensormoco.evaluation.variants import load_variant
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder


def _context(config: EvalConfig, folder: Path) -> SeedContext:
    data = load_data(config)
    loaded = load_variant(
        config.variant, config.input, config.backbone, config.encoder, data.normalization, 0
    )
    cache = FeatureCache(folder, LoaderSettings(8))
    return SeedContext(config, data, loaded, cache, "sha", 0)


def test_pool_rows_equal_the_budgets_own_features(synth_root: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "encoder.pt"
    meta = {"normalization": SEN12MS_NORMALIZATION.select(FUSION_BANDS).to_dict()}
    export_encoder(build_encoder(FUSION_BANDS, "resnet18", "conv1", 16), path, meta)
    config = EvalConfig(str(synth_root), str(path), variant="moco", input="s1s2", budget=20,
                        seeds=(0,), backbone="resnet18", val_fraction=0.2)  # fmt: skip
    own = _context(config, tmp_path / "own")  # 1 seed x 20 patches < the pool: budget alone
    pooled = _context(replace(config, seeds=tuple(range(10))), tmp_path / "pool")
    train, val = own.data.budget(20, 0)
    pool = sum(map(len, own.data.budget(None, 0)))
    assert 20 < pool <= 10 * 20
    net = Classifier(own.loaded.features, own.k, frozen=True).features.eval()
    network = own.network(net, "features")
    a = _budget_features(own, net, network, train, val, "s1s2")
    b = _budget_features(pooled, net, network, train, val, "s1s2")
    assert len(list((tmp_path / "own").glob("*.npy"))) == 2  # train part, val part
    assert len(list((tmp_path / "pool").glob("*.npy"))) == 1  # the pool
    assert a[0].shape == b[0].shape == (16, a[0].shape[1])
    assert torch.allclose(a[0], b[0], atol=1e-5)
    assert torch.allclose(a[1], b[1], atol=1e-5)
    # once cached, the pool serves a run that would not have computed it
    c = _budget_features(replace(own, cache=pooled.cache), net, network, train, val, "s1s2")
    assert torch.equal(c[0], b[0])
    assert torch.equal(c[1], b[1])


def test_a_seeded_network_never_computes_the_pool(synth_root: Path, tmp_path: Path) -> None:
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=tuple(range(10)),
                        backbone="resnet18", val_fraction=0.2)  # fmt: skip
    ctx = _context(config, tmp_path / "f")
    train, val = ctx.data.budget(20, 0)
    net = Classifier(ctx.loaded.features, ctx.k, frozen=True).features.eval()
    _budget_features(ctx, net, ctx.network(net, "features"), train, val, config.input)
    assert len(list((tmp_path / "f").glob("*.npy"))) == 2
