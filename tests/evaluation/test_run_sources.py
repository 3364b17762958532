"""An evaluation reads a tree or a packed store alike, and never reuses a stale feature file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from sensormoco.cli.main import main
from sensormoco.data.bands import FUSION_BANDS, SEN12MS_NORMALIZATION
from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.evaluation.data import load_sen12ms
from sensormoco.evaluation.run import EvalConfig, run_evaluation
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder

FAST: dict[str, Any] = {"backbone": "resnet18", "epochs": 2, "batch_size": 16, "val_fraction": 0.2}
NUMBERS = ("per_seed", "aggregate", "aggregate_s1_zeroed", "aggregate_s2_zeroed", "retrieval",
           "test_patches", "skipped_patches", "classes")  # fmt: skip


def _encoder(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    encoder = build_encoder(FUSION_BANDS, "resnet18", "conv1", 16)
    meta = {"normalization": SEN12MS_NORMALIZATION.select(FUSION_BANDS).to_dict()}
    export_encoder(encoder, path, meta)
    return path


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result.get(k) for k in NUMBERS}


def _quiet(config: EvalConfig, out: Path) -> dict[str, Any]:
    return run_evaluation(config, out, progress=lambda _: None).to_dict()


@pytest.mark.slow
def test_store_gives_exactly_the_metrics_of_the_tree(
    synth_root: Path, synth_store: Path, tmp_path: Path
) -> None:
    encoder = str(_encoder(tmp_path / "encoder.pt", 0))
    for protocol, seeds, workers in (("linear", (0, 1), 2), ("finetune", (0,), 0)):
        settings: dict[str, Any] = {"variant": "moco", "protocol": protocol, "input": "s1s2",
                                    "budget": 20, "seeds": seeds, **FAST}  # fmt: skip
        tree = _quiet(EvalConfig(str(synth_root), encoder, **settings), tmp_path / f"t{protocol}")
        store = _quiet(EvalConfig(str(synth_store), encoder, workers=workers, **settings),
                       tmp_path / f"s{protocol}")  # fmt: skip
        assert _numbers(store) == _numbers(tree)
        assert tree["retrieval"] is not None
        assert "s1_zeroed" in tree["per_seed"][0]


@pytest.mark.slow
def test_a_stale_feature_file_is_never_used(synth_root: Path, tmp_path: Path) -> None:
    """Same run folder, same settings: another encoder file, other data at the same path or
    another id list must each give the numbers of a fresh run, never the cached ones."""
    data = tmp_path / "store"
    whole = load_sen12ms(synth_root, val_fraction=0.2)
    ids = tmp_path / "ids.txt"
    write_id_list(ids, whole.test_ids + whole.split.train + whole.split.val[:12])
    assert main(["pack", "sen12ms", str(synth_root), "-o", str(data), "--ids", str(ids)]) == 0
    encoder = _encoder(tmp_path / "encoder.pt", 0)

    def config(budget: int = 20) -> EvalConfig:
        return EvalConfig(str(data), str(encoder), variant="moco", protocol="knn",
                          input="s1s2", budget=budget, seeds=(0,), **FAST)  # fmt: skip

    reused = tmp_path / "reused"
    first = _numbers(_quiet(config(), reused))
    _encoder(encoder, 1)  # the encoder file is replaced
    changed = _numbers(_quiet(config(), reused))
    assert changed != first
    assert changed == _numbers(_quiet(config(), tmp_path / "fresh_encoder"))
    shutil.rmtree(data)  # the data at the same path is replaced
    write_id_list(ids, whole.test_ids + whole.split.train + whole.split.val)
    assert main(["pack", "sen12ms", str(synth_root), "-o", str(data), "--ids", str(ids)]) == 0
    repacked = _numbers(_quiet(config(), reused))
    assert repacked == _numbers(_quiet(config(), tmp_path / "fresh_data"))
    assert repacked["per_seed"][0]["train"] == 16
    smaller = _numbers(_quiet(config(budget=10), reused))  # another id list
    assert smaller == _numbers(_quiet(config(budget=10), tmp_path / "fresh_ids"))
    assert smaller["per_seed"][0]["train"] == 8
    # per data version: train, test (s1s2, s2, s1), retrieval (s1, s2); then one more train
    assert len(list((reused / "features").glob("*.npy"))) == 6 + 6 + 6 + 1
