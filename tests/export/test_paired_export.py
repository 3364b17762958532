"""Per-sensor encoders: `sensormoco export` writes one timm folder per network (timm gives
sensormoco's features) and a note on how to combine them; the public API loads both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

import sensormoco
from sensormoco.cli.main import main
from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS
from sensormoco.errors import DataError
from sensormoco.evaluation.variants import load_variant
from sensormoco.training.checkpoint import load_paired_encoders


@pytest.mark.slow
def test_timm_gives_each_networks_features_and_the_note_combines_them(
    paired_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert main(["export", str(paired_encoder), "-o", str(out)]) == 0
    assert "s1/model.safetensors" in capsys.readouterr().out
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "README.md", "s1", "s1/README.md", "s1/config.json", "s1/model.safetensors",
        "s2", "s2/README.md", "s2/config.json", "s2/model.safetensors"]  # fmt: skip
    encoders, _ = load_paired_encoders(paired_encoder)
    x = torch.randn(3, 12, 32, 32)  # N x C x H x W, fusion layout of standardised bands
    inputs = {"s1": x[:, 10:], "s2": x[:, :10]}
    timm_features = {}
    for sensor, bands in (("s1", S1_BANDS), ("s2", S2_LAND_BANDS)):
        config = json.loads((out / sensor / "config.json").read_text())
        assert config["bands"] == list(bands)
        assert config["in_chans"] == len(bands)
        overlay = {"file": str(out / sensor / "model.safetensors")}
        model = timm.create_model(config["architecture"], pretrained=True, num_classes=0,
                                  in_chans=config["in_chans"],
                                  pretrained_cfg_overlay=overlay).eval()  # fmt: skip
        with torch.no_grad():
            ours = encoders[sensor].eval().features(inputs[sensor])  # N x F
            timm_features[sensor] = model(inputs[sensor])
        assert float((timm_features[sensor] - ours).abs().max()) <= 1e-6
        assert "per-sensor encoders" in (out / sensor / "README.md").read_text()
    note = (out / "README.md").read_text()
    assert "concatenated, S1 then S2" in note
    assert "512 + 512 = 1024" in note
    combined = torch.cat([timm_features["s1"], timm_features["s2"]], dim=1)  # the note's rule
    evaluated = load_variant("moco", "s1s2", "resnet18", paired_encoder).features.eval()
    with torch.no_grad():  # ... is the rule evaluate uses
        torch.testing.assert_close(combined, evaluated(x), rtol=1e-6, atol=1e-6)


def test_public_api_loads_both_networks_and_refuses_in_load_encoder(paired_encoder: Path):
    with pytest.raises(DataError, match=r"load_paired_encoders$"):
        sensormoco.load_encoder(paired_encoder)
    pair = sensormoco.load_paired_encoders(paired_encoder)
    assert (pair["s1"].bands, pair["s2"].bands) == (S1_BANDS, S2_LAND_BANDS)
    assert pair.num_features == 1024
    assert pair.metadata["encoder"] == "per-sensor"
    rng = np.random.default_rng(0)
    s1_db = rng.uniform(-30, 2, (2, 32, 32)).astype(np.float32)
    s2 = rng.integers(0, 12000, (13, 32, 32)).astype(np.uint16)
    x = pair.preprocess({"s1": s1_db, "s2": s2})
    assert (x["s1"].shape, x["s2"].shape) == ((2, 32, 32), (10, 32, 32))
    assert torch.equal(x["s1"], pair["s1"].preprocess({"s1": s1_db}))
    only_s2 = pair.preprocess({"s2": s2})
    assert torch.count_nonzero(only_s2["s1"]) == 0
    with torch.no_grad():
        both = pair(x["s1"][None], x["s2"][None])  # 1 x 1024
        s1_alone = pair["s1"](x["s1"][None])
    torch.testing.assert_close(both[:, :512], s1_alone)
    with pytest.raises(KeyError, match="unknown sensor"):
        pair["s3"]


def test_single_encoder_loader_error_is_one_line(paired_encoder: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        sensormoco.load_paired_encoders(tmp_path / "missing.pt")
    assert "\n" not in str(caught.value)
