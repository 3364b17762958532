"""One classifier for both protocols: a linear probe (frozen backbone) and fine-tuning.

The frozen feature network of the linear probe stays in eval mode whatever ``train()`` is
called with, so neither its weights nor its batch-norm statistics change. It is then a fixed
function of its input, and the probe trains its linear layer on features computed once
(:func:`fit` does so): the same result as recomputing them every epoch, at a fraction of the
cost. Its head standardises the features first (batch norm without affine parameters, as in
MAE's linear-probe protocol), so one learning-rate grid suits every encoder's feature scale.
Fine-tuning trains the whole network with a plain linear head.

The loop is a plain PyTorch loop over batches (in-memory features or tensors here, batches of a
DataLoader in evaluation/finetune.py); the best epoch on validation is kept in memory, and
Lightning's per-step machinery would buy nothing here (pre-training, where it matters, runs on
Lightning).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sensormoco import defaults
from sensormoco.evaluation.variants import Features
from sensormoco.progress import Progress, track

PROTOCOLS: tuple[str, ...] = ("linear", "finetune", "knn")
LABEL_TYPES: tuple[str, ...] = ("single", "multi")


class ProbeHead(nn.Module):
    """The linear probe's head: batch norm without affine parameters, then a linear layer,
    N x F -> N x K. Its running statistics are the plain average over training batches
    (``momentum=None``): the features are fixed, so from the first validation on they are
    about the training features' mean and variance, whatever their scale. A training batch of one
    sample (a budget's last) is standardised with the running statistics."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(num_features, affine=False, momentum=None)
        self.linear = nn.Linear(num_features, num_classes)

    def forward(self, f: Tensor) -> Tensor:
        if self.training and len(f) < 2:
            norm = self.norm
            mean, var = norm.running_mean, norm.running_var  # tracked: never None here
            z = F.batch_norm(f, mean, var, training=False, eps=norm.eps)
        else:
            z = self.norm(f)  # N x F, standardised
        out: Tensor = self.linear(z)  # N x K
        return out


class Classifier(nn.Module):
    """features -> head: N x C x H x W -> N x K logits. ``frozen``: the feature network takes
    no gradient and stays in eval mode, and the head is a :class:`ProbeHead` (the linear
    probe); else the whole network trains with a linear head (fine-tuning)."""

    def __init__(self, features: Features, num_classes: int, frozen: bool) -> None:
        super().__init__()
        self.features = features
        self.head: nn.Module = (
            ProbeHead(features.num_features, num_classes)
            if frozen
            else nn.Linear(features.num_features, num_classes)
        )
        self.frozen = frozen
        if frozen:
            self.features.requires_grad_(False)
            self.features.eval()

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.frozen:
            self.features.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            f = self.features(x)  # N x F
        out: Tensor = self.head(f)  # N x K
        return out


@dataclass(frozen=True)
class FitConfig:
    """Training settings of one classifier fit."""

    label_type: str = "single"
    epochs: int = defaults.EVAL_EPOCHS
    batch_size: int = defaults.EVAL_BATCH_SIZE
    lr: float = defaults.EVAL_LINEAR_LR
    weight_decay: float = defaults.EVAL_WEIGHT_DECAY
    momentum: float = defaults.EVAL_SGD_MOMENTUM
    seed: int = defaults.SEED


def loss_fn(label_type: str) -> Callable[[Tensor, Tensor], Tensor]:
    """Cross-entropy on class indices (single) or BCE on multi-hot targets (multi)."""
    if label_type == "single":
        return F.cross_entropy
    if label_type == "multi":
        return lambda logits, target: F.binary_cross_entropy_with_logits(logits, target.float())
    raise ValueError(f"unknown label type {label_type!r}; choose one of {list(LABEL_TYPES)}")


def scores(logits: Tensor, label_type: str) -> Tensor:
    """Class probabilities: softmax (single) or sigmoid (multi), N x K."""
    return logits.softmax(dim=1) if label_type == "single" else logits.sigmoid()


@torch.no_grad()
def predict(module: nn.Module, x: Tensor, batch_size: int, label: str | None = None) -> Tensor:
    """``module`` applied in eval mode over ``x`` in batches: N x ... -> N x ...; ``label``:
    show the progress under this name (in patches)."""
    was_training = module.training
    module.eval()
    parts = torch.split(x, batch_size)
    if label is None:
        out = torch.cat([module(part) for part in parts])
    else:
        with Progress(label, len(x)) as shown:
            out = torch.cat([_counted(module(part), shown) for part in parts])
    module.train(was_training)
    return out


def _counted(batch: Tensor, progress: Progress) -> Tensor:
    progress.update(len(batch))
    return batch


@dataclass
class FitResult:
    """The best epoch (1-based) on validation, its score, and the score of every epoch."""

    best_epoch: int
    best_score: float
    history: list[float]


Batches = Callable[[], Iterable[tuple[Tensor, Tensor]]]  # one pass: (inputs, targets)
Augment = Callable[[Tensor], Tensor]  # a training batch's inputs -> augmented, same shape


@dataclass(frozen=True)
class Fitting:
    """How one fit trains and keeps its best epoch, whatever its network and data: the settings,
    ``val_score(scores, y_val)`` rating an epoch on validation (higher is better), and
    ``augment`` for each training batch's inputs (fine-tuning only; validation never is)."""

    config: FitConfig
    val_score: Callable[[Tensor, Tensor], float]
    augment: Augment | None = None


def train_best(
    net: nn.Module,
    batches: Batches,
    steps_per_epoch: int,
    val_scores: Callable[[], Tensor],
    y_val: Tensor,
    fitting: Fitting,
    label: str = "fitting",
) -> FitResult:
    """Train ``net`` (SGD, cosine schedule) on ``batches()`` each epoch, each batch's inputs
    through ``fitting.augment``, and leave it at its best epoch on validation
    (``fitting.val_score(val_scores(), y_val)``); the epochs' progress is shown under ``label``."""
    config, augment = fitting.config, fitting.augment
    criterion = loss_fn(config.label_type)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    total = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))
    )
    best = (-math.inf, 0, copy.deepcopy(net.state_dict()))
    history = []
    for epoch in track(range(1, config.epochs + 1), label, unit="epochs"):
        net.train()
        for x, y in batches():
            loss = criterion(net(x if augment is None else augment(x)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
        score = fitting.val_score(val_scores(), y_val)
        history.append(score)
        if score > best[0] or best[1] == 0:  # NaN never beats; epoch 1 is the floor
            best = (score, epoch, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[2])
    return FitResult(best[1], best[0], history)


def fit(
    classifier: Classifier,
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor,
    y_val: Tensor,
    fitting: Fitting,
) -> FitResult:
    """Train ``classifier`` on in-memory inputs (:func:`fit_tensors`). Frozen classifiers
    train their head on features computed once (``fitting.augment``, of inputs, is for
    fine-tuning only)."""
    if classifier.frozen:  # a fixed function: compute its features once
        if fitting.augment is not None:
            raise ValueError("the linear probe trains on features computed once: no augment")
        batch_size = fitting.config.batch_size
        x_train = predict(classifier.features, x_train, batch_size, "features")  # N x F
        x_val = predict(classifier.features, x_val, batch_size)  # M x F
        return fit_tensors(classifier.head, x_train, y_train, x_val, y_val, fitting)
    return fit_tensors(classifier, x_train, y_train, x_val, y_val, fitting, "fine-tuning")


def fit_tensors(
    net: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor,
    y_val: Tensor,
    fitting: Fitting,
    label: str = "linear probe",
) -> FitResult:
    """:func:`train_best` on in-memory inputs (a linear head on features, or a network on
    tensors): batches in a random order per epoch drawn with ``fitting.config.seed``;
    validation scores are compared with ``y_val`` on the CPU."""
    config = fitting.config
    generator = torch.Generator().manual_seed(config.seed)

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(x_train), generator=generator)  # N
        for idx in torch.split(order, config.batch_size):
            yield x_train[idx.to(x_train.device)], y_train[idx.to(y_train.device)]

    def val_scores() -> Tensor:
        return scores(predict(net, x_val, config.batch_size), config.label_type).cpu()

    steps_per_epoch = max(1, math.ceil(len(x_train) / config.batch_size))
    return train_best(net, batches, steps_per_epoch, val_scores, y_val, fitting, label)
