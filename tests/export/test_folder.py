"""`sensormoco export`: the folder timm loads gives sensormoco's features, for both adapters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from safetensors.torch import load_file

import sensormoco
from sensormoco.cli.main import main
from sensormoco.data.bands import S1_BANDS
from sensormoco.errors import DataError
from sensormoco.export import export_for_timm
from tests.export.conftest import write_encoder


def _adapter_function(card: str) -> Any:
    """``apply_adapter`` as the model card prints it (executed, not imported)."""
    block = next(b for b in re.findall(r"```python\n(.*?)```", card, re.S) if "def apply_" in b)
    namespace: dict[str, Any] = {}
    exec(block.split("from safetensors")[0], namespace)
    return namespace["apply_adapter"]


@pytest.mark.parametrize("adapter", ["conv1", "1x1"])
def test_timm_gives_the_same_features_as_sensormoco(
    encoders: dict[str, Path], tmp_path: Path, adapter: str
) -> None:
    out = tmp_path / "export"
    export_for_timm(encoders[adapter], out)
    config = json.loads((out / "config.json").read_text())
    arch, in_chans = config["architecture"], config["model_args"]["in_chans"]
    overlay = {"file": str(out / "model.safetensors")}
    model = timm.create_model(arch, pretrained=True, num_classes=0, in_chans=in_chans,
                              pretrained_cfg_overlay=overlay)  # fmt: skip
    from_folder = timm.create_model(f"local-dir:{out}", pretrained=True)  # config.json alone
    assert from_folder.get_submodule("conv1").in_channels == config["in_chans"]
    ours = sensormoco.load_encoder(encoders[adapter])
    x = torch.randn(3, 12, 32, 32)  # N x C x H x W, standardised bands
    if adapter == "1x1":
        weights = load_file(out / config["adapter"]["file"])
        x_backbone = _adapter_function((out / "README.md").read_text())(x, weights)
    else:
        x_backbone = x
    with torch.no_grad():
        expected = ours(x)  # N x F
        for net in (model.eval(), from_folder.eval()):
            torch.testing.assert_close(net(x_backbone), expected, rtol=1e-6, atol=1e-6)
    assert expected.shape == (3, config["num_features"])


def test_config_is_timms_with_bands_and_input_rules(encoders: dict[str, Path], tmp_path: Path):
    export_for_timm(encoders["conv1"], tmp_path / "e")
    config = json.loads((tmp_path / "e" / "config.json").read_text())
    assert (config["architecture"], config["num_classes"], config["num_features"]) == (
        "resnet18", 0, 512)  # fmt: skip
    cfg, bands = config["pretrained_cfg"], config["bands"]
    assert bands == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "VV", "VH"]
    assert cfg["input_size"] == [12, 32, 32]
    assert config["in_chans"] == 12
    norm = sensormoco.load_encoder(encoders["conv1"]).metadata.normalization
    assert norm is not None
    assert (cfg["mean"], cfg["std"]) == (list(norm.mean), list(norm.std))
    assert cfg["mean"][bands.index("VV")] == pytest.approx(-11.76858)
    rules = config["preprocessing"]
    assert rules["sensors"]["s1"]["clip"] == [-25.0, 0.0]
    assert rules["sensors"]["s2"]["clip"] == [0.0, 10000.0]
    assert "dB" in rules["sensors"]["s1"]["units"]
    assert "10000" in rules["sensors"]["s2"]["units"]
    assert rules["missing_sensor"].startswith("zeros after standardisation")
    assert config["adapter"] is None
    assert config["sensormoco"]["mode"] == "fusion-all"
    encoder = sensormoco.load_encoder(encoders["conv1"])
    assert sensormoco.Preprocessing.from_folder(tmp_path / "e") == encoder.preprocessing
    with pytest.raises(DataError, match=r"not the config\.json of an exported encoder"):
        sensormoco.Preprocessing.from_folder(tmp_path)


def test_refuses_a_non_empty_folder_unless_forced(encoders: dict[str, Path], tmp_path: Path):
    out = tmp_path / "e"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        export_for_timm(encoders["conv1"], out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    export_for_timm(encoders["conv1"], out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json",
                                                     "model.safetensors"]  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["e"]  # no .partial, no .replaced


def test_failure_leaves_nothing_behind(encoders: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither an experiment"):
        export_for_timm(encoders["conv1"], tmp_path / "e", report=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_encoder_without_normalisation_is_refused(tmp_path: Path) -> None:
    from sensormoco.models import build_encoder
    from sensormoco.training.checkpoint import export_encoder

    export_encoder(build_encoder(S1_BANDS, "resnet18", "conv1", 8), tmp_path / "e.pt", {})
    with pytest.raises(DataError, match="no normalisation"):
        export_for_timm(tmp_path / "e.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.partial").exists()


def _experiment(root: Path, encoder_src: Path) -> Path:
    """An experiment's output as the runner writes it: pretrain/<run>/encoder.pt, its
    summary.json, eval/<run>__.../metrics.json and table.md."""
    run = root / "pretrain" / "fusion-all_aug2_full_b32_s10"
    run.mkdir(parents=True)
    write_encoder(run / "encoder.pt")
    (run / "summary.json").write_text(json.dumps({"patches": 64, "steps": 10, "seed": 0}))
    for name, input_, oa in (("linear_s1_1024", "s1", 0.25), ("linear_s1s2_1024", "s1s2", 0.5)):
        cell = root / "eval" / f"{run.name}__{name}"
        cell.mkdir(parents=True)
        metrics = {"variant": "moco", "protocol": "linear", "input": input_, "budget": 1024,
                   "dataset": "sen12ms", "seeds": [0, 1], "encoder": str(run / "encoder.pt"),
                   "aggregate": {"oa": {"mean": oa, "std": 0.01}, "kappa": {"mean": 0.1,
                                 "std": 0.0}}, "retrieval": None}  # fmt: skip
        (cell / "metrics.json").write_text(json.dumps(metrics))
    other = root / "eval" / "supervised__finetune_s1s2_1024"
    other.mkdir(parents=True)
    (other / "metrics.json").write_text(json.dumps({"aggregate": {"oa": {"mean": 0.9}}}))
    (root / "table.md").write_text("| row | s1 | s2 | s1s2 |\n|---|---|---|---|\n"
                                   "| fusion-all (linear, 1024) | 0.250 ± 0.010 | n/a | "
                                   "0.500 ± 0.010 |\n")  # fmt: skip
    return run / "encoder.pt"


def test_cli_model_card_holds_the_experiments_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoder = _experiment(tmp_path / "exp", tmp_path)
    assert main(["export", str(encoder), "-o", str(tmp_path / "e"),
                 "--report", str(tmp_path / "exp")]) == 0  # fmt: skip
    assert "model.safetensors" in capsys.readouterr().out
    card = (tmp_path / "e" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: timm\n")
    for text in (
        "| 0 | B2 | s2 | 1226.42 | 741.625 |",
        "clip to [-25, 0]",
        "`fusion-all`",
        "| patches | 64 |",
        "| fusion-all_aug2_full_b32_s10__linear_s1s2_1024 | sen12ms "
        "| linear | s1s2 | 1024 | 0, 1 | 0.500 ± 0.010 | 0.100 ± 0.000 |",
        "| fusion-all (linear, 1024) | 0.250 ± 0.010 | n/a | 0.500 ± 0.010 |",
    ):
        assert text in card
    assert "0.900" not in card  # the supervised baseline's own run is not this encoder's


def test_report_of_another_encoder_is_refused(encoders: dict[str, Path], tmp_path: Path):
    _experiment(tmp_path / "exp", tmp_path)
    assert main(["export", str(encoders["conv1"]), "-o", str(tmp_path / "e"),
                 "--report", str(tmp_path / "exp")]) == 2  # fmt: skip
    assert not (tmp_path / "e").exists()


def test_model_card_of_an_evaluation_run_and_an_id_list(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("ROIs1158_spring_1_p1\nROIs1158_spring_1_p2\n# a comment\n")
    encoder = write_encoder(tmp_path / "run" / "encoder.pt")
    payload = torch.load(encoder, weights_only=True)
    payload["metadata"]["config"]["subset"] = str(ids)
    torch.save(payload, encoder)
    run = tmp_path / "eval"
    run.mkdir()
    metrics = {"protocol": "knn", "input": "s2", "budget": "full", "seeds": [0],
               "encoder": str(encoder), "aggregate": {"oa": {"mean": 0.75, "std": 0.0}},
               "retrieval": {"s1_to_s2_r@1": 0.5}}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics))
    export_for_timm(encoder, tmp_path / "e", report=run)
    card = (tmp_path / "e" / "README.md").read_text()
    assert "Patch ids: the 2 patches of the list `ids.txt`." in card
    assert "| eval | sen12ms | knn | s2 | full | 0 | 0.750 ± 0.000 | 0.500 |" in card
    (run / "metrics.json").write_text(json.dumps(metrics | {"encoder": "other/encoder.pt"}))
    with pytest.raises(DataError, match=r"evaluates other/encoder\.pt"):
        export_for_timm(encoder, tmp_path / "e2", report=run)
