"""``sensormoco pretrain`` end to end on CPU, on a synthetic SEN12MS tree of real GeoTIFFs."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
import yaml

from sensormoco.cli import pretrain as pretrain_cli
from sensormoco.cli.main import main
from sensormoco.data.bands import S2_LAND_BANDS
from sensormoco.errors import DataError
from sensormoco.models import FUSION_BANDS
from sensormoco.training.checkpoint import backbone_state_for_timm, load_encoder
from sensormoco.training.config import PRESETS, load_config, read_config_file
from sensormoco.training.views import MODES

TINY = ["--config", "cpu-small", "--crop-size", "32", "--batch-size", "8", "--queue-size", "32",
        "--loader-workers", "0", "--log-every", "1"]  # fmt: skip


def _pretrain(root: Path, out: Path, *args: str) -> tuple[int, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["pretrain", "--data", str(root), "--out", str(out), *TINY, *args])
    return code, stdout.getvalue()


@pytest.fixture(scope="module", params=[("sensor-pairs",), ("fusion-partial", "--augment", "aug2")])
def run(request: pytest.FixtureRequest, synth_root: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[Path, int, str]:  # fmt: skip
    out = tmp_path_factory.mktemp("pretrain") / "run"
    mode, *extra = request.param
    code, stdout = _pretrain(synth_root, out, "--mode", mode, "--max-steps", "6", *extra)
    return out, code, stdout


@pytest.mark.slow
def test_run_writes_summary_config_logs_and_encoder(run: tuple[Path, int, str]) -> None:
    out, code, stdout = run
    assert code == 0
    assert "6 steps" in stdout
    assert "summary.json" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert {"final_loss", "final_pos_acc", "steps", "epochs", "pairs_per_s", "seconds", "seed",
            "versions"} <= summary.keys()  # fmt: skip
    assert summary["steps"] == 6
    assert summary["seed"] == 0
    assert math.isfinite(summary["final_loss"])
    assert summary["epochs"] == pytest.approx(6 / 7, abs=1e-3)  # 63 non-test patches / 8
    assert {"sensormoco", "torch", "lightning", "timm", "kornia", "numpy", "rasterio",
            "python"} <= summary["versions"].keys()  # fmt: skip
    config = load_config(out / "config.yaml")
    assert (config.max_steps, config.batch_size, config.backbone) == (6, 8, "resnet18")
    (metrics,) = (out / "logs" / "csv").glob("version_*/metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert len(losses) == 6
    assert all(math.isfinite(v) for v in losses)
    assert {"lr", "pos_acc", "pairs_per_s"} <= rows[0].keys()
    assert (out / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow  # its fixture pre-trains twice
def test_exported_encoder_loads_and_checks_bands(run: tuple[Path, int, str]) -> None:
    out = run[0]
    encoder, meta = load_encoder(out / "encoder.pt", expected_bands=FUSION_BANDS)
    assert meta["mode"] == load_config(out / "config.yaml").mode
    assert meta["config"] == yaml.safe_load((out / "config.yaml").read_text())
    assert encoder(torch.zeros(2, 12, 32, 32)).shape == (2, 128)
    model = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=12)
    model.load_state_dict(backbone_state_for_timm(out / "encoder.pt"), strict=True)
    with pytest.raises(DataError, match=r"do not match the expected bands \['B2'") as info:
        load_encoder(out / "encoder.pt", expected_bands=S2_LAND_BANDS)
    assert "\n" not in str(info.value)
    assert str(list(FUSION_BANDS)) in str(info.value)


def _weights(out: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    return state


@pytest.mark.slow
def test_resume_to_more_steps_equals_an_uninterrupted_run(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "constant.yaml"  # the same schedule whatever the run length
    config.write_text(yaml.safe_dump(read_config_file("cpu-small") | {"schedule": "constant"}))
    common = ["--mode", "fusion-optional", "--augment", "aug2", "--deterministic"]
    common += ["--config", str(config)]  # after TINY: overrides its --config
    assert _pretrain(synth_root, tmp_path / "whole", *common, "--max-steps", "8")[0] == 0
    assert _pretrain(synth_root, tmp_path / "cut", *common, "--max-steps", "4")[0] == 0
    code, stdout = _pretrain(synth_root, tmp_path / "cut", *common, "--max-steps", "8", "--resume")
    assert code == 0
    assert "8 steps" in stdout
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert b["global_step"] == 8
    assert {"moco.queue", "moco.queue_ptr"} <= a["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key

    capsys.readouterr()
    code, _ = _pretrain(synth_root, tmp_path / "cut", *common, "--resume", "--lr", "0.5")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("sensormoco pretrain: error: cannot resume with other settings")
    assert f"lr: {read_config_file('cpu-small')['lr']!r} -> 0.5" in err[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--mode", "sensor-pairs", "--queue-size", "36"], "not a multiple of the global batch 8"),
     (["--mode", "sensor-pairs", "--augment", "aug1"], "sensor-pairs uses no augmentation"),
     (["--mode", "sensor-pairs", "--resume"], "nothing to resume"),
     (["--max-steps", "2"], "no pre-training mode"),
     (["--mode", "fusion-all", "--symmetric"], "symmetric needs a sensor-pair mode")],
)  # fmt: skip
def test_bad_settings_give_one_line_errors(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
    message: str,
) -> None:  # fmt: skip
    code, _ = _pretrain(synth_root, tmp_path / "run", *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert message in err[0]


def test_unknown_config_key_names_the_nearest_one(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yaml").write_text("mode: sensor-pairs\nbacth_size: 8\n")
    code, _ = _pretrain(synth_root, tmp_path / "run", "--config", str(tmp_path / "c.yaml"))
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown key 'bacth_size'; did you mean batch_size?" in err
    assert not (tmp_path / "run").exists()


def test_missing_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _pretrain(tmp_path / "nowhere", tmp_path / "run", "--mode", "sensor-pairs")
    assert code == 2
    assert "no such data directory" in capsys.readouterr().err


def test_help_names_every_mode_and_preset() -> None:
    assert ", ".join(MODES) == pretrain_cli.MODE_NAMES
    assert ", ".join(PRESETS) == pretrain_cli.PRESET_NAMES


@pytest.mark.slow
def test_two_process_cpu_ddp_fills_the_queue_from_both_ranks(
    synth_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "sensormoco.cli.main", "pretrain", "--data", str(synth_root),
               "--out", str(out), "--mode", "sensor-pairs", *TINY, "--queue-size", "64",
               "--max-steps", "3", "--accelerator", "cpu", "--devices", "2",
               "--strategy", "ddp"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["world_size"], summary["global_batch"], summary["steps"]) == (2, 16, 3)
    state = _weights(out)["state_dict"]
    # cross-sensor negatives: a segment of 32 per key sensor; each step each of the 2 ranks
    # sends 4 S1 and 4 S2 keys, so after 3 steps each segment holds 3 x 2 x 4 = 24 keys
    assert state["moco.queue_ptr"].tolist() == [24, 24]
    filled = torch.cat([state["moco.queue"][:, :24], state["moco.queue"][:, 32:56]], 1)  # D x 48
    assert torch.allclose(filled.norm(dim=0), torch.ones(48), atol=1e-4)
