from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from sensormoco import defaults
from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, S2_BANDS, S2_LAND_BANDS
from sensormoco.models.moco import MoCo, build_encoder
from tests.models.tiny import tiny_encoder

BAND_SETS = {2: S1_BANDS, 10: S2_LAND_BANDS, 12: FUSION_BANDS, 13: S2_BANDS}


def _moco(bands: tuple[str, ...] = S1_BANDS, adapter: str = "conv1", **kwargs: float) -> MoCo:
    torch.manual_seed(0)
    encoder = build_encoder(bands, "resnet18", adapter, dim=8)
    return MoCo(encoder, **{"queue_size": 16, "momentum": 0.9, **kwargs})  # type: ignore[arg-type]


def _keys(n: int, dim: int = 8, offset: int = 0) -> Tensor:
    return F.normalize(
        torch.arange(offset, offset + n * dim, dtype=torch.float).view(n, dim), dim=1
    )


@pytest.mark.parametrize(
    ("n_bands", "adapter"),
    [(2, "conv1"), (10, "conv1"), (12, "conv1"), (13, "conv1"), (12, "1x1"), (2, "zero-pad")],
)
def test_forward_on_any_band_count(n_bands: int, adapter: str) -> None:
    moco = _moco(BAND_SETS[n_bands], adapter)
    x = torch.randn(4, n_bands, 32, 32)
    out = moco(x, x + 0.1 * torch.randn_like(x))
    assert torch.isfinite(out.loss)
    assert out.logits.shape == (4, 17)
    assert torch.equal(out.labels, torch.zeros(4, dtype=torch.long))
    assert out.keys.shape == (4, 8)
    torch.testing.assert_close(out.keys.norm(dim=1), torch.ones(4))
    assert int(moco.queue_ptr) == 4
    torch.testing.assert_close(moco.queue[:, :4], out.keys.T)
    out.loss.backward()
    assert all(p.grad is None for p in moco.encoder_k.parameters())


def test_key_encoder_follows_the_momentum_rule() -> None:
    moco = _moco()
    q_params = dict(moco.encoder_q.named_parameters())
    k_params = dict(moco.encoder_k.named_parameters())
    assert all(not p.requires_grad for p in k_params.values())
    optimizer = torch.optim.SGD(moco.encoder_q.parameters(), lr=0.5)
    x = torch.randn(4, 2, 32, 32)

    moco(x, x).loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in k_params.values())
    q_before = {n: p.detach().clone() for n, p in q_params.items()}
    k_before = {n: p.detach().clone() for n, p in k_params.items()}
    assert any(not torch.equal(q_before[n], k_before[n]) for n in q_params)  # q moved, k not

    moco(x, x)  # the next forward moves f_k towards the updated f_q
    for name, k in k_params.items():
        torch.testing.assert_close(k, 0.9 * k_before[name] + 0.1 * q_before[name])


def test_queue_and_pointer_are_checkpointed() -> None:
    moco = _moco()
    moco._dequeue_and_enqueue(_keys(4))
    state = moco.state_dict()
    assert {"queue", "queue_ptr"} <= set(state)
    restored = _moco()
    restored.queue.zero_()
    restored.load_state_dict(state)
    assert int(restored.queue_ptr) == 4
    assert torch.equal(restored.queue, moco.queue)
    assert restored.double().queue.dtype == torch.float64  # buffers move with the module


def test_initial_queue_is_normalised() -> None:
    moco = _moco()
    assert moco.queue.shape == (8, 16)
    torch.testing.assert_close(moco.queue.norm(dim=0), torch.ones(16))


def test_enqueue_advances_and_wraps_around() -> None:
    moco = _moco(queue_size=8)
    batches = [_keys(2, offset=16 * i) for i in range(8)]  # fills the queue twice
    for i, keys in enumerate(batches):
        moco._dequeue_and_enqueue(keys)
        assert int(moco.queue_ptr) == (2 * (i + 1)) % 8
        torch.testing.assert_close(moco.queue[:, (2 * i) % 8 : (2 * i) % 8 + 2], keys.T)
    last = torch.cat(batches)[-8:]  # the last K keys, oldest first
    torch.testing.assert_close(moco.queue, last.T)


