"""Evaluation of per-sensor encoders: each input through its own network(s), s1s2 the
concatenation, retrieval S1 <-> S2 through the two networks, cache keys naming the networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sensormoco.cli.main import main
from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, S2_LAND_BANDS, SEN12MS_NORMALIZATION
from sensormoco.errors import DataError
from sensormoco.evaluation.features import FeatureCache
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.protocols import SeedContext, cross_modal_retrieval
from sensormoco.evaluation.run import EvalConfig, run_evaluation
from sensormoco.evaluation.variants import PairedFeatureNet, load_variant
from sensormoco.training.checkpoint import encoder_metadata, load_encoder, load_paired_encoders
from tests.export.conftest import write_paired_encoder

FAST: dict[str, Any] = {"backbone": "resnet18", "epochs": 2, "batch_size": 16, "val_fraction": 0.2}


@pytest.fixture(scope="module")
def paired_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-sensor encoder file (conv1 adapters), shared read-only."""
    return write_paired_encoder(tmp_path_factory.mktemp("paired") / "encoder.pt")


def test_each_input_runs_its_own_network_and_s1s2_concatenates(paired_encoder: Path) -> None:
    encoders, _ = load_paired_encoders(paired_encoder)
    x = torch.randn(3, 12, 32, 32)  # N x C x H x W, fusion layout (10 S2 bands, VV, VH)
    with torch.no_grad():
        s1 = encoders["s1"].eval().features(x[:, 10:])  # N x 512
        s2 = encoders["s2"].eval().features(x[:, :10])  # N x 512
        for input_, bands, x_in, expected in (
            ("s1", S1_BANDS, x[:, 10:], s1),
            ("s2", S2_LAND_BANDS, x[:, :10], s2),
            ("s1s2", FUSION_BANDS, x, torch.cat([s1, s2], dim=1)),
        ):
            loaded = load_variant("moco", input_, "resnet18", paired_encoder, SEN12MS_NORMALIZATION)
            net = loaded.features
            assert isinstance(net, PairedFeatureNet)
            assert net.bands == bands
            assert net.networks == tuple(s for s in ("s1", "s2") if s in input_)
            assert net.num_features == expected.shape[1]
            torch.testing.assert_close(net.eval()(x_in), expected)
    assert loaded.encoder is None
    assert loaded.encoders is not None
    assert loaded.metadata["backbone"] == "resnet18"


@pytest.mark.slow
def test_moco_1x1_rnd_reinitialises_both_adapters(tmp_path: Path) -> None:
    path = write_paired_encoder(tmp_path / "e.pt", "1x1")
    rnd = load_variant("moco-1x1-rnd", "s1s2", "resnet18", path)
    assert rnd.reinitialised
    assert {k.split(".")[0] for k in rnd.reinitialised} == {"s1", "s2"}
    assert all(k.split(".")[1] == "adapter" for k in rnd.reinitialised)
    assert all(p.requires_grad for p in rnd.features.parameters())
    with pytest.raises(DataError, match="needs a 1x1-adapter encoder"):
        load_variant("moco-1x1", "s1s2", "resnet18", write_paired_encoder(tmp_path / "c.pt"))


def test_metadata_and_the_single_encoder_loader(paired_encoder: Path) -> None:
    meta = encoder_metadata(paired_encoder)
    assert (meta["encoder"], meta["backbone"], meta["adapter"]) == (
        "per-sensor",
        "resnet18",
        "conv1",
    )
    assert meta["sensors"] == {"s1": list(S1_BANDS), "s2": list(S2_LAND_BANDS)}
    with pytest.raises(DataError, match=r"per-sensor encoders .*sensormoco\.load_paired_encoders"):
        load_encoder(paired_encoder)


