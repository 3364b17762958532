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
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sensormoco.errors import DataError

# The dtypes a pickled array or scalar may have: plain numbers, little-endian (or single-byte).
_PLAIN_CODES = ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1")
_MAX_NDIM = 32  # numpy's own limit
_Order = Literal["C", "F"]  # memory order of the raw bytes
_MAX_MESSAGE_CHARS = 200  # and so are longer refusals
_MAX_NESTING = 100  # tuples in tuples; numpy's pickles nest 3 deep


class _Refused(Exception):
    """Raised by a stand-in for something a probability pickle never needs."""


class _StandIn:
    """What an allowed global resolves to: calls ``func``, and refuses a BUILD state (which
    pickle would otherwise apply as attributes, to a function or a shared object)."""

    __slots__ = ("_func", "type_name")

    def __init__(self, name: str, func: Callable[..., object]) -> None:
        self.type_name, self._func = name, func

    def __call__(self, *args: object) -> object:
        return self._func(*args)

    def __setstate__(self, state: object) -> None:
        raise _Refused(f"{self.type_name} cannot take a pickled state")

    def __repr__(self) -> str:
        return self.type_name


def _ndarray(*args: object) -> object:
    raise _Refused("numpy.ndarray may only be used to rebuild a pickled array")


_NDARRAY = _StandIn("numpy.ndarray", _ndarray)  # only valid as _reconstruct's first argument


class _PickledDtype:
    """Stand-in for ``numpy.dtype(code)``: records the code and any BUILD state."""

    def __init__(self, code: object) -> None:
        self.code = code
        self.state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state

    type_name = "numpy dtype"

    def __repr__(self) -> str:
        return f"numpy dtype {self.code!r}"

    def resolve(self) -> np.dtype[Any]:
        """The real dtype, if it is a plain little-endian number type; else _Refused."""
        code = self.code
        if not isinstance(code, str) or code not in _PLAIN_CODES:
            raise _Refused(f"dtype {code!r} is not allowed (only plain numbers)")
        order = "|" if code[1] == "1" else "<"
        state = self.state
        if state is not None and not (
            isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[1] == order
            and state[2:5] == (None, None, None)
            and state[5:] == (-1, -1, 0)
        ):
            raise _Refused(f"dtype {code!r} has a non-plain state (fields or byte order)")
        if state is None and order == "<" and sys.byteorder != "little":
            raise _Refused(f"dtype {code!r} without a byte order on a big-endian machine")
        dtype = np.dtype(order + code)
        if dtype.fields is not None or dtype.hasobject or dtype.kind not in "biuf":
            raise _Refused(f"dtype {dtype} is not allowed")  # unreachable for _PLAIN_CODES
        return dtype


