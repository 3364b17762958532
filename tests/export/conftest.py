"""Small exported encoders (single and per-sensor): resnet18 with non-trivial BN statistics,
written in seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sensormoco.data.bands import SEN12MS_NORMALIZATION
from sensormoco.models import FUSION_BANDS, build_encoder
from sensormoco.models.per_sensor import SENSOR_BANDS, PerSensorMoCo
from sensormoco.training.checkpoint import export_encoder

MakeEncoder = Callable[..., Path]


def write_encoder(path: Path, adapter: str = "conv1", bands: tuple[str, ...] = FUSION_BANDS,
                  seed: int = 0) -> Path:  # fmt: skip
    """An untrained resnet18 encoder whose BN running statistics moved off their defaults (a
    few train-mode passes), exported as ``sensormoco pretrain`` does (channels_last)."""
    torch.manual_seed(seed)
    encoder = build_encoder(bands, "resnet18", adapter, 16).train()
    with torch.no_grad():
        for _ in range(2):
            encoder(torch.randn(4, len(bands), 32, 32) * 2 + 1)  # N x C x H x W
    meta = {"mode": "fusion-all", "input": "s1s2", "version": "test",
            "normalization": SEN12MS_NORMALIZATION.select(bands).to_dict(),
            "config": {"mode": "fusion-all", "crop_size": 32, "subset": None}}  # fmt: skip
    export_encoder(encoder.to(memory_format=torch.channels_last), path, meta)  # as pre-training
    return path


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One encoder file per adapter (conv1, 1x1) on the 12 fusion bands, shared read-only."""
    root = tmp_path_factory.mktemp("encoders")
    return {a: write_encoder(root / f"{a}.pt", a) for a in ("conv1", "1x1")}


def write_paired_encoder(path: Path, adapter: str = "conv1", seed: int = 0) -> Path:
    """Per-sensor encoders (an S1 and an S2 resnet18, BN statistics moved off their defaults),
    exported as a ``encoder: per-sensor`` pre-training does (channels_last)."""
    torch.manual_seed(seed)
    encoders = {}
    for sensor, bands in SENSOR_BANDS.items():
        encoders[sensor] = build_encoder(bands, "resnet18", adapter, 16).train()
        with torch.no_grad():
            for _ in range(2):
                encoders[sensor](torch.randn(4, len(bands), 32, 32) * 2 + 1)  # N x C x H x W
    model = PerSensorMoCo(encoders, queue_size=16, momentum=0.99, temperature=0.2)
    meta = {"mode": "sensor-pairs", "input": "s1s2", "version": "test", "bands": list(FUSION_BANDS),
            "normalization": SEN12MS_NORMALIZATION.select(FUSION_BANDS).to_dict(),
            "config": {"mode": "sensor-pairs", "encoder": "per-sensor", "crop_size": 32,
                       "subset": None}}  # fmt: skip
    export_encoder(model.to(memory_format=torch.channels_last), path, meta)
    return path


@pytest.fixture(scope="session")
def paired_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-sensor encoder file (conv1 adapters), shared read-only."""
    return write_paired_encoder(tmp_path_factory.mktemp("paired") / "encoder.pt")
