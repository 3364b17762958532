"""Per-sensor encoders: each network sees its own sensor, keys enter their sensor's queue."""

from __future__ import annotations

import pytest
import torch

from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS
from sensormoco.models.per_sensor import PairedFeatures, PerSensorMoCo
from tests.models.tiny import tiny_encoder


def _model() -> PerSensorMoCo:
    torch.manual_seed(0)
    encoders = {"s1": tiny_encoder(S1_BANDS), "s2": tiny_encoder(S2_LAND_BANDS)}
    return PerSensorMoCo(encoders, queue_size=16, momentum=0.9, temperature=0.2, bn_splits=2)


def _views(n: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sensor-pair views in the fusion layout; the absent sensor's slots hold NaN, so a network
    that read them would give NaN."""
    x = torch.randn(n, 12, 16, 16)
    optical, radar = x.clone(), x.clone()
    optical[:, 10:], radar[:, :10] = float("nan"), float("nan")
    key_s2 = torch.tensor([True, False] * (n // 2))  # N: key sensor S2 (query S1) where True
    x_q = torch.where(key_s2.view(-1, 1, 1, 1), radar, optical)
    x_k = torch.where(key_s2.view(-1, 1, 1, 1), optical, radar)
    return x_q, x_k, key_s2.long()


def test_each_network_sees_its_sensor_and_keys_enter_their_sensors_queue() -> None:
    model = _model()
    x_q, x_k, key_group = _views()
    out = model(x_q, x_k, key_group)
    assert torch.isfinite(out.loss)
    assert out.logits.shape == (8, 1 + 8)  # each sensor's queue: K / 2
    s1_keys = out.keys[key_group == 0]  # 4 x D, keys of the S1 network
    torch.testing.assert_close(model.moco("s1").queue[:, :4], s1_keys.T)
    torch.testing.assert_close(model.moco("s2").queue[:, :4], out.keys[key_group == 1].T)
    out.loss.backward()
    for sensor in ("s1", "s2"):
        moco = model.moco(sensor)
        assert all(p.grad is not None for p in moco.encoder_q.parameters())
        assert all(p.grad is None for p in moco.encoder_k.parameters())
    with pytest.raises(ValueError, match="each key's sensor"):
        model(x_q, x_k)


def test_paired_features_concatenate_the_two_networks_for_s1s2() -> None:
    encoders = {"s1": tiny_encoder(S1_BANDS), "s2": tiny_encoder(S2_LAND_BANDS)}
    x = torch.randn(3, 12, 16, 16)
    both = PairedFeatures(encoders, "s1s2").eval()
    assert both.num_features == 16
    with torch.no_grad():
        s1 = encoders["s1"].eval().features(x[:, 10:])
        s2 = encoders["s2"].eval().features(x[:, :10])
        torch.testing.assert_close(both(x), torch.cat([s1, s2], dim=1))
        torch.testing.assert_close(PairedFeatures(encoders, "s1").eval()(x[:, 10:]), s1)
