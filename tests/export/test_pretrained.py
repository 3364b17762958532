"""`sensormoco.load_encoder`: the module, its bands and typed metadata; a light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sensormoco
from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, SEN12MS_NORMALIZATION
from sensormoco.errors import DataError
from sensormoco.training.checkpoint import load_encoder as load_checkpoint


def test_module_bands_metadata_and_features(encoders: dict[str, Path]) -> None:
    encoder = sensormoco.load_encoder(encoders["conv1"])
    assert isinstance(encoder, sensormoco.PretrainedEncoder)
    assert not encoder.training
    assert encoder.bands == FUSION_BANDS
    meta = encoder.metadata
    assert isinstance(meta, sensormoco.EncoderMetadata)
    assert (meta.backbone, meta.adapter, meta.in_chans, meta.dim, meta.mode) == (
        "resnet18", "conv1", 12, 16, "fusion-all")  # fmt: skip
    assert meta.normalization == SEN12MS_NORMALIZATION.select(FUSION_BANDS)
    assert meta.sensors == ("s2", "s1")
    assert meta.sensor_bands("s1") == S1_BANDS
    reference, _ = load_checkpoint(encoders["conv1"])
    x = torch.randn(2, 12, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), reference.eval().features(x))
        assert encoder.embed(x).shape == (2, 16)
    assert encoder(x).shape == (2, encoder.num_features)


def test_preprocess_feeds_the_encoder(encoders: dict[str, Path]) -> None:
    encoder = sensormoco.load_encoder(encoders["1x1"])
    s1 = np.full((2, 32, 32), -12.0, np.float32)
    s2 = np.full((13, 32, 32), 1500, np.uint16)
    x = encoder.preprocess({"s1": s1, "s2": s2})
    assert x.shape == (12, 32, 32)
    vv = SEN12MS_NORMALIZATION.select(("VV",))
    assert float(x[10, 0, 0]) == pytest.approx((-12.0 - vv.mean[0]) / vv.std[0], rel=1e-5)
    with torch.no_grad():
        assert encoder(x[None]).shape == (1, 512)


def test_expected_bands_are_checked(encoders: dict[str, Path]) -> None:
    with pytest.raises(DataError, match="do not match the expected bands"):
        sensormoco.load_encoder(encoders["conv1"], bands=S1_BANDS)


def test_import_stays_light() -> None:
    code = "import sys, sensormoco; print('torch' in sys.modules, sensormoco.__version__ != '')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sensormoco.nope
