"""DDP correctness: 2 CPU processes (gloo) follow the 1-process run with the same global batch.

Both runs see the same 8 pairs per step. The single process computes batch norm on 2 sub-batches
of 4 (``bn_splits=2``), exactly the samples each rank normalises over, so the two runs are the
same computation up to float summation order (batch-norm running statistics aside: see the
test); shuffle-BN is off in both (its permutations are
drawn differently on 1 and 2 processes). Tolerance: 1e-4 on every loss, 1e-5 on every weight.
Run with one shared queue and with two queue segments (cross-sensor negatives: keys gathered
from both ranks must enter their group's segment in global-batch order).
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from sensormoco.data.bands import S1_BANDS
from sensormoco.models import MoCo, build_encoder

STEPS, GLOBAL_BATCH, WORLD = 4, 8, 2


def _batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    return [(torch.randn(GLOBAL_BATCH, 2, 32, 32, generator=g),
             torch.randn(GLOBAL_BATCH, 2, 32, 32, generator=g)) for _ in range(STEPS)]  # fmt: skip


def _moco(bn_splits: int, groups: int) -> MoCo:
    torch.manual_seed(0)
    return MoCo(build_encoder(S1_BANDS, "resnet18", dim=8), queue_size=16, momentum=0.9,
                shuffle_bn=False, bn_splits=bn_splits, queue_groups=groups)  # fmt: skip


def _train(model: torch.nn.Module, moco: MoCo, part: slice) -> list[float]:
    optimizer = torch.optim.SGD(moco.encoder_q.parameters(), lr=0.05, momentum=0.9)
    # key groups of the global batch: 0, 1, 0, 1, ... (each rank's share holds both)
    key_group = torch.arange(GLOBAL_BATCH) % moco.queue_groups if moco.queue_groups > 1 else None
    losses = []
    for x_q, x_k in _batches():
        group = None if key_group is None else key_group[part]
        out = model(x_q[part], x_k[part], group)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.loss))
    return losses


def _worker(rank: int, init_file: str, out_dir: str, groups: int) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=60))  # fmt: skip
    try:
        moco = _moco(bn_splits=1, groups=groups)
        model = DistributedDataParallel(moco)
        share = GLOBAL_BATCH // WORLD
        losses = _train(model, moco, slice(rank * share, (rank + 1) * share))
        torch.save({"losses": losses, "state": moco.state_dict()}, Path(out_dir) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("groups", [1, 2])
def test_two_processes_match_one_process_with_the_same_global_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, groups: int
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker,
                                 args=(r, str(tmp_path / "init"), str(tmp_path), groups))
                 for r in range(WORLD)]  # fmt: skip
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0] * WORLD, "a rank failed"

    single = _moco(bn_splits=2, groups=groups)
    single_losses = _train(single, single, slice(None))
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in range(WORLD)]
    ddp_losses = [sum(r["losses"][i] for r in ranks) / WORLD for i in range(STEPS)]
    assert ddp_losses == pytest.approx(single_losses, abs=1e-4)
    assert single_losses[-1] != single_losses[0]  # the runs did train
    # batch-norm running statistics are left out: with bn_splits the single process updates them
    # once per sub-batch, DDP once per step (from rank 0); training never reads them
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    compared = [k for k in single.state_dict() if not k.endswith(statistics)]
    assert {"queue", "queue_ptr"} <= set(compared)
    for key in compared:
        value = single.state_dict()[key]
        for r in ranks:
            torch.testing.assert_close(r["state"][key], value, atol=1e-5, rtol=1e-4, msg=key)
