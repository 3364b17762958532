"""A restricted unpickler for data files: dicts, lists, tuples, strings, numbers and plain
numeric numpy arrays, and nothing else.

A pickle can run arbitrary code when loaded, so only a few globals resolve, and none of them
to the real numpy object: numpy's own reconstruction functions trust their input (a pickled
object-dtype array holds raw pointers, a dtype's pickled state can add object fields), so
every allowed global is a stand-in that only records what the pickle passes it. Once the whole
file is read, a recorded array or scalar becomes a real one only through ``np.frombuffer`` on
its bytes, with a plain little-endian numeric dtype from a short allow-list and an exact byte
count. Anything else is refused (``DataError`` of kind ``unsafe``) without importing or calling
it. Before unpickling, the opcodes are walked once to refuse deeply nested tuples, which crash
CPython's hashing of dict keys.

The stand-ins are in :mod:`.standins`, the nesting check in :mod:`.nesting`.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from sensormoco.data.safe_pickle.nesting import check_nesting
from sensormoco.data.safe_pickle.standins import (
    ALLOWED,
    PickledArray,
    PickledDtype,
    PickledScalar,
    Refused,
    StandIn,
    materialize,
)
from sensormoco.errors import DataError

_MAX_MESSAGE_CHARS = 200  # and so are longer refusals


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals, to stand-ins; refuses every other one unimported."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, encoding="latin1")  # latin1: numpy arrays pickled by Python 2

    def find_class(self, module: str, name: str) -> StandIn:
        found = ALLOWED.get((module, name))
        if found is None:
            raise Refused(
                f"refused to load global {module}.{name}: the pickle may run code; only dicts, "
                "lists, strings, numbers and numpy arrays are allowed"
            )
        return found


def short_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters ("..." ending a cut one)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    """An exception as one line of at most _MAX_MESSAGE_CHARS (it may quote pickle data)."""
    return short_text(
        (str(exc).strip().splitlines() or [type(exc).__name__])[0], _MAX_MESSAGE_CHARS
    )


def load_restricted_pickle(path: Path) -> object:
    """Load a pickle of plain data (see the module docstring); one-line DataError otherwise."""
    if not path.is_file():
        raise DataError(path, "file not found", "missing")
    try:
        data = path.read_bytes()
        check_nesting(data)
        loaded = _RestrictedUnpickler(io.BytesIO(data)).load()
        return materialize(loaded, {})
    except Refused as exc:
        raise DataError(path, _first_line(exc), kind="unsafe") from exc
    except EOFError as exc:
        raise DataError(path, "empty or truncated pickle", "unreadable") from exc
    except Exception as exc:  # any malformed byte stream must end in one line, not a traceback
        raise DataError(path, f"not a readable pickle ({_first_line(exc)})", "unreadable") from exc


def type_name(value: object) -> str:
    """The type of a loaded value for messages (stand-ins report what they stand for)."""
    if isinstance(value, (StandIn, PickledDtype, PickledArray, PickledScalar)):
        return value.type_name
    return type(value).__name__
