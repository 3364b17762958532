"""The transfer protocols of one seed, each streaming its data (docs/design.md §3).

Linear probe and kNN read frozen features from the run's feature cache (computed batch by
batch on first use) and keep only features of the budget (N x F) in memory; the test features
are read in blocks. Fine-tuning iterates DataLoaders over the budget and the test set. Each
returns test scores (M x K) for the configured input and, for a two-sensor input, with each
sensor zeroed; plus facts of the fit. The linear probe and fine-tuning choose their learning
rate on validation from the config's grid (evaluation/lr_search.py) and score test once, with
the chosen fit; fine-tuning augments its training batches (evaluation/augment.py). Cross-modal
retrieval embeds the test set the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sensormoco import defaults
from sensormoco.data.bands import FUSION_BANDS, INPUT_BANDS
from sensormoco.evaluation.augment import FinetuneAugment
from sensormoco.evaluation.classify import Classifier, FitConfig, Fitting, fit_tensors, scores
from sensormoco.evaluation.config import SELECT_BY, EvalConfig
from sensormoco.evaluation.features import FeatureArray, FeatureCache, blocks, load, weights_sha256
from sensormoco.evaluation.finetune import fine_tune, predict_scores
from sensormoco.evaluation.knn import knn_scores
from sensormoco.evaluation.lr_search import LrChoice, choose_lr
from sensormoco.evaluation.metrics import multi_label_metrics, single_label_metrics
from sensormoco.evaluation.retrieval import CHUNK_ROWS, chance_recall, cross_modal_recall
from sensormoco.evaluation.samples import Labelled
from sensormoco.evaluation.variants import Loaded, PairedFeatureNet

Scores = dict[str, Tensor]
KNN_BLOCK = 1024  # test rows scored at once (knn_scores' own chunk)


def metrics(label_type: str, s: Tensor, target: Tensor, k: int) -> dict[str, float]:
    if label_type == "single":
        return single_label_metrics(s, target, k)
    return multi_label_metrics(s, target)


def score_fn(label_type: str, k: int) -> Callable[[Tensor, Tensor], float]:
    """The validation score that picks the epoch (NaN counts as -inf)."""
    key = SELECT_BY[label_type]

    def score(s: Tensor, target: Tensor) -> float:
        value = metrics(label_type, s, target, k)[key]
        return -math.inf if math.isnan(value) else value

    return score


@dataclass
class SeedContext:
    """What the protocols of one seed read: settings, data, the loaded variant, the cache."""

    config: EvalConfig
    data: Labelled
    loaded: Loaded
    cache: FeatureCache
    encoder_sha256: str | None
    seed: int

    @property
    def k(self) -> int:
        return len(self.data.class_names)

    @property
    def inputs(self) -> list[str]:
        return [self.config.input] + (["s2", "s1"] if self.config.input == "s1s2" else [])

    @property
    def about(self) -> dict[str, Any]:
        """Where the networks came from (part of each cache key; for per-sensor encoders
        also which of the two networks the features run)."""
        about: dict[str, Any] = {"variant": self.config.variant, "encoder": self.encoder_sha256}
        if isinstance(self.loaded.features, PairedFeatureNet):
            about["networks"] = list(self.loaded.features.networks)
        return about

    def network(self, net: nn.Module, role: str) -> dict[str, Any]:
        """What the features of ``net`` depend on (its cache key's network part)."""
        return self.about | {"role": role, "weights": weights_sha256(net)}

    def features(
        self, net: nn.Module, network: Mapping[str, Any], ids: Sequence[Any], names: Sequence[str]
    ) -> dict[str, FeatureArray]:
        return dataset_features(
            self.cache, net, network, self.data, ids, names, self.loaded.features.bands
        )


def dataset_features(
    cache: FeatureCache,
    net: nn.Module,
    network: Mapping[str, Any],
    data: Labelled,
    ids: Sequence[Any],
    names: Sequence[str],
    bands: Sequence[str],
) -> dict[str, FeatureArray]:
    """Features (N x F, memory-mapped) of ``net`` on the samples of ``ids`` per input."""
    samples = data.samples(ids, "single")  # targets are not read
    return cache.features(net, network, samples, data.fingerprint(ids), names, bands)


def _fit_config(ctx: SeedContext) -> FitConfig:
    c = ctx.config
    return FitConfig(c.label_type, c.epochs, c.batch_size, seed=ctx.seed)


def _fit_facts(train: list[Any], val: list[Any], choice: LrChoice, label: str) -> dict[str, Any]:
    """The per-seed record of a fit: sizes, best epoch and validation score of the chosen
    learning rate, and the choice (:meth:`LrChoice.facts`)."""
    score = choice.result.best_score
    return {
        "train": len(train),
        "val": len(val),
        "best_epoch": choice.result.best_epoch,
        f"val_{SELECT_BY[label]}": score if math.isfinite(score) else math.nan,
    } | choice.facts()


def _budget_features(
    ctx: SeedContext,
    net: nn.Module,
    network: Mapping[str, Any],
    train: list[Any],
    val: list[Any],
    name: str,
) -> tuple[Tensor, Tensor]:
    """Features of the budget's ``train`` and ``val`` ids (N x F, V x F), as rows of the
    features of the whole train + val pool when those are cached, or when the network is the
    encoder file's (variant ``moco``: every seed and budget shares it) and the seeds' budgets
    hold at least as many patches as the pool; else computed for these ids alone. A sample's
    features do not depend on the batch it was computed in (eval mode)."""
    device = ctx.cache.settings.device
    full_train, full_val = ctx.data.budget(None, ctx.seed)
    pool = [*full_train, *full_val]
    bands = ctx.loaded.features.bands
    needed = len(ctx.config.seeds) * (len(train) + len(val))
    cached = ctx.cache.has(network, name, bands, ctx.data.fingerprint(pool))
    if not cached and (ctx.config.variant != "moco" or len(pool) > needed):
        f_train = load(ctx.features(net, network, train, [name])[name], device)  # N x F
        return f_train, load(ctx.features(net, network, val, [name])[name], device)  # V x F
    array = ctx.features(net, network, pool, [name])[name]  # P x F, memory-mapped
    row = {pid: i for i, pid in enumerate(pool)}
    picked = [torch.from_numpy(np.asarray(array[[row[p] for p in ids]])) for ids in (train, val)]
    return picked[0].to(device), picked[1].to(device)  # N x F, V x F


def linear(
    ctx: SeedContext, train: list[Any], val: list[Any], test: list[Any]
) -> tuple[Scores, dict[str, Any]]:
    """Linear probe: the head (standardising batch norm, linear layer) trains on cached
    features of the frozen network, once per grid learning rate."""
    label, device = ctx.config.label_type, ctx.cache.settings.device
    classifier = Classifier(ctx.loaded.features, ctx.k, frozen=True)
    net = classifier.features.to(device)
    network = ctx.network(net, "features")
    name = ctx.config.input
    f_train, f_val = _budget_features(ctx, net, network, train, val, name)  # N x F, V x F
    head = classifier.head.to(device)
    y_train, y_val = ctx.data.targets(train, label).to(device), ctx.data.targets(val, label)
    score = score_fn(label, ctx.k)
    choice = choose_lr(
        head,
        ctx.config.resolved_lr_grid,
        _fit_config(ctx),
        lambda config: fit_tensors(head, f_train, y_train, f_val, y_val, Fitting(config, score)),
    )
    out = {}
    head.eval()
    with torch.no_grad():
        for name, f_test in ctx.features(net, network, test, ctx.inputs).items():
            logits = [head(block) for block in blocks(f_test, ctx.config.batch_size, device)]
            out[name] = scores(torch.cat(logits), label).cpu()  # M x K
    return out, _fit_facts(train, val, choice, label)


def knn(
    ctx: SeedContext, train: list[Any], val: list[Any], test: list[Any]
) -> tuple[Scores, dict[str, Any]]:
    """kNN on cached features of the frozen network (the budget's train part votes)."""
    device = ctx.cache.settings.device
    net = ctx.loaded.features.eval().to(device)
    network = ctx.network(net, "features")
    name = ctx.config.input
    f_train = load(ctx.features(net, network, train, [name])[name], device)  # N x F
    y_train = ctx.data.targets(train, ctx.config.label_type).to(device)
    out = {}
    for name, f_test in ctx.features(net, network, test, ctx.inputs).items():
        parts = [
            knn_scores(f_train, y_train, block, ctx.k).cpu()
            for block in blocks(f_test, KNN_BLOCK, device)
        ]
        out[name] = torch.cat(parts)  # M x K
    return out, {"train": len(train), "val": 0}


def finetune(
    ctx: SeedContext, train: list[Any], val: list[Any], test: list[Any]
) -> tuple[Scores, dict[str, Any]]:
    """Fine-tuning over DataLoaders of the budget, training batches augmented, once per grid
    learning rate (each from the same initial weights and augmentation draws); test scores
    streamed for the chosen one."""
    label, settings = ctx.config.label_type, ctx.cache.settings
    classifier = Classifier(ctx.loaded.features, ctx.k, frozen=False).to(settings.device)
    train_set, val_set = ctx.data.samples(train, label), ctx.data.samples(val, label)
    y_val, score = ctx.data.targets(val, label), score_fn(label, ctx.k)
    choice = choose_lr(
        classifier,
        ctx.config.resolved_lr_grid,
        _fit_config(ctx),
        lambda config: fine_tune(
            classifier,
            train_set,
            val_set,
            y_val,
            ctx.config.input,
            Fitting(config, score, FinetuneAugment(ctx.seed)),
            settings,
        ),
    )
    out = predict_scores(
        classifier,
        ctx.data.samples(test, label),
        ctx.inputs,
        classifier.features.bands,
        settings,
        label,
    )
    return out, _fit_facts(train, val, choice, label)


PROTOCOL_FNS = {"linear": linear, "knn": knn, "finetune": finetune}


def cross_modal_retrieval(
    loaded: Loaded,
    data: Labelled,
    ids: Sequence[Any],
    cache: FeatureCache,
    about: Mapping[str, Any] | None = None,
) -> dict[str, float] | None:
    """Cross-modal recall@k on ``ids`` for networks that take either sensor alone (the
    encoder's embeddings; features for a supervised network), in query blocks. ``about``
    describes the network for the cache key (variant, encoder file). Per-sensor encoders:
    S1 patches are embedded by the S1 network, S2 patches by the S2 network."""
    if loaded.encoders is not None:
        return _recall(ids, _paired_embeddings(loaded.encoders, data, ids, cache, about))
    if tuple(loaded.features.bands) != FUSION_BANDS:
        return None
    net: nn.Module = loaded.encoder if loaded.encoder is not None else loaded.features
    net = net.to(cache.settings.device)
    network = dict(about or {}) | {
        "role": "encoder" if loaded.encoder is not None else "features",
        "weights": weights_sha256(net),
    }
    embedded = dataset_features(cache, net, network, data, ids, ["s1", "s2"], FUSION_BANDS)
    return _recall(ids, embedded)


def _paired_embeddings(
    encoders: Mapping[str, nn.Module],
    data: Labelled,
    ids: Sequence[Any],
    cache: FeatureCache,
    about: Mapping[str, Any] | None,
) -> dict[str, FeatureArray]:
    """Each sensor's patches embedded by its own network (projection output), cached under
    the network that made them."""
    embedded: dict[str, FeatureArray] = {}
    for sensor, net in encoders.items():
        net = net.to(cache.settings.device)
        network = dict(about or {}) | {
            "role": "encoder",
            "networks": [sensor],
            "weights": weights_sha256(net),
        }
        bands = INPUT_BANDS[sensor]
        embedded |= dataset_features(cache, net, network, data, ids, [sensor], bands)
    return embedded


def _recall(ids: Sequence[Any], embedded: Mapping[str, FeatureArray]) -> dict[str, float]:
    """Cross-modal recall@k of the S1 and S2 embeddings of ``ids``, beside chance."""
    cpu = torch.device("cpu")
    e_s1, e_s2 = load(embedded["s1"], cpu), load(embedded["s2"], cpu)  # M x D each
    result = cross_modal_recall(e_s1, e_s2, defaults.RETRIEVAL_KS, CHUNK_ROWS)
    n = len(ids)
    result |= {f"chance_r@{k}": chance_recall(n, k) for k in defaults.RETRIEVAL_KS}
    return result
