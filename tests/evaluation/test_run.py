"""Evaluation runs end to end on a synthetic SEN12MS tree, through the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sensormoco.cli.main import main
from sensormoco.data.bands import FUSION_BANDS, SEN12MS_NORMALIZATION
from sensormoco.evaluation.run import EvalConfig, run_evaluation
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder

FAST: dict[str, Any] = {"backbone": "resnet18", "epochs": 2, "batch_size": 16, "val_fraction": 0.2}


def test_linear_probe_writes_metrics_per_seed_and_aggregated(synth_root: Path, tmp_path: Path):
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(0, 1), **FAST)
    result = run_evaluation(config, tmp_path, progress=lambda _: None).to_dict()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["seeds"] == [0, 1]
    assert [r["seed"] for r in saved["per_seed"]] == [0, 1]
    assert (saved["per_seed"][0]["train"], saved["per_seed"][0]["val"]) == (16, 4)
    assert set(saved["aggregate"]) == {"oa", "aa", "macro_f1", "kappa"}
    oa = [r["metrics"]["oa"] for r in saved["per_seed"]]
    assert saved["aggregate"]["oa"]["mean"] == pytest.approx(sum(oa) / 2)
    assert saved["test_patches"] == result["test_patches"] == 9
    assert saved["retrieval"] is None  # an S2-only network cannot embed S1
    assert (tmp_path / "confusion_seed1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Per class" in (tmp_path / "metrics.md").read_text()


def test_same_seed_gives_the_same_metrics(synth_root: Path, tmp_path: Path) -> None:
    config = EvalConfig(str(synth_root), variant="supervised", budget=20, seeds=(3,), **FAST)
    a = run_evaluation(config, tmp_path / "a", progress=lambda _: None).to_dict()
    b = run_evaluation(config, tmp_path / "b", progress=lambda _: None).to_dict()
    assert a["per_seed"] == b["per_seed"]


def test_fusion_encoder_gets_retrieval_and_missing_sensor_robustness(
    synth_root: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(FUSION_BANDS, "resnet18", "conv1", 16)
    path = tmp_path / "encoder.pt"
    meta = {"normalization": SEN12MS_NORMALIZATION.select(FUSION_BANDS).to_dict()}
    export_encoder(encoder, path, meta)
    config = EvalConfig(str(synth_root), str(path), variant="moco", protocol="knn",
                        input="s1s2", label_type="multi", budget=20, seeds=(0,),
                        **FAST)  # fmt: skip
    result = run_evaluation(config, tmp_path / "run", progress=lambda _: None).to_dict()
    assert set(result["aggregate"]) == {
        "micro_f1", "macro_f1", "micro_map", "macro_map", "sample_oa", "hamming"
    }  # fmt: skip
    assert set(result["aggregate_s1_zeroed"]) == set(result["aggregate"])
    assert set(result["aggregate_s2_zeroed"]) == set(result["aggregate"])
    assert result["retrieval"]["chance_r@1"] == pytest.approx(1 / 9)
    assert 0.0 <= result["retrieval"]["s1_to_s2_r@10"] <= 1.0


def test_cli_evaluate(synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "cli"
    code = main(["evaluate", "--data", str(synth_root), "--out", str(out), "--budget", "20",
                 "--seeds", "0", "--backbone", "resnet18", "--epochs", "1",
                 "--val-fraction", "0.2", "--protocol", "finetune"])  # fmt: skip
    assert code == 0
    assert "evaluated supervised (finetune, s2, budget 20): oa" in capsys.readouterr().out
    assert (out / "config.yaml").is_file()
    assert json.loads((out / "metrics.json").read_text())["protocol"] == "finetune"


def test_cli_evaluate_bad_encoder_is_one_line(synth_root: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code = main(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "o"),
                 "--encoder", str(bad), "--budget", "20", "--val-fraction", "0.2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}: not a complete encoder file" in err
    assert len(err.strip().splitlines()) == 1
