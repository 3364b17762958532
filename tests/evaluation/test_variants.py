"""Transfer variants: each loads exactly what it should, and refuses what does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, SEN12MS_NORMALIZATION, Normalization
from sensormoco.errors import DataError
from sensormoco.evaluation.variants import FeatureNet, load_partial, load_variant, model_input
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder

META = {"normalization": SEN12MS_NORMALIZATION.select(FUSION_BANDS).to_dict()}


def _export(tmp_path: Path, adapter: str, bands: tuple[str, ...] = FUSION_BANDS) -> Path:
    torch.manual_seed(1)
    encoder = build_encoder(bands, "resnet18", adapter, 16)
    for module in encoder.modules():  # make BN buffers distinguishable from a fresh init
        if isinstance(module, torch.nn.BatchNorm2d) and module.running_mean is not None:
            module.running_mean.uniform_()
    path = tmp_path / f"{adapter}.pt"
    meta = {"normalization": SEN12MS_NORMALIZATION.select(bands).to_dict()}
    export_encoder(encoder, path, meta)
    return path


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str) -> bool:
    keys = [k for k in a if k.startswith(prefix)]
    return bool(keys) and all(torch.equal(a[k], b[k]) for k in keys)


def test_moco_loads_adapter_and_backbone_and_drops_the_head(tmp_path: Path) -> None:
    path = _export(tmp_path, "conv1")
    loaded = load_variant("moco", "s1s2", "resnet18", path, SEN12MS_NORMALIZATION)
    assert loaded.encoder is not None
    assert loaded.reinitialised == []
    saved = loaded.encoder.state_dict()
    ours = loaded.features.state_dict()
    assert not any(k.startswith("head.") for k in ours)
    assert all(torch.equal(v, saved[k]) for k, v in ours.items())


def test_moco_1x1_rnd_reinitialises_exactly_the_adapter(tmp_path: Path) -> None:
    path = _export(tmp_path, "1x1")
    kept = load_variant("moco-1x1", "s1s2", "resnet18", path).features.state_dict()
    rnd = load_variant("moco-1x1-rnd", "s1s2", "resnet18", path)
    fresh = rnd.features.state_dict()
    assert rnd.reinitialised == sorted(k for k in fresh if k.startswith("adapter."))
    assert _same(kept, fresh, "backbone.")
    assert not _same(kept, fresh, "adapter.")


def test_moco_1x1_rnd_adapter_is_trainable_after_a_frozen_adapter_pretraining(
    tmp_path: Path,
) -> None:
    """A re-initialised adapter has nothing to keep frozen: it must learn while fine-tuning."""
    encoder = build_encoder(FUSION_BANDS, "resnet18", "1x1", 16, adapter_trainable=False)
    path = tmp_path / "frozen.pt"
    export_encoder(encoder, path, META)
    kept_net = load_variant("moco-1x1", "s1s2", "resnet18", path).features
    assert isinstance(kept_net, FeatureNet)
    assert getattr(kept_net.adapter, "trainable", None) is False
    fresh_net = load_variant("moco-1x1-rnd", "s1s2", "resnet18", path).features
    assert isinstance(fresh_net, FeatureNet)
    adapter = fresh_net.adapter
    assert getattr(adapter, "trainable", None) is True
    assert all(p.requires_grad for p in adapter.parameters())
    assert adapter.train().training


def test_supervised_variants_start_from_seeded_random_weights() -> None:
    a = load_variant("supervised", "s2", "resnet18", seed=3).features.state_dict()
    b = load_variant("supervised", "s2", "resnet18", seed=3).features.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    one = load_variant("supervised-1x1", "s1s2", "resnet18")
    assert isinstance(one.features, FeatureNet)
    assert one.features.adapter.kind == "1x1"
    assert one.features.bands == FUSION_BANDS
    with pytest.raises(ValueError, match="drop --encoder"):
        load_variant("supervised", "s2", "resnet18", "x.pt")


@pytest.mark.parametrize(("variant", "adapter"), [("moco-1x1", "conv1"), ("moco", "1x1")])
def test_wrong_adapter_for_the_variant_is_refused(tmp_path: Path, variant: str, adapter: str):
    path = _export(tmp_path, adapter)
    with pytest.raises(DataError, match=f"{adapter}.pt: variant {variant}"):
        load_variant(variant, "s1s2", "resnet18", path)


def test_encoder_bands_that_cannot_take_the_input_are_refused(tmp_path: Path) -> None:
    path = _export(tmp_path, "conv1", S1_BANDS)
    with pytest.raises(DataError, match=r"conv1.pt: encoder bands \['VV', 'VH'\] do not fit"):
        load_variant("moco", "s2", "resnet18", path)


def test_encoder_normalisation_other_than_the_task_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path, "conv1")
    other = Normalization(
        SEN12MS_NORMALIZATION.bands,
        tuple(m + 100 for m in SEN12MS_NORMALIZATION.mean),
        SEN12MS_NORMALIZATION.std,
    )
    with pytest.raises(DataError, match="normalisation differs"):
        load_variant("moco", "s1s2", "resnet18", path, other)


def test_partial_load_checks_the_expected_missing_keys() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    state = {k: v for k, v in net.state_dict().items() if k.startswith("1.")}
    load_partial(net, state, {"0.weight", "0.bias"}, "src")
    with pytest.raises(DataError, match="src: partial load mismatch"):
        load_partial(net, state, {"0.weight"}, "src")
    with pytest.raises(DataError, match="unused"):
        load_partial(net, state | {"2.weight": torch.zeros(1)}, {"0.weight", "0.bias"}, "src")


def test_model_input_zeroes_the_missing_sensor_in_the_fusion_layout() -> None:
    batch = {"s1": torch.ones(2, 2, 4, 4), "s2": torch.full((2, 10, 4, 4), 2.0)}
    x = model_input(batch, "s1", FUSION_BANDS)  # 2 x 12 x 4 x 4
    assert x.shape == (2, 12, 4, 4)
    assert (x[:, :10] == 0).all()
    assert (x[:, 10:] == 1).all()
    assert (model_input(batch, "s2", FUSION_BANDS)[:, 10:] == 0).all()
    assert torch.equal(model_input(batch, "s1", S1_BANDS), batch["s1"])
    with pytest.raises(ValueError, match="cannot take input 's2'"):
        model_input(batch, "s2", S1_BANDS)
