"""The two views of each pre-training mode (docs/design.md §3), built on batches.

Inputs are normalised batches ``s1`` (N x 2 x H x W) and ``s2`` (N x 10 x H x W, land bands) of
the same N locations. Every mode except ``augment`` feeds the encoders the 12-channel fusion
layout (10 S2 bands then VV, VH; a missing sensor is zeros, i.e. its mean after normalisation),
so one encoder sees S1, S2 or both.

| mode | query / key |
|---|---|
| augment | two augmentations of one input (s1, s2 or s1s2) |
| sensor-pairs | S2 of location i / S1 of location i; swapped for a random half of the batch |
| (symmetric) | both directions of every location: 2N rows, S2 queries first, then S1 ones |
| sensor-pairs-augment | as sensor-pairs, each view also augmented |
| fusion-all | two augmentations of the s1s2 stack |
| fusion-partial | each location is s1-only, s2-only or s1s2 (equal shares); two augmentations |
| fusion-optional | each view independently s1-only, s2-only or s1s2 of location i; augmented |

In the sensor-pair modes and ``fusion-optional`` :class:`Views` also says which sensors each key
holds (``key_sensor``, an index into :data:`KEY_SENSORS`: 0 S1, 1 S2, 2 both), so MoCo can keep
each key's negatives in that kind (``negatives: cross-sensor``, see
:class:`~sensormoco.models.moco.MoCo`): two queue segments for sensor pairs, three for
fusion-optional.

Geo-alignment: in the sensor-pair modes and ``fusion-optional`` the two views of a location
often hold different sensors, and by default they share one crop window (``same_window``); the
other augmentation-based modes draw independent windows, as MoCo does.

Missing sensors stay exactly zero: the augmentation is told the sensor groups of the layout
(see :mod:`sensormoco.data.augment`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from sensormoco.data.augment import Augmentation
from sensormoco.data.bands import FUSION_BANDS, INPUT_BANDS
from sensormoco.models.adapters import sensor_groups, to_fusion_layout

MODES: tuple[str, ...] = (
    "augment",
    "sensor-pairs",
    "sensor-pairs-augment",
    "fusion-all",
    "fusion-partial",
    "fusion-optional",
)
INPUTS: tuple[str, ...] = ("s1", "s2", "s1s2")
SENSOR_PAIR_MODES: tuple[str, ...] = ("sensor-pairs", "sensor-pairs-augment")
# modes whose views name each key's sensors, so that they can take cross-sensor negatives
CROSS_SENSOR_MODES: tuple[str, ...] = (*SENSOR_PAIR_MODES, "fusion-optional")
KEY_SENSORS: tuple[str, ...] = ("s1", "s2", "s1s2")  # Views.key_sensor indexes this
# The sensors kept by each fusion choice (as KEY_SENSORS): 0 = s1 only, 1 = s2 only, 2 = both.
_KEEP_S1 = torch.tensor([True, False, True])
_KEEP_S2 = torch.tensor([False, True, True])


def encoder_bands(mode: str, input_: str = "s1s2") -> tuple[str, ...]:
    """The bands an encoder pre-trained in ``mode`` takes (``input_`` matters for augment)."""
    check_mode(mode, input_)
    if mode == "augment":
        return INPUT_BANDS[input_]
    return FUSION_BANDS


def key_kinds(mode: str) -> int:
    """How many kinds of key (:data:`KEY_SENSORS`, from the first) ``mode`` produces: 2 for the
    sensor pairs (S1 or S2), 3 for fusion-optional; 1 (no kinds) for the other modes."""
    if mode in SENSOR_PAIR_MODES:
        return 2
    return len(KEY_SENSORS) if mode == "fusion-optional" else 1


def check_mode(mode: str, input_: str = "s1s2") -> None:
    if mode not in MODES:
        raise ValueError(f"unknown pre-training mode {mode!r}; choose one of {list(MODES)}")
    if input_ not in INPUTS:
        raise ValueError(f"unknown input {input_!r}; choose one of {list(INPUTS)}")
    if mode != "augment" and input_ != "s1s2":
        raise ValueError(f"mode {mode} uses both sensors; input {input_!r} applies to augment")


def check_preset(mode: str, preset: str) -> None:
    """sensor-pairs takes no augmentation beyond the crop (preset ``none``); every other mode
    needs one, or its two views would be identical."""
    if mode == "sensor-pairs" and preset != "none":
        raise ValueError(
            f"sensor-pairs uses no augmentation (preset 'none'), got {preset!r}; "
            "use sensor-pairs-augment to augment the views"
        )
    if mode != "sensor-pairs" and preset == "none":
        raise ValueError(f"mode {mode} needs an augmentation preset; 'none' gives equal views")


def _masked(s1: Tensor, s2: Tensor, choice: Tensor) -> Tensor:
    """Fusion layout with, per location, the sensors of ``choice`` (N,) kept: N x 12 x H x W."""
    keep_s1 = _KEEP_S1.to(s1.device)[choice].view(-1, 1, 1, 1)  # N x 1 x 1 x 1
    keep_s2 = _KEEP_S2.to(s2.device)[choice].view(-1, 1, 1, 1)  # N x 1 x 1 x 1
    return to_fusion_layout(s2 * keep_s2, s1 * keep_s1)  # N x 12 x H x W


def equal_shares(n: int, generator: torch.Generator | None = None) -> Tensor:
    """A random assignment of n items to choices 0, 1, 2 in equal shares (N,)."""
    return (torch.arange(n) % 3)[torch.randperm(n, generator=generator)]


class Views(NamedTuple):
    query: Tensor  # N x C x size x size (2N rows with the symmetric loss)
    key: Tensor  # as query, row i from the same location as the query's row i
    key_sensor: Tensor | None  # N (or 2N), index into KEY_SENSORS (sensor-pair modes), else None


def make_views(
    batch: dict[str, Tensor],
    mode: str,
    augmentation: Augmentation,
    input_: str = "s1s2",
    same_window: bool = True,
    generator: torch.Generator | None = None,
    symmetric: bool = False,
) -> Views:
    """Query and key views (N x C x size x size each) of the batch's N locations: row i of both
    always comes from location i. ``generator`` drives the mode's own choices (swaps, sensor
    choices); the augmentation draws from torch's global generator, as kornia does.

    ``symmetric`` (sensor-pair modes): both directions for every location, 2N rows: row i
    (< N) has location i's S2 as query and its S1 as key, row N + i the reverse."""
    check_mode(mode, input_)
    check_preset(mode, augmentation.preset)
    if symmetric and mode not in SENSOR_PAIR_MODES:
        raise ValueError(f"the symmetric loss needs a sensor-pair mode, not {mode}")
    s1, s2 = batch["s1"], batch["s2"]  # N x 2 x H x W, N x 10 x H x W
    n = s1.shape[0]
    groups = list(sensor_groups(encoder_bands(mode, input_)).values())  # channels per sensor
    if mode == "augment":
        x = {"s1": s1, "s2": s2}.get(input_)
        x = to_fusion_layout(s2, s1) if x is None else x  # N x C x H x W
        return Views(augmentation(x, groups), augmentation(x, groups), None)
    if mode in SENSOR_PAIR_MODES:
        optical, radar = to_fusion_layout(s2, None), to_fusion_layout(None, s1)  # N x 12 x H x W
        if symmetric:
            query, key = torch.cat([optical, radar]), torch.cat([radar, optical])  # 2N x 12 x H x W
            query, key = augmentation.pair(query, key, same_window, groups)
            key_sensor = torch.arange(2, device=s1.device).repeat_interleave(n)  # 2N: S1, then S2
            return Views(query, key, key_sensor)
        swap = torch.zeros(n, dtype=torch.bool)
        swap[torch.randperm(n, generator=generator)[: n // 2]] = True  # N: S1 query, S2 key
        swap = swap.to(s1.device)
        query = torch.where(swap.view(-1, 1, 1, 1), radar, optical)
        key = torch.where(swap.view(-1, 1, 1, 1), optical, radar)
        query, key = augmentation.pair(query, key, same_window, groups)
        return Views(query, key, swap.long())  # key sensor: 1 (S2) where swapped, else 0 (S1)
    if mode == "fusion-all":
        x = to_fusion_layout(s2, s1)  # N x 12 x H x W
        return Views(augmentation(x, groups), augmentation(x, groups), None)
    if mode == "fusion-partial":
        x = _masked(s1, s2, equal_shares(n, generator).to(s1.device))
        return Views(augmentation(x, groups), augmentation(x, groups), None)
    # fusion-optional: each view chooses its sensors independently; one window by default
    q_choice = torch.randint(0, 3, (n,), generator=generator).to(s1.device)
    k_choice = torch.randint(0, 3, (n,), generator=generator).to(s1.device)
    query, key = augmentation.pair(
        _masked(s1, s2, q_choice), _masked(s1, s2, k_choice), same_window, groups
    )
    return Views(query, key, k_choice)  # the key's choice indexes KEY_SENSORS
