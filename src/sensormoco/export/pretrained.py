"""``sensormoco.load_encoder``: a pre-trained encoder as a module that knows its input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import Tensor, nn

from sensormoco.data.bands import Normalization
from sensormoco.export.metadata import EncoderMetadata
from sensormoco.export.preprocess import Array, Preprocessing
from sensormoco.models.moco import Encoder
from sensormoco.training import checkpoint


class PretrainedEncoder(nn.Module):
    """An exported encoder (adapter -> backbone, with its projection head) and its metadata.

    Calling it gives backbone features (N x C x H x W -> N x num_features), the representation
    to transfer; :meth:`embed` gives the projection head's output (N x dim) as MoCo trained it.
    """

    def __init__(self, encoder: Encoder, metadata: EncoderMetadata) -> None:
        super().__init__()
        self.encoder = encoder
        self.metadata = metadata

    @property
    def bands(self) -> tuple[str, ...]:
        """The input bands, in channel order."""
        return self.metadata.bands

    @property
    def num_features(self) -> int:
        return self.encoder.backbone.num_features

    @property
    def preprocessing(self) -> Preprocessing:
        """Raw arrays -> this encoder's input (see :class:`Preprocessing`)."""
        return Preprocessing.from_metadata(self.metadata)

    def preprocess(
        self,
        arrays: Mapping[str, Array | None],
        bands: Mapping[str, Sequence[str] | str] | None = None,
    ) -> Tensor:
        """:class:`Preprocessing` of this encoder applied to ``arrays``."""
        return self.preprocessing(arrays, bands)

    def forward(self, x: Tensor) -> Tensor:
        """Backbone features: N x len(bands) x H x W -> N x num_features."""
        return self.encoder.features(x)

    def embed(self, x: Tensor) -> Tensor:
        """Projected embeddings (not normalised): N x len(bands) x H x W -> N x dim."""
        out: Tensor = self.encoder(x)
        return out


def load_encoder(
    path: str | Path,
    bands: Sequence[str] | None = None,
    normalization: Normalization | None = None,
) -> PretrainedEncoder:
    """The encoder file ``path`` (``encoder.pt`` of ``sensormoco pretrain``) in eval mode;
    refuses an encoder whose bands (names and order) or per-band normalisation differ from
    ``bands`` / ``normalization`` when these are given."""
    encoder, meta = checkpoint.load_encoder(path, bands, normalization)
    return PretrainedEncoder(encoder, EncoderMetadata.from_dict(meta, path)).eval()
