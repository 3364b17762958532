"""Augmentation presets on batches (kornia), safe for multispectral and SAR inputs.

Presets (DESIGN §3): ``paper`` (gaussian blur, elastic transform, flips, brightness/contrast),
``aug1`` (random resized crop), ``aug2`` (aug1 + blur), ``aug3`` (aug2 + brightness/contrast
+ band-mean grayscale), and ``none`` (only the crop to the training size). No hue or saturation
jitter: it has no meaning beyond RGB. Inputs are standardised bands, so brightness and contrast
act additively / multiplicatively without clipping to [0, 1].

Each preset is split into a geometric part and an intensity part so that two views of one
location (an S2 and an S1 patch) can share the crop window: :meth:`Augmentation.pair` runs the
geometric part once on the channel-stacked views, then the intensity part on each view alone.

Missing sensors (DESIGN §3): an input may hold several sensors (``groups``: the channel indices
of each, e.g. the 12-channel fusion layout's S2 and S1 slots), and a sensor absent from a row is
exactly zero (:mod:`sensormoco.data.presence`). Every preset keeps it so: band-mean grayscale
takes the mean per sensor over that sensor's bands, and after the intensity operations the
channels of each row's absent sensors are set back to zero (brightness would shift them).
Without ``groups`` all channels are one sensor.
"""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch
from kornia.augmentation import IntensityAugmentationBase2D
from torch import Tensor, nn

from sensormoco.data.presence import Groups, channel_mask, sensor_presence

PRESETS: tuple[str, ...] = ("none", "paper", "aug1", "aug2", "aug3")

CROP_SCALE = (0.2, 1.0)  # random resized crop: share of the patch area kept
BLUR_KERNEL = 5
BLUR_SIGMA = (0.1, 2.0)
BRIGHTNESS = (0.8, 1.2)  # kornia adds (factor - 1) to every band
CONTRAST = (0.8, 1.2)  # kornia multiplies every band by the factor
GRAYSCALE_P = 0.2


class BandMeanGrayscale(IntensityAugmentationBase2D):
    """With probability ``p``, replace every band by the per-pixel mean over bands: the
    multispectral analogue of RGB grayscale. Called with ``groups=`` (channel indices per sensor)
    the mean is taken per sensor over its own bands, so a sensor of zeros stays zeros."""

    def __init__(self, p: float = GRAYSCALE_P) -> None:
        super().__init__(p=p)

    def apply_transform(
        self,
        input: Tensor,
        params: dict[str, Tensor],
        flags: dict[str, Any],
        transform: Tensor | None = None,
    ) -> Tensor:
        groups = flags.get("groups")
        if groups is None:
            return input.mean(dim=1, keepdim=True).expand_as(input)  # N x C x H x W
        out = input.clone()
        for idx in groups:
            index = torch.tensor(list(idx), device=input.device)
            part = input.index_select(1, index)  # N x Cg x H x W
            out[:, index] = part.mean(dim=1, keepdim=True).expand_as(part)
        return out  # N x C x H x W


Ops = list[K.AugmentationBase2D]


def _parts(preset: str, size: int) -> tuple[Ops, Ops]:
    """The geometric and intensity operations of a preset, in order."""
    crop = K.RandomResizedCrop((size, size), scale=CROP_SCALE)
    blur = K.RandomGaussianBlur(BLUR_KERNEL, BLUR_SIGMA, p=0.5)
    bright = K.RandomBrightness(BRIGHTNESS, clip_output=False, p=0.8)
    contrast = K.RandomContrast(CONTRAST, clip_output=False, p=0.8)
    if preset == "none":
        return [K.RandomCrop((size, size))], []
    if preset == "paper":
        geometric: Ops = [
            K.RandomCrop((size, size)),
            K.RandomElasticTransform(p=0.5),
            K.RandomHorizontalFlip(),
            K.RandomVerticalFlip(),
        ]
        return geometric, [blur, bright, contrast]
    if preset == "aug1":
        return [crop], []
    if preset == "aug2":
        return [crop], [blur]
    if preset == "aug3":
        return [crop], [blur, bright, contrast, BandMeanGrayscale()]
    raise ValueError(f"unknown augmentation preset {preset!r}; choose one of {list(PRESETS)}")


class Augmentation(nn.Module):
    """A preset applied to batches N x C x H x W, on whatever device the batch is on."""

    def __init__(self, preset: str, size: int) -> None:
        super().__init__()
        geometric, intensity = _parts(preset, size)
        self.preset, self.size = preset, size
        # plain Sequential, not kornia's AugmentationSequential: no masks, boxes or inverses are
        # needed, and its bookkeeping cost ~40 % on top of the operations (measured on CPU,
        # 16 x 12 x 128 x 128: geometric 47 -> 33 ms, intensity 23 -> 14 ms a view)
        self.geometric = nn.Sequential(*geometric)  # empty: identity
        self.intensity = nn.Sequential(*intensity)

    def forward(self, x: Tensor, groups: Groups | None = None) -> Tensor:
        """Augment a batch N x C x H x W of sensors ``groups`` (channel indices of each; all
        channels one sensor when None): N x C x size x size, absent sensors still zero."""
        mask = _mask(x, groups)  # read before cropping: a crop may hit a patch of zeros
        return self._intensity(self.geometric(x), groups, mask)  # N x C x size x size

    def _intensity(self, x: Tensor, groups: Groups | None, mask: Tensor) -> Tensor:
        groups = [tuple(range(x.shape[1]))] if groups is None else groups
        for op in self.intensity:
            x = op(x, groups=groups) if isinstance(op, BandMeanGrayscale) else op(x)
        return x * mask  # N x C x size x size: an absent sensor's channels exactly zero

    def pair(
        self, a: Tensor, b: Tensor, same_window: bool = True, groups: Groups | None = None
    ) -> tuple[Tensor, Tensor]:
        """Augment two views of the same locations (N x C x H x W each, sensors ``groups``).
        With ``same_window`` both get one geometric draw per location (geo-alignment
        survives); intensity draws are always independent."""
        if not same_window:
            return self(a, groups), self(b, groups)
        mask_a, mask_b = _mask(a, groups), _mask(b, groups)  # N x C x 1 x 1 each
        stacked = self.geometric(torch.cat([a, b], dim=1))  # N x (Ca + Cb) x size x size
        a_geo, b_geo = stacked.split([a.shape[1], b.shape[1]], dim=1)
        return self._intensity(a_geo, groups, mask_a), self._intensity(b_geo, groups, mask_b)


def _mask(x: Tensor, groups: Groups | None) -> Tensor:
    """1 on the channels of each row's present sensors, 0 on absent ones: N x C x 1 x 1."""
    groups = [tuple(range(x.shape[1]))] if groups is None else groups
    return channel_mask(sensor_presence(x, groups), groups, x.shape[1]).to(x.dtype)
