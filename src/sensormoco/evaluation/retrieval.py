"""Cross-modal retrieval (docs/design.md §3): recall@k of finding a location's
other-sensor embedding.

Row i of the queries and of the gallery embed the same location (e.g. its S1 and its S2
patch). Similarity is cosine. A query's rank is 1 + the number of *other* gallery items scoring
at least as high as its own item, so ties count pessimistically: a wrong item with an equal
score ranks ahead (a collapsed encoder, all embeddings equal, scores chance or worse, never 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from sensormoco import defaults
from sensormoco.evaluation.metrics import check_row_pairs

# Query rows scored at once: a chunk x N similarity block (1,024 x 20,000 float32 = 80 MB).
CHUNK_ROWS = 1024


def _check_ks(ks: Sequence[int]) -> None:
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be a non-empty list of positive integers, got {list(ks)}")


def retrieval_ranks(queries: Tensor, gallery: Tensor, chunk_rows: int = CHUNK_ROWS) -> Tensor:
    """1-based rank (N, int64) of each query's own gallery item under cosine similarity.

    Ties are pessimistic (see the module docstring). Queries are scored ``chunk_rows`` at a time,
    so memory stays at ``chunk_rows x N`` similarities.
    """
    check_row_pairs(queries, gallery, "queries and gallery", "N x D")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    if not bool(torch.isfinite(queries).all() and torch.isfinite(gallery).all()):
        raise ValueError("embeddings must be finite (found NaN or inf)")
    n = queries.shape[0]
    with torch.no_grad(), torch.autocast(queries.device.type, enabled=False):
        q = F.normalize(queries.float(), dim=1)  # N x D
        g = F.normalize(gallery.float(), dim=1)  # N x D
        ranks = torch.empty(n, dtype=torch.long, device=q.device)  # N
        for start in range(0, n, chunk_rows):
            stop = min(start + chunk_rows, n)
            sim = q[start:stop] @ g.T  # B x N
            rows = torch.arange(stop - start, device=q.device)  # B
            own = sim[rows, rows + start]  # B
            ranks[start:stop] = (sim >= own.unsqueeze(1)).sum(dim=1)  # B, own item included
    return ranks.cpu()


def recall_at_k(
    queries: Tensor,
    gallery: Tensor,
    ks: Sequence[int] = defaults.RETRIEVAL_KS,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, float]:
    """Share of queries whose own gallery item ranks within the top k: ``{"r@1": ..., ...}``."""
    _check_ks(ks)
    ranks = retrieval_ranks(queries, gallery, chunk_rows)  # N
    return {f"r@{k}": float((ranks <= k).double().mean()) for k in ks}


def cross_modal_recall(
    s1_embeddings: Tensor,
    s2_embeddings: Tensor,
    ks: Sequence[int] = defaults.RETRIEVAL_KS,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, float]:
    """Recall@k both ways: keys ``s1_to_s2_r@k`` (S1 queries, S2 gallery) and ``s2_to_s1_r@k``."""
    forward = recall_at_k(s1_embeddings, s2_embeddings, ks, chunk_rows)
    backward = recall_at_k(s2_embeddings, s1_embeddings, ks, chunk_rows)
    return {f"s1_to_s2_{key}": value for key, value in forward.items()} | {
        f"s2_to_s1_{key}": value for key, value in backward.items()
    }


def chance_recall(n: int, k: int) -> float:
    """Expected recall@k of a random ranking of ``n`` gallery items: ``min(k, n) / n``."""
    if n < 1 or k < 1:
        raise ValueError(f"chance recall needs n >= 1 and k >= 1, got n = {n}, k = {k}")
    return min(k, n) / n