def test_queue_size_must_be_a_multiple_of_the_global_batch() -> None:
    moco = _moco(queue_size=6)
    x = torch.randn(4, 2, 32, 32)
    message = "queue size 6 is not a multiple of the global batch size 4"
    with pytest.raises(ValueError, match=message):
        moco(x, x)
    with pytest.raises(ValueError, match=message):
        moco._dequeue_and_enqueue(_keys(4))
    assert int(moco.queue_ptr) == 0


def test_grouped_queue_keeps_each_key_in_its_groups_segment() -> None:
    moco = _moco(queue_size=8, queue_groups=2)  # segments: columns 0-3 (group 0), 4-7 (group 1)
    assert moco.queue_ptr.tolist() == [0, 0]
    keys = _keys(6)
    group = torch.tensor([0, 1, 1, 0, 1, 1])  # two keys of group 0, four of group 1
    moco._dequeue_and_enqueue(keys, group)
    torch.testing.assert_close(moco.queue[:, 0:2], keys[[0, 3]].T)
    torch.testing.assert_close(moco.queue[:, 4:8], keys[[1, 2, 4, 5]].T)
    assert moco.queue_ptr.tolist() == [2, 0]  # group 1 filled its segment and wrapped
    more = _keys(2, offset=100)
    moco._dequeue_and_enqueue(more, torch.tensor([1, 1]))
    torch.testing.assert_close(moco.queue[:, 4:6], more.T)  # the oldest group-1 keys replaced
    torch.testing.assert_close(moco.queue[:, 0:2], keys[[0, 3]].T)  # group 0 untouched
    with pytest.raises(ValueError, match="overflow its queue segment of 4"):
        moco._dequeue_and_enqueue(_keys(5), torch.ones(5, dtype=torch.long))


def test_grouped_forward_contrasts_with_the_keys_group_and_needs_groups() -> None:
    moco = _moco(queue_size=8, queue_groups=2)
    x = torch.randn(4, 2, 32, 32)
    group = torch.tensor([0, 1, 0, 1])
    out = moco(x, x + 0.1 * torch.randn_like(x), group)
    assert out.logits.shape == (4, 1 + 4)
    assert moco.queue_ptr.tolist() == [2, 2]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 keys enter the float32 queue
        moco(x, x, group)
    assert moco.queue_ptr.tolist() == [0, 0]
    assert moco.queue.dtype == torch.float32
    with pytest.raises(ValueError, match="key_group is needed exactly when the queue has groups"):
        moco(x, x)
    with pytest.raises(ValueError, match="key_group is needed exactly"):
        _moco()(x, x, group)
    with pytest.raises(ValueError, match="queue_groups must divide the queue size 8"):
        _moco(queue_size=8, queue_groups=3)


def test_local_shuffle_returns_keys_in_input_order() -> None:
    moco = _moco().eval()  # eval: a key does not depend on its batch
    x_k = torch.randn(4, 2, 32, 32)
    out = moco(torch.randn(4, 2, 32, 32), x_k)
    with torch.no_grad():
        direct = F.normalize(moco.encoder_k(x_k), dim=1)
    torch.testing.assert_close(out.keys, direct)


def test_bn_splits() -> None:
    moco = _moco(bn_splits=2)
    out = moco(torch.randn(4, 2, 32, 32), torch.randn(4, 2, 32, 32))
    assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="not a multiple of bn_splits 2"):
        _moco(queue_size=12, bn_splits=2)(torch.randn(3, 2, 32, 32), torch.randn(3, 2, 32, 32))


def test_encoder_features_and_checks() -> None:
    encoder = build_encoder(S2_LAND_BANDS, "resnet18", "1x1", dim=8)
    assert encoder.bands == S2_LAND_BANDS
    x = torch.randn(2, 10, 32, 32)
    assert encoder.features(x).shape == (2, 512)
    assert encoder(x).shape == (2, 8)
    assert encoder.head.mlp[0].in_features == 512  # hidden width = feature width
    with pytest.raises(ValueError, match="x_q and x_k batch sizes differ"):
        MoCo(encoder, queue_size=8)(x, x[:1])


