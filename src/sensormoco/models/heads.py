"""The MoCo-v2 projection head."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """MLP head Linear-ReLU-Linear (MoCo v2; 2048-2048-128 on ResNet-50): N x in -> N x out."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        """N x in_dim -> N x out_dim."""
        out: Tensor = self.mlp(x)
        return out
