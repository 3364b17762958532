"""Every mode pairs each query with a view of its own location (ids encoded in the pixels)."""

from __future__ import annotations

import pytest
import torch

from sensormoco.data.augment import Augmentation
from sensormoco.data.bands import FUSION_BANDS
from sensormoco.training.views import KEY_SENSORS, MODES, encoder_bands, make_views

N, SIZE = 12, 16


def _batch() -> dict[str, torch.Tensor]:
    """Location i has S2 bands all equal to 100 + i and S1 bands equal to -(1 + i)."""
    ids = torch.arange(N, dtype=torch.float32).view(N, 1, 1, 1)
    return {
        "s2": (100 + ids).expand(N, 10, 24, 24).clone(),
        "s1": (-1 - ids).expand(N, 2, 24, 24).clone(),
    }


def _sources(view: torch.Tensor) -> list[tuple[float | None, float | None]]:
    """Per row: the S2 value (None when zeroed) and the S1 value (None when zeroed)."""
    out = []
    for row in view:
        s2, s1 = row[:10].mean().item(), row[10:].mean().item()
        out.append((s2 if s2 != 0 else None, s1 if s1 != 0 else None))
    return out


def _preset(mode: str) -> str:
    return "none" if mode == "sensor-pairs" else "aug1"  # crops keep constant values