def _sub_batches(moco: MoCo, x_q: Tensor, x_k: Tensor) -> tuple[list[set[int]], list[set[int]]]:
    """Per row j, the rows whose query (and whose key) changes when row j's query (key) input
    changes: in train mode exactly the rows normalised with j by batch norm. Each forward runs
    on a copy of ``moco`` with the same seed, so queue, weights and random draws are equal."""

    def run(xq: Tensor, xk: Tensor) -> tuple[Tensor, Tensor]:
        torch.manual_seed(11)
        out = copy.deepcopy(moco)(xq, xk)
        return out.logits[:, 1:], out.keys  # l_neg = q . queue / T: moves exactly with q

    base_q, base_k = run(x_q, x_k)
    q_sets, k_sets = [], []
    for j in range(x_q.shape[0]):
        xq, xk = x_q.clone(), x_k.clone()
        xq[j] *= 1.5  # zeros (an absent sensor) stay zeros
        xk[j] *= 1.5
        q, _ = run(xq, x_k)
        _, k = run(x_q, xk)
        q_sets.append({i for i in range(len(q)) if not torch.allclose(q[i], base_q[i])})
        k_sets.append({i for i in range(len(k)) if not torch.allclose(k[i], base_k[i])})
    return q_sets, k_sets


def test_on_one_process_a_query_and_its_key_normalise_over_different_samples() -> None:
    """MoCo §3.3 on one process, with the default settings: the samples a query's batch norm
    sees are not those its key's sees, and S1-only and S2-only rows are balanced in each
    sub-batch (sensor pairs: row i's query is S2 and its key S1, or the reverse)."""
    n = 8
    torch.manual_seed(0)
    moco = MoCo(
        tiny_encoder(),
        queue_size=32,
        momentum=1.0,  # momentum 1: f_k stays put
        bn_splits=defaults.MOCO_BN_SPLITS,
    )
    torch.manual_seed(12)
    s2_query = torch.tensor([True, False] * (n // 2))[torch.randperm(n)]  # N
    optical = torch.randn(n, 12, 16, 16) * torch.tensor([1.0] * 10 + [0.0] * 2).view(1, 12, 1, 1)
    radar = torch.randn(n, 12, 16, 16) * torch.tensor([0.0] * 10 + [1.0] * 2).view(1, 12, 1, 1)
    x_q = torch.where(s2_query.view(-1, 1, 1, 1), optical, radar)
    x_k = torch.where(s2_query.view(-1, 1, 1, 1), radar, optical)
    q_sets, k_sets = _sub_batches(moco, x_q, x_k)
    for i in range(n):
        assert i in q_sets[i]
        assert i in k_sets[i]
        assert q_sets[i] != k_sets[i], f"row {i}: query and key normalised over the same rows"
        assert len(q_sets[i] & k_sets[i]) <= len(q_sets[i]) // 2
        for members in (q_sets[i], k_sets[i]):
            assert sum(bool(s2_query[j]) for j in members) * 2 == len(members)  # balanced


def test_symmetric_rows_normalise_kind_balanced_and_away_from_their_keys() -> None:
    """The symmetric loss's 2N rows (N S2 queries with S1 keys, then the reverse) take the
    one-direction rule: every sub-batch is half S2, half S1 queries, and a query and its key
    are normalised over different samples."""
    n = 8  # locations: 2N = 16 rows, bn_splits 2: sub-batches of 8
    torch.manual_seed(0)
    moco = MoCo(tiny_encoder(), queue_size=32, momentum=1.0, bn_splits=2)
    torch.manual_seed(13)
    optical = torch.randn(n, 12, 16, 16) * torch.tensor([1.0] * 10 + [0.0] * 2).view(1, 12, 1, 1)
    radar = torch.randn(n, 12, 16, 16) * torch.tensor([0.0] * 10 + [1.0] * 2).view(1, 12, 1, 1)
    x_q, x_k = torch.cat([optical, radar]), torch.cat([radar, optical])  # 2N x 12 x 16 x 16
    q_sets, k_sets = _sub_batches(moco, x_q, x_k)
    for i in range(2 * n):
        assert len(q_sets[i]) == len(k_sets[i]) == n
        assert sum(j < n for j in q_sets[i]) == sum(j < n for j in k_sets[i]) == n // 2
        assert len(q_sets[i] & k_sets[i]) <= n // 2, f"row {i}: key meets its query's rows"
