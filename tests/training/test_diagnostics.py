"""Pre-training diagnostics: modality gaps on a fixed probe, own-sensor share of top-1 keys."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sensormoco.data.bands import FUSION_BANDS
from sensormoco.models.moco import MoCo, own_kind_top1
from sensormoco.training.config import load_config
from sensormoco.training.diagnostics import make_probe, modality_gaps
from sensormoco.training.pretrain import run_pretrain
from tests.models.tiny import tiny_encoder

S2_ONLY, S1_ONLY = 1, 2  # input kinds: a bit per sensor, S2 first (the fusion layout's order)


def _items(n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [{"s1": torch.randn(2, 20, 20, generator=g), "s2": torch.randn(10, 20, 20, generator=g)}
            for _ in range(n)]  # fmt: skip


def test_own_kind_top1_counts_queries_whose_nearest_key_is_their_kind() -> None:
    queue = F.normalize(torch.eye(4), dim=0)  # D x K: key j points along axis j
    queue_kind = torch.tensor([S2_ONLY, S1_ONLY, S2_ONLY, 0])  # column 3: an initial random key
    q = torch.eye(4)[[0, 1, 2, 3]]  # nearest keys: columns 0, 1, 2, 3 (3 is skipped)
    share = own_kind_top1(q, torch.tensor([S2_ONLY, S2_ONLY, S2_ONLY, S1_ONLY]), queue, queue_kind)
    assert share is not None
    assert float(share) == pytest.approx(2 / 4)  # rows 0, 2 hit their kind; 1 misses; 3 -> col 1
    assert own_kind_top1(q, torch.ones(4, dtype=torch.long), queue, torch.zeros(4).long()) is None


def test_moco_records_each_columns_kind_and_reports_the_share() -> None:
    torch.manual_seed(0)
    moco = MoCo(tiny_encoder(), queue_size=16, momentum=0.9, bn_splits=2)
    mask_s2 = torch.tensor([1.0] * 10 + [0.0] * 2).view(1, 12, 1, 1)
    x = torch.randn(4, 12, 16, 16)
    optical, radar = x * mask_s2, x * (1 - mask_s2)
    s2_query = torch.tensor([True, False, True, False]).view(-1, 1, 1, 1)
    x_q, x_k = torch.where(s2_query, optical, radar), torch.where(s2_query, radar, optical)
    first = moco(x_q, x_k, diagnose=True)
    assert first.own_kind_top1 is None  # only random keys in the queue yet
    assert moco.queue_kind[:4].tolist() == [S1_ONLY, S2_ONLY, S1_ONLY, S2_ONLY]
    second = moco(x_q, x_k, diagnose=True)
    assert second.own_kind_top1 is not None
    assert 0.0 <= float(second.own_kind_top1) <= 1.0
    assert moco(x_q, x_k).own_kind_top1 is None  # measured only when asked


def test_modality_gaps_on_a_fixed_probe() -> None:
    items = _items(10)
    probe = make_probe(items, len(items), FUSION_BANDS, 16, torch.device("cpu"), size=4)
    assert probe is not None
    assert probe.s1.shape == probe.s2.shape == (4, 12, 16, 16)
    assert torch.count_nonzero(probe.s1[:, :10]) == torch.count_nonzero(probe.s2[:, 10:]) == 0
    torch.testing.assert_close(probe.s2[0, :10], items[0]["s2"][:, 2:18, 2:18])
    assert make_probe(items, len(items), ("VV", "VH"), 16, torch.device("cpu")) is None
    torch.manual_seed(0)
    moco = MoCo(tiny_encoder(), queue_size=16, bn_splits=2).train()
    before = {k: v.clone() for k, v in moco.state_dict().items()}
    gaps = modality_gaps(moco, probe)
    assert 0 < gaps["gap_norm_q"] <= 2
    assert gaps["gap_norm_k"] == pytest.approx(gaps["gap_norm_q"])  # f_k starts as f_q
    assert gaps["gap_cos_qk"] == pytest.approx(1.0)
    assert moco.training  # train mode restored; no batch-norm statistic moved
    assert all(torch.equal(before[k], v) for k, v in moco.state_dict().items())


@pytest.mark.slow
def test_a_run_logs_the_diagnostics(synth_root: Path, tmp_path: Path) -> None:
    config = load_config("cpu-small", {"mode": "sensor-pairs", "crop_size": 32, "batch_size": 8,
                                       "queue_size": 32, "max_steps": 3, "log_every_n_steps": 2,
                                       "diagnostics_every_n_steps": 1})  # fmt: skip
    summary = run_pretrain(config, synth_root, tmp_path / "run")
    keys = {"gap_norm_q", "gap_norm_k", "gap_cos_qk", "own_sensor_top1"}
    assert set(summary["diagnostics"]) == keys
    log = next((tmp_path / "run" / "logs" / "csv").glob("version_*/metrics.csv"))
    with log.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("diag/gap_norm_q")]
    assert [int(r["step"]) for r in rows] == [0, 1, 2]  # every step, whatever log_every_n_steps
    assert all(r["diag/own_sensor_top1"] for r in rows[1:])  # the queue holds keys from step 1
