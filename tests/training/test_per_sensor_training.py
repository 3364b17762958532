"""Per-sensor encoders in pre-training: the config option, a run, the exported pair."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS
from sensormoco.errors import DataError
from sensormoco.models.per_sensor import PairedFeatures
from sensormoco.training.checkpoint import load_encoder, load_paired_encoders
from sensormoco.training.config import load_config
from sensormoco.training.pretrain import run_pretrain


def test_config_takes_per_sensor_encoders_for_sensor_pairs_only() -> None:
    config = load_config("cpu-small", {"mode": "sensor-pairs", "encoder": "per-sensor"})
    assert (config.encoder, config.queue_groups) == ("per-sensor", 2)
    assert load_config("cpu-small", {"mode": "sensor-pairs"}).encoder == "shared"
    with pytest.raises(ValueError, match="encoder per-sensor needs a sensor-pair mode"):
        load_config("cpu-small", {"mode": "fusion-all", "encoder": "per-sensor"})
    with pytest.raises(ValueError, match="must split into bn_splits"):
        load_config("cpu-small", {"mode": "sensor-pairs", "encoder": "per-sensor",
                                  "batch_size": 6, "queue_size": 24})  # fmt: skip


@pytest.mark.slow
def test_a_per_sensor_run_exports_both_networks(synth_root: Path, tmp_path: Path) -> None:
    config = load_config("cpu-small", {"mode": "sensor-pairs", "encoder": "per-sensor",
                                       "crop_size": 32, "batch_size": 8, "queue_size": 32,
                                       "max_steps": 2, "diagnostics_every_n_steps": 1})  # fmt: skip
    summary = run_pretrain(config, synth_root, tmp_path / "run")
    assert {"gap_norm_q", "gap_norm_k", "gap_cos_qk"} <= set(summary["diagnostics"])
    path = tmp_path / "run" / "encoder.pt"
    encoders, meta = load_paired_encoders(path)
    assert (encoders["s1"].bands, encoders["s2"].bands) == (S1_BANDS, S2_LAND_BANDS)
    assert meta["encoder"] == "per-sensor"
    features = PairedFeatures(encoders, "s1s2").eval()
    with torch.no_grad():
        assert features(torch.randn(2, 12, 32, 32)).shape == (2, 2 * 512)
    with pytest.raises(DataError, match="holds per-sensor encoders"):
        load_encoder(path)
