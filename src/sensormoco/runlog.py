"""A run's log file: framework chatter (Lightning's info lines and tips, Python warnings) goes
there instead of the console, which keeps sensormoco's own progress and summary lines."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# loggers whose records belong in the log file, not on the console
FRAMEWORK_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "py.warnings",
    "torch",
    "timm",
)


@contextmanager
def log_to(path: str | Path) -> Iterator[Path]:
    """Within the block, framework logging and every warning are appended to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    saved = []
    for name in FRAMEWORK_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate, logger.level))
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once, into the file
        logging.captureWarnings(True)
        try:
            yield path
        finally:
            logging.captureWarnings(False)
            for logger, handlers, propagate, level in saved:
                logger.removeHandler(handler)
                for old in handlers:
                    logger.addHandler(old)
                logger.propagate, logger.level = propagate, level
            handler.close()
