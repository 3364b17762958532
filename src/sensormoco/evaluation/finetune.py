"""Fine-tuning and prediction over DataLoaders: any budget size, pixels a batch at a time.

The training order is the one :func:`classify.fit` draws for in-memory tensors (a random
permutation per epoch from a generator seeded with ``config.seed``, split into batches), so a
budget gives the same fit streamed or in memory. Predictions keep only scores (N x K).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sensormoco.evaluation.classify import Classifier, FitResult, Fitting, scores, train_best
from sensormoco.evaluation.loader import EpochBatches, LoaderSettings, inputs, loader
from sensormoco.evaluation.samples import Sample


@torch.no_grad()
def predict_scores(
    net: nn.Module,
    dataset: Dataset[Sample],
    names: Sequence[str],
    bands: Sequence[str],
    settings: LoaderSettings,
    label_type: str,
) -> dict[str, Tensor]:
    """Class scores (N x K, on the CPU) of ``net`` in eval mode for each input in ``names``,
    one pass over ``dataset``."""
    was_training = net.training
    net.eval()
    out: dict[str, list[Tensor]] = {name: [] for name in names}
    for batch in loader(dataset, settings):
        for name in names:
            logits = net(inputs(batch, name, bands, settings.device))  # B x K
            out[name].append(scores(logits, label_type).cpu())
    net.train(was_training)
    return {name: torch.cat(parts) if parts else torch.zeros(0) for name, parts in out.items()}


def fine_tune(
    classifier: Classifier,
    train: Dataset[Sample],
    val: Dataset[Sample],
    y_val: Tensor,
    input_: str,
    fitting: Fitting,
    settings: LoaderSettings,
) -> FitResult:
    """Train ``classifier`` on batches of ``train`` (their "target"), each transformed by
    ``fitting.augment`` on the device (e.g.
    :class:`~sensormoco.evaluation.augment.FinetuneAugment`), and keep its best epoch on ``val``
    (targets ``y_val``, never augmented)."""
    config = fitting.config
    device = settings.device
    bands = classifier.features.bands
    classifier.to(device)
    order = EpochBatches(len(train), config.batch_size, config.seed)  # type: ignore[arg-type]
    train_loader = loader(train, settings, order)

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        for batch in train_loader:
            target = batch["target"].to(device, non_blocking=device.type == "cuda")
            yield inputs(batch, input_, bands, device), target

    def val_scores() -> Tensor:
        return predict_scores(classifier, val, [input_], bands, settings, config.label_type)[input_]

    steps = max(1, len(order))
    return train_best(classifier, batches, steps, val_scores, y_val, fitting, "fine-tuning")
