"""The pre-training loop: data drawn by (seed, step), the schedule, exact resume after a crash."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.errors import DataError
from sensormoco.training.config import PretrainConfig, load_config
from sensormoco.training.datamodule import PretrainDataModule, StepSampler, pretrain_dataset
from sensormoco.training.pretrain import PretrainModule, run_pretrain


def _sampled(size: int, batch: int, step: int, rank: int = 0, world: int = 1) -> list[int]:
    return list(StepSampler(size, batch, seed=3, current_step=lambda: step, rank=rank, world=world))


def test_step_sampler_epochs_are_permutations_cut_into_global_batches() -> None:
    ranks = [_sampled(20, 3, 0, r, 2) for r in range(2)]  # 3 steps of 2 x 3 per epoch
    assert all(len(r) == 9 for r in ranks)
    assert len(set(ranks[0]) | set(ranks[1])) == 18
    assert _sampled(20, 3, 3, 0, 2) != ranks[0]  # epoch 1 is another permutation
    assert len(StepSampler(20, 3, 3, lambda: 5, 0, 2)) == 9  # len is always a full epoch


def test_step_sampler_continues_mid_epoch_with_the_next_batch() -> None:
    full = _sampled(10, 2, 0)  # 5 steps per epoch
    assert _sampled(10, 2, 3) == full[6:]
    assert _sampled(10, 2, 5) == _sampled(10, 2, 10)[:0] + _sampled(10, 2, 5)
    assert _sampled(10, 2, 7) == _sampled(10, 2, 5)[4:]
    with pytest.raises(ValueError, match="do not fill one global batch"):
        StepSampler(5, 3, 0, lambda: 0, 0, 2)


def test_pretraining_data_leaves_out_test_scenes(synth_root: Path, tmp_path: Path) -> None:
    data = pretrain_dataset(synth_root)
    assert len(data.ids) == 63
    assert data.excluded_test == 9
    assert not any(is_test(pid) for pid in data.ids)
    test_id = next(r for r in pretrain_dataset_all(synth_root) if is_test(r))
    ids = tmp_path / "ids.txt"
    write_id_list(ids, [*data.ids[:10], test_id])
    ids.write_text(ids.read_text() + "ROIs1158_spring_999_p1\n")  # not in the data
    subset = pretrain_dataset(synth_root, tmp_path / "ids.txt")
    assert (subset.ids, subset.excluded_test, subset.absent) == (data.ids[:10], 1, 1)
    write_id_list(tmp_path / "only_test.txt", [test_id])
    with pytest.raises(DataError, match="no usable non-test"):
        pretrain_dataset(synth_root, tmp_path / "only_test.txt")


def pretrain_dataset_all(root: Path) -> list[Any]:
    from sensormoco.data.sen12ms.index import build_index

    return [r.patch_id for r in build_index(root, read_pixels=False).usable]


def test_loader_gives_full_normalised_batches(synth_root: Path) -> None:
    config = load_config("cpu-small", {"mode": "sensor-pairs", "batch_size": 16, "queue_size": 64})
    datamodule = PretrainDataModule(synth_root, config)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    batches = list(loader)
    assert len(batches) == len(loader) == 63 // 16
    assert batches[0]["s1"].shape == (16, 2, 32, 32)
    assert batches[0]["s2"].shape == (16, 10, 32, 32)
    assert batches[0]["s2"].abs().mean() < 10  # standardised, not reflectance


class Crash(L.Callback):
    """Raises before step ``at`` runs, as a killed job would stop."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.at:
            raise RuntimeError("simulated crash")


def _resume_config() -> PretrainConfig:
    return load_config("cpu-small", {
        "mode": "sensor-pairs-augment", "augment": "aug3", "batch_size": 8, "queue_size": 32,
        "max_steps": 8, "checkpoint_every_n_steps": 4, "log_every_n_steps": 1,
        "deterministic": True,
    })  # fmt: skip