def _raw_bytes(data: object) -> bytes:
    """Array or scalar data: bytes, or a str from a Python 2 pickle (latin1, as numpy does)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("latin-1")
    raise _Refused(f"array data is a {type(data).__name__}, expected bytes")


def _from_bytes(raw: bytes, dtype: object, shape: tuple[int, ...], order: _Order) -> np.ndarray:
    """The only way a pickled array becomes a real one: frombuffer, plain dtype, exact size."""
    if not isinstance(dtype, _PickledDtype):
        raise _Refused(f"array dtype is a {type(dtype).__name__}, expected a numpy dtype")
    real = dtype.resolve()
    if math.prod(shape) * real.itemsize != len(raw):
        raise _Refused(
            f"array of shape {shape} and dtype {real} needs {math.prod(shape) * real.itemsize} "
            f"bytes, the pickle holds {len(raw)}"
        )
    flat = np.frombuffer(raw, dtype=real)  # read-only view of ``raw``
    out: np.ndarray = flat.reshape(shape, order=order).copy(order="C")
    return out


def _shape(value: object) -> tuple[int, ...]:
    if not (
        isinstance(value, tuple)
        and len(value) <= _MAX_NDIM
        and all(type(n) is int and n >= 0 for n in value)
    ):
        raise _Refused(f"array shape {value!r} is not a tuple of sizes")
    return value


class _PickledArray:
    """Stand-in for an ndarray: records shape, dtype, order and raw bytes."""

    def __init__(self) -> None:
        self.state: tuple[tuple[int, ...], object, _Order, bytes] | None = None

    def __setstate__(self, state: object) -> None:
        if self.state is not None:
            raise _Refused("array state set twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]  # numpy writes version 1; Python 2 era pickles may omit it
        if not (isinstance(state, tuple) and len(state) == 4 and isinstance(state[2], bool)):
            raise _Refused("array state is not (shape, dtype, fortran, data)")
        shape, dtype, fortran, data = state
        self.state = (_shape(shape), dtype, "F" if fortran else "C", _raw_bytes(data))

    type_name = "numpy array"

    def __repr__(self) -> str:
        return self.type_name

    def materialize(self) -> np.ndarray:
        if self.state is None:
            raise _Refused("array without data")
        shape, dtype, order, raw = self.state
        return _from_bytes(raw, dtype, shape, order)


class _PickledScalar:
    """Stand-in for a numpy scalar: records dtype and raw bytes."""

    def __init__(self, dtype: object, raw: bytes) -> None:
        self.dtype, self.raw = dtype, raw

    def __setstate__(self, state: object) -> None:
        raise _Refused("a numpy scalar cannot take a pickled state")

    type_name = "numpy scalar"

    def __repr__(self) -> str:
        return self.type_name

    def materialize(self) -> np.generic:
        value: np.generic = _from_bytes(self.raw, self.dtype, (1,), "C")[0]
        return value


def _reconstruct(subtype: object, *args: object) -> _PickledArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``."""
    if subtype is not _NDARRAY:
        raise _Refused("_reconstruct may only rebuild a numpy.ndarray")
    return _PickledArray()


def _scalar(dtype: object, data: object = b"") -> _PickledScalar:
    """Stand-in for ``numpy.core.multiarray.scalar(dtype, data)``."""
    return _PickledScalar(dtype, _raw_bytes(data))


def _frombuffer(data: object, dtype: object, shape: object, order: object) -> _PickledArray:
    """Stand-in for ``numpy.core.numeric._frombuffer`` (protocol 5, buffers in band)."""
    if order != "C" and order != "F":
        raise _Refused(f"array order {order!r} is not C or F")
    array = _PickledArray()
    array.state = (_shape(shape), dtype, order, _raw_bytes(data))
    return array


def _dtype(code: object, align: object = False, copy: object = True) -> _PickledDtype:
    """Stand-in for ``numpy.dtype(code, align, copy)``."""
    return _PickledDtype(code)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode``: protocols 0-2 write bytes as ``encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with {type(text).__name__} and {encoding!r}")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], _StandIn]:
    allowed = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _StandIn("numpy.dtype", _dtype),
        ("_codecs", "encode"): _StandIn("_codecs.encode", _codecs_encode),  # protocols 0-2
    }
    # numpy 1 and numpy 2 spell the module differently.
    for package in ("numpy.core", "numpy._core"):
        for module, name, func in (
            ("multiarray", "_reconstruct", _reconstruct),
            ("multiarray", "scalar", _scalar),
            ("numeric", "_frombuffer", _frombuffer),  # protocol 5
        ):
            allowed[(f"{package}.{module}", name)] = _StandIn(f"numpy.{name}", func)
    return allowed


_ALLOWED = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals, to stand-ins; refuses every other one unimported."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, encoding="latin1")  # latin1: numpy arrays pickled by Python 2

    def find_class(self, module: str, name: str) -> _StandIn:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _Refused(
                f"refused to load global {module}.{name}: the pickle may run code; only dicts, "
                "lists, strings, numbers and numpy arrays are allowed"
            )
        return found


