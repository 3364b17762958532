"""Reading an exported encoder file (its content: :mod:`sensormoco.training.checkpoint`).

A file is read either mapped (:func:`load_mapped`: a metadata query reads no tensor bytes) or
once for a whole run (:func:`read_encoder_file`: its bytes hashed and loaded into an
:class:`EncoderFile`, which every reader of :mod:`~sensormoco.training.checkpoint` takes in
place of the path). A missing, unreadable or corrupt file is a one-line DataError naming it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sensormoco.errors import DataError

WHAT = "encoder file"


@dataclass(frozen=True)
class EncoderFile:
    """An encoder file read once: its path, its content (``torch.load``'s) and the SHA-256 of
    its bytes."""

    path: Path
    payload: Any
    sha256: str


EncoderSource = str | Path | EncoderFile  # a file's path, or the file already read


def _reason(exc: BaseException) -> str:
    """The first line of a load error, without PyTorch's advice to load unsafely."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "weights_only" in first or "weights only" in first.lower():
        return type(exc).__name__
    return first


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Reads of ``path`` inside fail with a one-line DataError naming it."""
    if path.is_dir():
        raise DataError(path, f"is a folder, not an {what} (give its encoder.pt)", "missing")
    if not path.is_file():
        raise DataError(path, f"no such {what}", "missing")
    try:
        yield
    except pickle.UnpicklingError as exc:  # PyTorch's text suggests unsafe loading: not shown
        reason = (
            "it holds objects other than tensors and plain values, which an encoder file never does"
            if "Unsupported global" in str(exc)
            else "truncated or corrupt"
        )
        raise DataError(path, f"not a complete {what} ({reason})", "unreadable") from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            path, f"not a complete {what} (truncated or corrupt: {_reason(exc)})", "unreadable"
        ) from exc


def _torch_load(source: Path | io.BytesIO, mmap: bool) -> Any:
    """An exported file's content: tensors and plain values only."""
    return torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)


def load_mapped(path: str | Path, what: str = WHAT) -> Any:
    """The content of ``path``, its tensors memory-mapped (read when first used)."""
    path = Path(path)
    with _reading(path, what):
        return _torch_load(path, mmap=True)


def read_encoder_file(path: str | Path) -> EncoderFile:
    """``path`` read once: its bytes hashed and loaded. Hand the result, not the path, to
    every later reader of the same run."""
    path = Path(path)
    with _reading(path, WHAT):
        data = path.read_bytes()
        payload = _torch_load(io.BytesIO(data), mmap=False)
    return EncoderFile(path, payload, hashlib.sha256(data).hexdigest())


def source_path(source: EncoderSource) -> str | Path:
    """The path of ``source`` (for messages)."""
    return source.path if isinstance(source, EncoderFile) else source


def contents(source: EncoderSource) -> tuple[str | Path, Any]:
    """The path and content of ``source``: an EncoderFile's, or the file's (mapped)."""
    if isinstance(source, EncoderFile):
        return source.path, source.payload
    return source, load_mapped(source)