def _checkpoint(run: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    return loaded


@pytest.mark.slow
def test_resume_after_a_crash_equals_an_uninterrupted_run(synth_root: Path, tmp_path: Path) -> None:
    config = _resume_config()  # 7 steps per epoch: the crash is mid-epoch, the end in epoch 1
    whole = run_pretrain(config, synth_root, tmp_path / "whole")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pretrain(config, synth_root, tmp_path / "cut", callbacks=[Crash(4)])
    assert _checkpoint(tmp_path / "cut")["global_step"] == 4
    assert not (tmp_path / "cut" / "summary.json").exists()
    # loader workers draw indices as soon as the loader starts: the order must not depend on it
    with_workers = dataclasses.replace(config, num_workers=2)
    resumed = run_pretrain(with_workers, synth_root, tmp_path / "cut", resume=True)
    assert resumed["steps"] == whole["steps"] == 8
    assert resumed["steps_this_run"] == 4
    assert resumed["final_loss"] == whole["final_loss"]
    a, b = _checkpoint(tmp_path / "whole"), _checkpoint(tmp_path / "cut")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert {"moco.queue", "moco.queue_ptr"} <= a["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    momentum_a = a["optimizer_states"][0]["state"]
    momentum_b = b["optimizer_states"][0]["state"]
    for i in momentum_a:
        assert torch.equal(momentum_a[i]["momentum_buffer"], momentum_b[i]["momentum_buffer"])
    assert a["lr_schedulers"] == b["lr_schedulers"]


def test_a_run_directory_is_never_overwritten(synth_root: Path, tmp_path: Path) -> None:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(DataError, match="already holds a run"):
        run_pretrain(_resume_config(), synth_root, tmp_path / "run")
    with pytest.raises(DataError, match=r"last\.ckpt: not a complete training checkpoint"):
        run_pretrain(_resume_config(), synth_root, tmp_path / "run", resume=True)
    with pytest.raises(DataError, match="nothing to resume"):
        run_pretrain(_resume_config(), synth_root, tmp_path / "new", resume=True)


class FormatProbe(L.Callback):
    """Records whether the query encoder's first convolution and its input are channels_last."""

    def __init__(self) -> None:
        self.seen: dict[str, bool] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, PretrainModule)
        encoder = pl_module.moco.encoder_q
        weight = next(p for p in encoder.parameters() if p.ndim == 4)  # C_out x C_in x k x k
        self.seen["weight"] = weight.is_contiguous(memory_format=torch.channels_last)
        self.seen["weight_nchw"] = weight.is_contiguous()

        def probe(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            self.seen["input"] = args[0].is_contiguous(memory_format=torch.channels_last)

        encoder.register_forward_pre_hook(probe)


def test_cpu_runs_train_channels_last(synth_root: Path, tmp_path: Path) -> None:
    # measured faster on CPU in fp32 and bf16 (benchmarks/pretrain_step.py)
    config = load_config("cpu-small", {"mode": "fusion-all", "crop_size": 32, "batch_size": 8,
                                       "queue_size": 32, "max_steps": 1})  # fmt: skip
    probe = FormatProbe()
    run_pretrain(config, synth_root, tmp_path / "run", callbacks=[probe])
    assert probe.seen == {"weight": True, "weight_nchw": False, "input": True}


def test_resuming_takes_this_versions_augmentation_constants() -> None:
    # the augmentation holds only preset constants; an older module layout named them otherwise
    module = PretrainModule(load_config("cpu-small", {"mode": "fusion-all"}))
    state = module.state_dict()
    own = {k: v for k, v in state.items() if k.startswith("augmentation.")}
    assert own  # kornia keeps its parameter ranges as buffers
    old = {k: v for k, v in state.items() if not k.startswith("augmentation.")}
    old["augmentation.intensity.RandomBrightness_1._param_generator.brightness_factor"] = (
        torch.tensor([0.8, 1.2])
    )
    checkpoint = {"state_dict": old, "sensormoco": module.metadata()}
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])  # strict: the keys match again


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["shared", "per-sensor"])
def test_a_symmetric_run_trains_on_both_directions_of_every_location(
    synth_root: Path, tmp_path: Path, encoder: str
) -> None:
    overrides = {"mode": "sensor-pairs", "symmetric": True, "encoder": encoder, "crop_size": 32}
    overrides |= {"batch_size": 8, "queue_size": 32, "max_steps": 2}
    config = load_config("cpu-small", overrides)
    seen: list[int] = []

    def rows(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0].shape[0])

    class Probe(L.Callback):
        def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            assert isinstance(pl_module, PretrainModule)
            pl_module.moco.register_forward_pre_hook(rows)

    result = run_pretrain(config, synth_root, tmp_path / "run", callbacks=[Probe()])
    assert seen == [16, 16]  # 2 x 8 locations a step: an S2 and an S1 query for each
    assert result["steps"] == 2
    assert (tmp_path / "run" / "encoder.pt").is_file()
