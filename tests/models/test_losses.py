from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sensormoco.models.losses import info_nce, momentum_update, positive_accuracy


def _reference_info_nce(
    q: list[list[float]], k: list[list[float]], queue: list[list[float]], t: float
) -> float:
    """-log(exp(l_pos/T) / sum exp(l/T)), averaged over the batch, with explicit loops."""
    total = 0.0
    for n in range(len(q)):
        l_pos = sum(q[n][d] * k[n][d] for d in range(len(q[n])))
        l_neg = [sum(q[n][d] * queue[d][j] for d in range(len(q[n]))) for j in range(len(queue[0]))]
        denominator = math.exp(l_pos / t) + sum(math.exp(x / t) for x in l_neg)
        total += -math.log(math.exp(l_pos / t) / denominator)
    return total / len(q)


def test_info_nce_matches_hand_computed_numbers() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    queue = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # D x K: columns (0, 1) and (-1, 0)
    loss, logits = info_nce(q, k, queue, temperature=0.5)
    # row 0: l/T = [2, 0, -2] -> log(1 + e^-2 + e^-4); row 1: l/T = [1.6, 2, 0]
    expected = (
        math.log(1 + math.exp(-2) + math.exp(-4)) + math.log(1 + math.exp(0.4) + math.exp(-1.6))
    ) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert loss.item() == pytest.approx(0.566927606, rel=1e-6)
    torch.testing.assert_close(logits, torch.tensor([[2.0, 0.0, -2.0], [1.6, 2.0, 0.0]]))


def test_info_nce_matches_loop_reference_and_logits_layout() -> None:
    gen = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(3, 4, generator=gen), dim=1)
    k = F.normalize(torch.randn(3, 4, generator=gen), dim=1)
    queue = F.normalize(torch.randn(4, 5, generator=gen), dim=0)
    loss, logits = info_nce(q, k, queue, temperature=0.2)
    expected = _reference_info_nce(q.tolist(), k.tolist(), queue.tolist(), 0.2)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert logits.shape == (3, 6)
    torch.testing.assert_close(logits[:, 0], (q * k).sum(dim=1) / 0.2)
    torch.testing.assert_close(logits[:, 1:], q @ queue / 0.2)


def test_grouped_info_nce_contrasts_each_row_with_its_group_only() -> None:
    gen = torch.Generator().manual_seed(1)
    q = F.normalize(torch.randn(4, 3, generator=gen), dim=1)
    k = F.normalize(torch.randn(4, 3, generator=gen), dim=1)
    queue = F.normalize(torch.randn(3, 6, generator=gen), dim=0)  # groups: columns 0-2, 3-5
    group = torch.tensor([1, 0, 0, 1])
    loss, logits = info_nce(q, k, queue, 0.2, group, groups=2)
    assert logits.shape == (4, 4)
    expected = 0.0
    for i, g in enumerate(group.tolist()):
        segment = queue[:, 3 * g : 3 * g + 3]  # D x 3
        expected += info_nce(q[i : i + 1], k[i : i + 1], segment, 0.2)[0].item() / 4
        torch.testing.assert_close(logits[i, 1:], q[i] @ segment / 0.2)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="key_group is needed exactly when groups > 1"):
        info_nce(q, k, queue, 0.2, groups=2)
    with pytest.raises(ValueError, match=r"group indices in \[0, 2\)"):
        info_nce(q, k, queue, 0.2, torch.tensor([0, 1, 2, 0]), groups=2)
    with pytest.raises(ValueError, match="positive divisor of the queue size 6"):
        info_nce(q, k, queue, 0.2, group, groups=4)


def test_info_nce_refuses_bad_shapes_and_temperature() -> None:
    q = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="q and k must both be N x D"):
        info_nce(q, torch.zeros(2, 4), torch.zeros(3, 5), 0.2)
    with pytest.raises(ValueError, match="queue must be D x K with D = 3"):
        info_nce(q, q, torch.zeros(4, 5), 0.2)
    with pytest.raises(ValueError, match="temperature must be positive"):
        info_nce(q, q, torch.zeros(3, 5), 0.0)


def test_positive_accuracy_on_hand_made_logits() -> None:
    logits = torch.tensor(
        [
            [3.0, 1.0, 2.0],  # hit
            [0.0, 5.0, 1.0],  # miss
            [2.0, 2.0, 0.0],  # tie: miss
            [1.0, 0.0, 0.0],  # hit
        ]
    )
    assert positive_accuracy(logits).item() == 0.5
    assert positive_accuracy(torch.zeros(4, 9)).item() == 0.0  # collapsed: never a hit
    with pytest.raises(ValueError, match="N x"):
        positive_accuracy(torch.zeros(4, 1))


class _Tiny(nn.Module):
    def __init__(self, weight: list[float], bias: float) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([weight]))
            self.linear.bias.fill_(bias)


@pytest.mark.parametrize(
    ("momentum", "weight", "bias"),
    [(0.9, [9.1, 18.2], 27.3), (0.0, [1.0, 2.0], 3.0), (1.0, [10.0, 20.0], 30.0)],
)
def test_momentum_update_exact_values(momentum: float, weight: list[float], bias: float) -> None:
    online, target = _Tiny([1.0, 2.0], 3.0), _Tiny([10.0, 20.0], 30.0)
    assert online.bn.running_mean is not None
    assert online.bn.num_batches_tracked is not None
    online.bn.running_mean.fill_(5.0)
    online.bn.num_batches_tracked.fill_(7)
    online.linear.weight.grad = torch.full((1, 2), 0.5)
    momentum_update(online, target, momentum)
    torch.testing.assert_close(target.linear.weight, torch.tensor([weight]))
    torch.testing.assert_close(target.linear.bias, torch.tensor([bias]))
    torch.testing.assert_close(online.linear.weight, torch.tensor([[1.0, 2.0]]))  # online untouched
    # buffers copied, gradients untouched
    assert target.bn.running_mean is not None
    assert target.bn.num_batches_tracked is not None
    assert target.bn.running_mean.item() == 5.0
    assert target.bn.num_batches_tracked.item() == 7
    torch.testing.assert_close(online.linear.weight.grad, torch.full((1, 2), 0.5))
    assert target.linear.weight.grad is None


def test_momentum_update_refuses_mismatch() -> None:
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\]"):
        momentum_update(_Tiny([1.0, 2.0], 0.0), _Tiny([1.0, 2.0], 0.0), 1.5)
    with pytest.raises(ValueError, match=r"modules differ: parameter 'weight' meets '0\.weight'"):
        momentum_update(nn.Linear(2, 1), nn.Sequential(nn.Linear(2, 1)), 0.5)


def test_info_nce_is_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    q = F.normalize(torch.randn(4, 8), dim=1).bfloat16()
    k = F.normalize(torch.randn(4, 8), dim=1).bfloat16()
    queue = F.normalize(torch.randn(8, 16), dim=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, logits = info_nce(q, k, queue, 0.2)
    assert logits.dtype == torch.float32
    assert loss.dtype == torch.float32
    expected, _ = info_nce(q.float(), k.float(), queue, 0.2)
    torch.testing.assert_close(loss, expected)
