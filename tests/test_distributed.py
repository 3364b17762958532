from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from sensormoco.data.bands import S1_BANDS
from sensormoco.distributed import (
    batch_shuffle,
    batch_unshuffle,
    gather_all,
    rank,
    world_size,
)
from sensormoco.models import MoCo, build_encoder


def test_collectives_without_process_group_are_local() -> None:
    assert not dist.is_initialized()
    assert world_size() == 1
    assert rank() == 0
    t = torch.randn(3, 2)
    assert gather_all(t) is t


def test_local_batch_shuffle_round_trip() -> None:
    torch.manual_seed(0)
    x = torch.arange(24.0).view(8, 3)  # N x 3
    shuffled, idx_unshuffle = batch_shuffle(x)
    assert not torch.equal(shuffled, x)  # a real permutation (fixed seed)
    assert torch.equal(shuffled[:, 0].sort().values, x[:, 0])  # same rows, other order
    assert torch.equal(batch_unshuffle(shuffled, idx_unshuffle), x)


def _worker(local_rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=local_rank,
        world_size=world,
        timeout=timedelta(seconds=60),  # a failing rank must not leave the other hanging
    )
    try:
        gathered = gather_all(torch.full((2, 3), float(local_rank)))  # (world x 2) x 3
        x = torch.arange(4.0).view(4, 1) + 100 * local_rank  # distinct rows per rank
        shuffled, idx_unshuffle = batch_shuffle(x)
        restored = batch_unshuffle(shuffled, idx_unshuffle)

        torch.manual_seed(0)  # the same model and queue on every rank, as DDP guarantees
        moco = MoCo(build_encoder(S1_BANDS, "resnet18", dim=8), queue_size=8, momentum=0.9)
        torch.manual_seed(1 + local_rank)  # distinct inputs per rank
        out1 = moco(torch.randn(2, 2, 32, 32), torch.randn(2, 2, 32, 32))
        queue1, ptr1 = moco.queue.clone(), int(moco.queue_ptr)
        # in eval mode a key does not depend on its batch, so the shuffled-across-ranks key
        # path must give each rank exactly its own keys, in order; BN running statistics are
        # made equal on both ranks first, as DDP does by broadcasting buffers from rank 0
        for buffer in moco.buffers():
            dist.broadcast(buffer, src=0)
        moco.eval()
        x_k = torch.randn(2, 2, 32, 32)
        out2 = moco(torch.randn(2, 2, 32, 32), x_k)
        with torch.no_grad():
            direct = F.normalize(moco.encoder_k(x_k), dim=1)
        torch.save(
            {
                "gathered": gathered,
                "x": x,
                "shuffled": shuffled,
                "restored": restored,
                "keys1": out1.keys,
                "queue1": queue1,
                "ptr1": ptr1,
                "keys2": out2.keys,
                "direct2": direct,
                "queue2": moco.queue.clone(),
                "ptr2": int(moco.queue_ptr),
            },
            Path(out_dir) / f"rank{local_rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_queue_holds_keys_of_both_ranks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # spawned processes import this module by name: put the repository root on their sys.path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(r, 2, str(tmp_path / "init"), str(tmp_path)))
        for r in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0, 0], "a rank failed: see its captured stderr"
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))

    expected = torch.cat([torch.zeros(2, 3), torch.ones(2, 3)])
    assert torch.equal(r0["gathered"], expected)
    assert torch.equal(r1["gathered"], expected)
    for r in (r0, r1):
        assert torch.equal(r["restored"], r["x"])
    everything = torch.cat([r0["x"], r1["x"]]).flatten()
    across = torch.cat([r0["shuffled"], r1["shuffled"]]).flatten()
    assert torch.equal(across.sort().values, everything.sort().values)

    # step 1: keys of rank 0 then rank 1 in slots 0..3; step 2 fills 4..7 and wraps to 0
    keys1 = torch.cat([r0["keys1"], r1["keys1"]])  # 4 x D
    keys2 = torch.cat([r0["keys2"], r1["keys2"]])  # 4 x D
    assert not torch.allclose(r0["keys1"], r1["keys1"])
    for r in (r0, r1):
        assert r["ptr1"] == 4
        assert r["ptr2"] == 0
        torch.testing.assert_close(r["queue1"][:, :4], keys1.T)
        torch.testing.assert_close(r["queue2"], torch.cat([keys1, keys2]).T)
        torch.testing.assert_close(r["keys2"], r["direct2"])