def _materialize(value: object, done: dict[int, object], depth: int = 0) -> object:
    """Recorded arrays and scalars -> real ones, in the dict, its values and their items.

    ``done`` maps stand-ins already converted (by id) to their result, so one array that the
    pickle references many times is built once. Deeper stand-ins are left as they are (no
    valid entry nests that deep): they never become numpy objects, and their entry is
    reported as malformed.
    """
    if isinstance(value, (_PickledArray, _PickledScalar)):
        if id(value) not in done:
            done[id(value)] = value.materialize()
        return done[id(value)]
    if depth >= 2:
        return value
    if isinstance(value, dict):
        return {k: _materialize(v, done, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_materialize(v, done, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_materialize(v, done, depth + 1) for v in value)
    return value


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    """An exception as one line of at most _MAX_MESSAGE_CHARS (it may quote pickle data)."""
    return _short((str(exc).strip().splitlines() or [type(exc).__name__])[0], _MAX_MESSAGE_CHARS)


# Per opcode code: (kind, pops to a MARK, items popped below the MARK (or in all when it takes
# none), items pushed), from pickletools' stack effects.
_NEST, _MARK, _PUT, _MEMOIZE, _GET, _DUP, _OTHER = range(7)
_KINDS = {
    "TUPLE": _NEST,
    "TUPLE1": _NEST,
    "TUPLE2": _NEST,
    "TUPLE3": _NEST,
    "FROZENSET": _NEST,
    "MARK": _MARK,
    "PUT": _PUT,
    "BINPUT": _PUT,
    "LONG_BINPUT": _PUT,
    "MEMOIZE": _MEMOIZE,
    "GET": _GET,
    "BINGET": _GET,
    "LONG_BINGET": _GET,
    "DUP": _DUP,
}
_EFFECTS = {
    op.code: (
        _KINDS.get(op.name, _OTHER),
        pickletools.markobject in op.stack_before,
        op.stack_before.index(pickletools.markobject)
        if pickletools.markobject in op.stack_before
        else len(op.stack_before),
        len(op.stack_after),
    )
    for op in pickletools.opcodes
}


def _check_nesting(data: bytes) -> None:
    """Refuse tuples or frozensets nested deeper than _MAX_NESTING, before unpickling.

    Unpickling hashes dict keys and set items, and CPython hashes a nested tuple recursively
    in C with no depth check: a key nested some 100,000 deep (a few hundred kB of pickle)
    overflows the C stack. This walks the opcodes (pickletools, pure Python) tracking only
    the nesting depth of each stack item; lists and dicts count 0 (hashing them fails at
    once). A stream pickletools cannot parse is refused as unreadable.
    """
    stack: list[int] = []  # nesting depth of each item
    marks: list[int] = []
    memo: dict[object, int] = {}
    for op, arg, _ in pickletools.genops(data):
        kind, has_mark, below, pushed = _EFFECTS[op.code]
        if kind == _MARK:
            marks.append(len(stack))
        elif kind == _PUT:
            memo[arg] = stack[-1]
        elif kind == _MEMOIZE:
            memo[len(memo)] = stack[-1]
        elif kind == _GET:
            stack.append(memo[arg])
        else:
            items: list[int] = []
            if has_mark:
                start = marks.pop()
                items = stack[start:]
                del stack[start:]
            if below:
                items = stack[-below:] + items
                del stack[-below:]
            if kind == _NEST:
                depth = 1 + max(items, default=0)
                if depth > _MAX_NESTING:
                    raise _Refused(f"tuples or frozensets nested deeper than {_MAX_NESTING} levels")
                stack.append(depth)
            elif kind == _DUP:
                stack.extend(items * 2)
            else:
                stack.extend([0] * pushed)


def load_restricted_pickle(path: Path) -> object:
    """Load a pickle of plain data (see the module docstring); one-line DataError otherwise."""
    if not path.is_file():
        raise DataError(path, "file not found", "missing")
    try:
        data = path.read_bytes()
        _check_nesting(data)
        loaded = _RestrictedUnpickler(io.BytesIO(data)).load()
        return _materialize(loaded, {})
    except _Refused as exc:
        raise DataError(path, _first_line(exc), kind="unsafe") from exc
    except EOFError as exc:
        raise DataError(path, "empty or truncated pickle", "unreadable") from exc
    except Exception as exc:  # any malformed byte stream must end in one line, not a traceback
        raise DataError(path, f"not a readable pickle ({_first_line(exc)})", "unreadable") from exc


def type_name(value: object) -> str:
    """The type of a loaded value for messages (stand-ins report what they stand for)."""
    if isinstance(value, (_StandIn, _PickledDtype, _PickledArray, _PickledScalar)):
        return value.type_name
    return type(value).__name__