@pytest.mark.parametrize("mode", [m for m in MODES if m != "augment"])
def test_each_query_is_paired_with_its_own_location(mode: str) -> None:
    torch.manual_seed(0)
    q, k, _ = make_views(_batch(), mode, Augmentation(_preset(mode), SIZE),
                         generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert q.shape == k.shape == (N, len(FUSION_BANDS), SIZE, SIZE)
    for i, (qs, ks) in enumerate(zip(_sources(q), _sources(k), strict=True)):
        for s2, s1 in (qs, ks):
            assert s2 is None or s2 == pytest.approx(100 + i)
            assert s1 is None or s1 == pytest.approx(-1 - i)
            assert (s2, s1) != (None, None)


def test_sensor_pairs_swap_half_the_batch_and_name_each_key_sensor() -> None:
    q, k, key_sensor = make_views(_batch(), "sensor-pairs", Augmentation("none", SIZE),
                                  generator=torch.Generator().manual_seed(2))  # fmt: skip
    q_src, k_src = _sources(q), _sources(k)
    optical_queries = [s2 is not None and s1 is None for s2, s1 in q_src]
    assert sum(optical_queries) == N // 2
    for (qs2, qs1), (ks2, ks1) in zip(q_src, k_src, strict=True):
        assert (qs2 is None) != (ks2 is None)
        assert (qs1 is None) != (ks1 is None)
    assert key_sensor is not None
    sensors = [KEY_SENSORS[i] for i in key_sensor.tolist()]
    assert sensors == ["s2" if s2 is not None else "s1" for s2, _ in k_src]


@pytest.mark.parametrize("mode", ["sensor-pairs", "sensor-pairs-augment"])
def test_symmetric_views_give_both_directions_of_every_location(mode: str) -> None:
    torch.manual_seed(4)
    augmentation = Augmentation(_preset(mode), SIZE)
    q, k, key_sensor = make_views(_batch(), mode, augmentation, symmetric=True)
    assert q.shape == k.shape == (2 * N, len(FUSION_BANDS), SIZE, SIZE)
    assert key_sensor is not None
    assert [KEY_SENSORS[i] for i in key_sensor.tolist()] == ["s1"] * N + ["s2"] * N
    expected_q = [(100.0 + i, None) for i in range(N)] + [(None, -1.0 - i) for i in range(N)]
    expected_k = [(None, -1.0 - i) for i in range(N)] + [(100.0 + i, None) for i in range(N)]

    def rounded(view: torch.Tensor) -> list[tuple[float | None, ...]]:
        return [tuple(None if v is None else round(v, 3) for v in row) for row in _sources(view)]

    assert rounded(q) == expected_q
    assert rounded(k) == expected_k
    with pytest.raises(ValueError, match="symmetric loss needs a sensor-pair mode"):
        make_views(_batch(), "fusion-all", Augmentation("aug1", SIZE), symmetric=True)
    with pytest.raises(ValueError, match="symmetric loss needs a sensor-pair mode"):
        make_views(_batch(), "augment", Augmentation("aug1", SIZE), symmetric=True)


def test_sensor_pairs_share_the_crop_window() -> None:
    torch.manual_seed(3)
    pattern = torch.randn(N, 1, 24, 24)
    batch = {
        "s2": pattern.expand(N, 10, 24, 24).clone(),
        "s1": pattern.expand(N, 2, 24, 24).clone(),
    }
    q, k, _ = make_views(batch, "sensor-pairs-augment", Augmentation("aug1", SIZE))
    # whichever sensor each view holds, both show the same window of the same pattern
    torch.testing.assert_close(
        q.sum(1) / q.abs().sum(1).clamp_min(1e-9), k.sum(1) / k.abs().sum(1).clamp_min(1e-9)
    )
    q2, k2, _ = make_views(
        batch, "sensor-pairs-augment", Augmentation("aug1", SIZE), same_window=False
    )
    assert not torch.allclose(q2.sum(1), k2.sum(1))


def test_fusion_partial_has_equal_shares_and_same_choice_in_both_views() -> None:
    q, k, key_sensor = make_views(_batch(), "fusion-partial", Augmentation("aug1", SIZE))
    assert key_sensor is None
    q_kinds = [(s2 is not None, s1 is not None) for s2, s1 in _sources(q)]
    assert q_kinds == [(s2 is not None, s1 is not None) for s2, s1 in _sources(k)]
    assert sorted(q_kinds).count((True, True)) == N // 3
    assert q_kinds.count((True, False)) == q_kinds.count((False, True)) == N // 3


@pytest.mark.parametrize(("input_", "channels"), [("s1", 2), ("s2", 10), ("s1s2", 12)])
def test_augment_mode_uses_the_chosen_input(input_: str, channels: int) -> None:
    q, k, _ = make_views(_batch(), "augment", Augmentation("aug2", SIZE), input_=input_)
    assert q.shape == k.shape == (N, channels, SIZE, SIZE)
    assert len(encoder_bands("augment", input_)) == channels


def test_invalid_combinations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown pre-training mode"):
        make_views(_batch(), "pairs", Augmentation("aug1", SIZE))
    with pytest.raises(ValueError, match="sensor-pairs uses no augmentation"):
        make_views(_batch(), "sensor-pairs", Augmentation("aug1", SIZE))
    with pytest.raises(ValueError, match="needs an augmentation preset"):
        make_views(_batch(), "fusion-all", Augmentation("none", SIZE))
    with pytest.raises(ValueError, match="input 's1' applies to augment"):
        make_views(_batch(), "fusion-all", Augmentation("aug1", SIZE), input_="s1")


AUGMENTED_MODES = ["sensor-pairs-augment", "fusion-all", "fusion-partial", "fusion-optional"]


@pytest.mark.parametrize("preset", ["paper", "aug1", "aug2", "aug3"])
@pytest.mark.parametrize("mode", AUGMENTED_MODES)
@pytest.mark.parametrize("absent", ["s1", "s2"])
def test_an_absent_sensor_stays_exactly_zero_through_every_preset(
    mode: str, preset: str, absent: str
) -> None:
    """Brightness, contrast, blur and grayscale must not write into a sensor's zero slots."""
    torch.manual_seed(4)
    batch = {"s2": torch.randn(N, 10, 24, 24) + 3, "s1": torch.randn(N, 2, 24, 24) - 3}
    batch[absent] = torch.zeros_like(batch[absent])
    slots = slice(10, 12) if absent == "s1" else slice(0, 10)
    for _ in range(3):  # several draws: each op fires with its probability
        q, k, _ = make_views(batch, mode, Augmentation(preset, SIZE),
                             generator=torch.Generator().manual_seed(5))  # fmt: skip
        assert torch.count_nonzero(q[:, slots]) == 0
        assert torch.count_nonzero(k[:, slots]) == 0


def test_fusion_optional_shares_the_crop_window() -> None:
    torch.manual_seed(3)
    pattern = torch.randn(N, 1, 24, 24)
    batch = {
        "s2": pattern.expand(N, 10, 24, 24).clone(),
        "s1": pattern.expand(N, 2, 24, 24).clone(),
    }
    q, k, _ = make_views(batch, "fusion-optional", Augmentation("aug1", SIZE))
    # per pixel, the sign of the pattern (the mean sign over the view's present channels)
    torch.testing.assert_close(_sign(q), _sign(k))
    q2, k2, _ = make_views(batch, "fusion-optional", Augmentation("aug1", SIZE), same_window=False)
    assert not torch.allclose(_sign(q2), _sign(k2))


def _sign(view: torch.Tensor) -> torch.Tensor:
    return view.sign().sum(1) / view.ne(0).sum(1)  # N x H x W


def test_fusion_optional_names_each_key_sensor_kind() -> None:
    _, k, key_sensor = make_views(_batch(), "fusion-optional", Augmentation("aug1", SIZE),
                                  generator=torch.Generator().manual_seed(6))  # fmt: skip
    assert key_sensor is not None
    names = {(False, True): "s1", (True, False): "s2", (True, True): "s1s2"}
    kinds = [names[(s2 is not None, s1 is not None)] for s2, s1 in _sources(k)]
    assert [KEY_SENSORS[i] for i in key_sensor.tolist()] == kinds
