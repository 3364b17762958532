"""The exported encoder: weights-only file, complete-file and band checks, plain timm loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS, SEN12MS_NORMALIZATION
from sensormoco.errors import DataError
from sensormoco.models import FUSION_BANDS, MoCo, build_encoder
from sensormoco.training.checkpoint import (
    backbone_state_for_timm,
    export_encoder,
    load_encoder,
)
from sensormoco.training.training_checkpoint import AtomicCheckpointIO

META = {
    "mode": "sensor-pairs",
    "normalization": SEN12MS_NORMALIZATION.select(FUSION_BANDS).to_dict(),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MoCo]:
    torch.manual_seed(0)
    moco = MoCo(build_encoder(FUSION_BANDS, "resnet18", "conv1", 16), queue_size=8)
    path = tmp_path_factory.mktemp("export") / "encoder.pt"
    export_encoder(moco, path, META)
    return path, moco


def test_round_trip_gives_the_query_encoder(exported: tuple[Path, MoCo]) -> None:
    path, moco = exported
    encoder, meta = load_encoder(path, expected_bands=FUSION_BANDS)
    assert meta["bands"] == list(FUSION_BANDS)
    assert (meta["backbone"], meta["adapter"], meta["dim"], meta["in_chans"]) == (
        "resnet18", "conv1", 16, 12)  # fmt: skip
    assert meta["mode"] == "sensor-pairs"
    x = torch.randn(2, 12, 32, 32)
    moco.encoder_q.eval()
    torch.testing.assert_close(encoder.eval()(x), moco.encoder_q(x))


def test_file_is_plain_weights_and_metadata(exported: tuple[Path, MoCo]) -> None:
    payload = torch.load(exported[0], weights_only=True)
    assert set(payload) == {"format", "metadata", "encoder", "head"}
    assert all(k.startswith(("adapter.", "backbone.model.")) for k in payload["encoder"])
    assert set(payload["head"]) == {"mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"}


def test_backbone_loads_strictly_into_a_plain_timm_model(exported: tuple[Path, MoCo]) -> None:
    path, moco = exported
    model = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=12)
    model.load_state_dict(backbone_state_for_timm(path), strict=True)
    x = torch.randn(2, 12, 32, 32)
    torch.testing.assert_close(model.eval()(x), moco.encoder_q.backbone.eval()(x))


def test_one_by_one_adapter_round_trip_and_timm_rgb_input(tmp_path: Path) -> None:
    encoder = build_encoder(S1_BANDS + S2_LAND_BANDS[:3], "resnet18", "1x1", 8, False)
    export_encoder(encoder, tmp_path / "e.pt", {})
    loaded, meta = load_encoder(tmp_path / "e.pt")
    assert (meta["adapter"], meta["adapter_trainable"], meta["in_chans"]) == ("1x1", False, 3)
    x = torch.randn(2, 5, 32, 32)
    torch.testing.assert_close(loaded.eval()(x), encoder.eval()(x))
    model = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=3)
    model.load_state_dict(backbone_state_for_timm(tmp_path / "e.pt"), strict=True)


def test_band_mismatch_is_one_line_naming_both_lists(exported: tuple[Path, MoCo]) -> None:
    with pytest.raises(DataError) as info:
        load_encoder(exported[0], expected_bands=S2_LAND_BANDS)
    message = str(info.value)
    assert "\n" not in message
    assert str(list(FUSION_BANDS)) in message
    assert str(list(S2_LAND_BANDS)) in message
    assert str(exported[0]) in message


def test_normalization_mismatch_is_refused(exported: tuple[Path, MoCo]) -> None:
    load_encoder(exported[0], expected_normalization=SEN12MS_NORMALIZATION)
    other = SEN12MS_NORMALIZATION.select(FUSION_BANDS)
    scaled = type(other)(other.bands, other.mean, tuple(2 * s for s in other.std))
    with pytest.raises(DataError, match="normalisation differs"):
        load_encoder(exported[0], expected_normalization=scaled)


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.0])
def test_truncated_file_is_a_one_line_error_naming_it(
    exported: tuple[Path, MoCo], tmp_path: Path, keep: float
) -> None:
    data = exported[0].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match=r"cut\.pt: not a complete encoder file") as info:
        load_encoder(cut)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match=r"cut\.pt"):
        backbone_state_for_timm(cut)


def test_other_torch_files_are_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a sensormoco encoder file"):
        load_encoder(tmp_path / "other.pt")
    with pytest.raises(DataError, match="no such encoder file"):
        load_encoder(tmp_path / "missing.pt")


def test_metadata_must_be_plain(tmp_path: Path) -> None:
    encoder = build_encoder(S1_BANDS, "resnet18", "conv1", 8)
    with pytest.raises(TypeError, match="metadata"):
        export_encoder(encoder, tmp_path / "e.pt", {"weights": torch.zeros(1)})
    assert not (tmp_path / "e.pt").exists()


def test_atomic_checkpoint_io_leaves_no_partial_file(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "c" / "last.ckpt")
    assert torch.equal(torch.load(tmp_path / "c" / "last.ckpt")["a"], torch.ones(2))
    with pytest.raises(Exception, match="pickle"):
        io.save_checkpoint({"a": lambda: 0}, tmp_path / "c" / "last.ckpt")
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["last.ckpt"]
