"""Augmentation of fine-tuning's training batches: random resized crops, flips, rotations.

Applied to standardised network inputs (N x C x H x W, square patches), where an absent sensor
is exactly zero. Only geometric operations are used: each output pixel is a bilinear
interpolation of input pixels of the same channel, so a channel of zeros stays exactly zero.
A sample's crop window and its symmetry of the square (one of 8: rotations by multiples of 90
degrees, each with or without a flip; horizontal and vertical flips are among them) compose
into one affine map, applied to the whole batch by a single ``grid_sample`` (kornia's
RandomResizedCrop took 25x as long on a CPU batch of 64 x 12 x 64 x 64: 0.76 s against
0.03 s). Every draw comes from the augmentation's own seeded generator: a fit is deterministic
given its seed, and torch's global random state is left alone. Validation and test batches are
never augmented.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sensormoco import defaults

_ROTATE = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees, in normalised coordinates
_FLIP = torch.tensor([[-1.0, 0.0], [0.0, 1.0]])  # left-right
# the 8 symmetries of the square: rotation k (k = 0..3), then the same after a flip
SYMMETRIES = torch.stack(
    [torch.linalg.matrix_power(_ROTATE, k) for k in range(4)]
    + [torch.linalg.matrix_power(_ROTATE, k) @ _FLIP for k in range(4)]
)  # 8 x 2 x 2


def crop_windows(
    n: int, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random crop windows as in RandomResizedCrop, in normalised coordinates ([-1, 1] spans
    the patch): half-extents (N x 2, x then y, at most 1) and centres (N x 2), the window
    inside the patch. Area share uniform in ``scale``, aspect ratio log-uniform in ``ratio``."""
    area = torch.empty(n).uniform_(*scale, generator=generator)  # N
    log_ratio = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()  # N, width / height
    half = torch.stack([(area * aspect).sqrt(), (area / aspect).sqrt()], dim=1).clamp(max=1.0)
    room = 1.0 - half  # N x 2, how far the centre may move
    centre = (torch.rand(n, 2, generator=generator) * 2.0 - 1.0) * room  # N x 2
    return half, centre


class FinetuneAugment:
    """A random resized crop (back to the input size) and one of the square's 8 symmetries,
    drawn uniformly per sample; seeded with ``seed``."""

    def __init__(
        self,
        seed: int,
        scale: tuple[float, float] = defaults.EVAL_CROP_SCALE,
        ratio: tuple[float, float] = defaults.EVAL_CROP_RATIO,
    ) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.scale, self.ratio = scale, ratio

    def transforms(self, n: int) -> Tensor:
        """The next ``n`` affine maps from output to input coordinates: N x 2 x 3."""
        half, centre = crop_windows(n, self.scale, self.ratio, self.generator)  # N x 2 each
        which = torch.randint(len(SYMMETRIES), (n,), generator=self.generator)  # N
        linear = torch.diag_embed(half) @ SYMMETRIES[which]  # N x 2 x 2
        return torch.cat([linear, centre.unsqueeze(2)], dim=2)  # N x 2 x 3

    def __call__(self, x: Tensor) -> Tensor:
        """x: N x C x H x W (H == W) -> N x C x H x W, augmented."""
        n, _, h, w = x.shape
        if h != w:
            raise ValueError(f"fine-tuning augmentation needs square patches, got {h} x {w}")
        theta = self.transforms(n).to(x.device, x.dtype)  # N x 2 x 3
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # N x H x W x 2
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
