"""What the report reads besides the cells' own files, written by the runner into the experiment
folder: ``majority.json`` (test metrics of the best constant answer) and ``embedding.npz`` (the
t-SNE coordinates of the first pre-trained encoder's test-set features). The report only reads
and draws; everything that needs the data or a network happens here.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sensormoco.atomic import atomic_path, atomic_write_text
from sensormoco.data.bands import input_of
from sensormoco.data.store.format import sha256_file
from sensormoco.errors import DataError
from sensormoco.evaluation.features import FeatureCache, weights_sha256
from sensormoco.evaluation.loader import LoaderSettings
from sensormoco.evaluation.metrics import multi_label_metrics, single_label_metrics
from sensormoco.evaluation.protocols import dataset_features
from sensormoco.evaluation.samples import Labelled
from sensormoco.evaluation.variants import FeatureNet
from sensormoco.experiments.matrix import Experiment
from sensormoco.training.checkpoint import load_encoder

MAJORITY_FILE = "majority.json"
EMBEDDING_FILE = "embedding.npz"
FEATURES = "features"  # the experiment's shared feature cache (evaluation cells link to it)


def majority_metrics(data: Labelled, label_type: str) -> dict[str, float]:
    """Test metrics of the best constant answer: the test set's most frequent class (single),
    or each class's test frequency as its score (multi)."""
    k = len(data.class_names)
    test = data.test_ids
    if label_type == "single":
        target = data.targets(test, "single")  # M
        scores = torch.zeros(len(test), k)  # M x K
        scores[:, int(torch.bincount(target, minlength=k).argmax())] = 1.0
        return single_label_metrics(scores, target, k)
    multi = data.targets(test, "multi").float()  # M x K
    return multi_label_metrics(multi.mean(dim=0).expand(len(test), k), multi)


def write_majority(out: Path, data: Labelled, label_type: str) -> Path:
    path = out / MAJORITY_FILE
    metrics = majority_metrics(data, label_type)
    atomic_write_text(path, json.dumps({"label_type": label_type, "metrics": metrics}) + "\n")
    return path


def read_majority(out: Path) -> dict[str, float] | None:
    """The majority-class metrics the runner wrote (None: not written)."""
    path = out / MAJORITY_FILE
    if not path.is_file():
        return None
    try:
        metrics: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(path, f"unreadable majority-class metrics ({exc})", "unreadable") from exc
    return metrics


@dataclass(frozen=True)
class Embedding:
    """A 2-d map of test patches: M x 2 coordinates, M class indices, and what it shows."""

    xy: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    encoder_sha256: str
    title: str
    caption: str


def tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """M x 2 t-SNE coordinates (scikit-learn) of M x F features."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    xy: np.ndarray = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(
        features
    )
    return xy


def compute_embedding(encoder_file: Path, label: str, data: Labelled, cache: Path) -> Embedding:
    """The t-SNE map of the encoder's backbone features on the test set, coloured by class."""
    encoder, meta = load_encoder(encoder_file)
    bands = tuple(meta["bands"])
    input_ = input_of(bands)
    net = FeatureNet(encoder)
    sha = sha256_file(encoder_file)
    network = {"role": "features", "encoder": sha, "weights": weights_sha256(net)}
    features = dataset_features(
        FeatureCache(cache, LoaderSettings(64)), net, network, data, data.test_ids, [input_], bands
    )
    title = (
        f"t-SNE of {label} backbone features\n"
        f"input {input_}, {len(data.test_ids)} test patches, coloured by true class"
    )
    caption = f"Embedding map ({label.split(' (')[0]}, input {input_}, test set)"
    return Embedding(
        tsne(np.asarray(features[input_])),  # M x F -> M x 2
        data.targets(data.test_ids, "single").numpy(),
        tuple(data.class_names),
        sha,
        title,
        caption,
    )


def write_embedding(out: Path, embedding: Embedding) -> Path:
    path = out / EMBEDDING_FILE
    buffer = io.BytesIO()
    np.savez(
        buffer,
        xy=embedding.xy.astype(np.float32),
        labels=embedding.labels.astype(np.int64),
        class_names=np.array(embedding.class_names),
        encoder_sha256=np.array(embedding.encoder_sha256),
        title=np.array(embedding.title),
        caption=np.array(embedding.caption),
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


def read_embedding(out: Path) -> Embedding | None:
    """The embedding map the runner wrote (None: not written)."""
    path = out / EMBEDDING_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return Embedding(
                np.asarray(f["xy"]),
                np.asarray(f["labels"]),
                tuple(str(n) for n in f["class_names"]),
                str(f["encoder_sha256"]),
                str(f["title"]),
                str(f["caption"]),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(path, f"unreadable embedding map ({exc})", "unreadable") from exc


def update_report_data(exp: Experiment, out: Path, data: Labelled) -> None:
    """Write majority.json, and embedding.npz unless it already maps the current encoder."""
    write_majority(out, data, exp.label_type)
    cells = exp.pretrain_cells()
    encoder_file = out / "pretrain" / cells[0].name / "encoder.pt" if cells else None
    if encoder_file is None or not encoder_file.is_file():
        return
    known = read_embedding(out)
    if known is not None and known.encoder_sha256 == sha256_file(encoder_file):
        return
    embedding = compute_embedding(encoder_file, cells[0].label(), data, out / FEATURES)
    write_embedding(out, embedding)
