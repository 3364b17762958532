"""Which sensors an input holds, per row: an absent sensor is exactly zero.

After standardisation a missing sensor is placed as zeros (its band means), at pre-training and
at transfer alike, and nothing may write into those slots (DESIGN §3). A sensor is thus
*present* in a row exactly when any of its values is non-zero; augmentation and the 1x1 adapter
read presence this way, from the data itself, so both behave the same at pre-training and at
transfer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

Groups = Sequence[Sequence[int]]  # channel indices of each sensor


def sensor_presence(x: Tensor, groups: Groups) -> Tensor:
    """Per row, whether each sensor (channel group) holds any non-zero value: N x C x H x W ->
    N x G (bool)."""
    flat = x.detach().ne(0).flatten(2).any(dim=2)  # N x C
    return torch.stack([flat[:, list(idx)].any(dim=1) for idx in groups], dim=1)  # N x G


def channel_mask(presence: Tensor, groups: Groups, channels: int) -> Tensor:
    """Presence (N x G) spread over the channels of each group: N x C x 1 x 1, 1 where the
    channel's sensor is present and 0 elsewhere (also on channels outside every group)."""
    mask = presence.new_zeros(presence.shape[0], channels)  # N x C
    for g, idx in enumerate(groups):
        mask[:, list(idx)] = presence[:, g : g + 1]
    return mask.view(*mask.shape, 1, 1)