def test_cache_keys_name_the_networks_and_retrieval_uses_both(
    synth_root: Path, paired_encoder: Path, tmp_path: Path
) -> None:
    from sensormoco.evaluation.data import load_sen12ms

    data = load_sen12ms(synth_root, val_fraction=0.2)
    cache = FeatureCache(tmp_path / "features", LoaderSettings(16))
    config = EvalConfig(str(synth_root), str(paired_encoder), input="s1", **FAST)
    abouts = {}
    for input_ in ("s1", "s2", "s1s2"):
        loaded = load_variant("moco", input_, "resnet18", paired_encoder)
        ctx = SeedContext(config, data, loaded, cache, "sha", 0)
        abouts[input_] = ctx.about["networks"]
    assert abouts == {"s1": ["s1"], "s2": ["s2"], "s1s2": ["s1", "s2"]}
    ids = data.test_ids
    result = cross_modal_retrieval(loaded, data, ids, cache, ctx.about)
    assert result is not None
    assert set(result) >= {"s1_to_s2_r@1", "s2_to_s1_r@10", "chance_r@1"}
    encoders, _ = load_paired_encoders(paired_encoder)
    samples = data.samples(ids, "single")
    with torch.no_grad():  # S1 patches through the S1 network, S2 through the S2 network
        e_s1 = encoders["s1"].eval()(torch.stack([samples[i]["s1"] for i in range(len(ids))]))
        e_s2 = encoders["s2"].eval()(torch.stack([samples[i]["s2"] for i in range(len(ids))]))
    from sensormoco.evaluation.retrieval import cross_modal_recall

    assert cross_modal_recall(e_s1, e_s2) == {k: v for k, v in result.items() if "chance" not in k}
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2  # one per network


def test_linear_s1s2_run_reports_retrieval_and_robustness(
    synth_root: Path, paired_encoder: Path, tmp_path: Path
) -> None:
    config = EvalConfig(str(synth_root), str(paired_encoder), input="s1s2", budget=20,
                        seeds=(0,), **FAST)  # fmt: skip
    result = run_evaluation(config, tmp_path / "run", progress=lambda _: None).to_dict()
    assert result["retrieval"]["s1_to_s2_r@1"] >= 0
    assert set(result["aggregate_s1_zeroed"]) == set(result["aggregate"]) == {
        "oa", "aa", "macro_f1", "kappa"}  # fmt: skip
    assert "## Cross-modal retrieval" in (tmp_path / "run" / "metrics.md").read_text()


def test_finetuning_trains_both_networks_with_one_head(paired_encoder: Path) -> None:
    from sensormoco.evaluation.classify import Classifier

    loaded = load_variant("moco", "s1s2", "resnet18", paired_encoder)
    classifier = Classifier(loaded.features, 10, frozen=False)
    assert classifier.head.in_features == 1024  # F_S1 + F_S2
    classifier(torch.randn(4, 12, 32, 32)).sum().backward()
    grads = {k: p.grad for k, p in classifier.named_parameters()}
    for sensor in ("s1", "s2"):
        own = [g for k, g in grads.items() if f"backbones.{sensor}." in k]
        assert own
        assert all(g is not None and bool(g.abs().sum() > 0) for g in own[:3])


@pytest.mark.slow
def test_finetune_run(synth_root: Path, paired_encoder: Path, tmp_path: Path) -> None:
    config = EvalConfig(str(synth_root), str(paired_encoder), protocol="finetune", input="s1s2",
                        budget=20, seeds=(0,), **FAST | {"epochs": 1})  # fmt: skip
    result = run_evaluation(config, tmp_path / "run", progress=lambda _: None).to_dict()
    assert result["per_seed"][0]["train"] == 16
    assert "aggregate_s2_zeroed" in result


@pytest.mark.slow
def test_cli_evaluates_a_per_sensor_pretraining(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "pre"
    assert main(["pretrain", "--data", str(synth_root), "--mode", "sensor-pairs",
                 "--config", "cpu-small", "--encoder-kind", "per-sensor", "--crop-size", "32",
                 "--batch-size", "8", "--queue-size", "32", "--max-steps", "2",
                 "--out", str(run), "--quiet"]) == 0  # fmt: skip
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(synth_root), "--encoder", str(run / "encoder.pt"),
                 "--protocol", "knn", "--input", "s2", "--budget", "20", "--seeds", "0",
                 "--val-fraction", "0.2", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["retrieval"] is not None  # the two networks embed either sensor
    assert "oa" in metrics["aggregate"]
