"""The stand-ins a restricted pickle's allowed globals resolve to (data/safe_pickle/): each
only records what the pickle passes it; a recorded array or scalar becomes a real one only
through ``np.frombuffer`` on its bytes, with a plain little-endian numeric dtype from a short
allow-list and an exact byte count. Anything else raises :class:`Refused`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

# The dtypes a pickled array or scalar may have: plain numbers, little-endian (or single-byte).
_PLAIN_CODES = ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1")
_MAX_NDIM = 32  # numpy's own limit
_Order = Literal["C", "F"]  # memory order of the raw bytes


class Refused(Exception):
    """Raised by a stand-in for something a probability pickle never needs."""


class StandIn:
    """What an allowed global resolves to: calls ``func``, and refuses a BUILD state (which
    pickle would otherwise apply as attributes, to a function or a shared object)."""

    __slots__ = ("_func", "type_name")

    def __init__(self, name: str, func: Callable[..., object]) -> None:
        self.type_name, self._func = name, func

    def __call__(self, *args: object) -> object:
        return self._func(*args)

    def __setstate__(self, state: object) -> None:
        raise Refused(f"{self.type_name} cannot take a pickled state")

    def __repr__(self) -> str:
        return self.type_name


def _ndarray(*args: object) -> object:
    raise Refused("numpy.ndarray may only be used to rebuild a pickled array")


_NDARRAY = StandIn("numpy.ndarray", _ndarray)  # only valid as _reconstruct's first argument


class PickledDtype:
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
        """The real dtype, if it is a plain little-endian number type; else Refused."""
        code = self.code
        if not isinstance(code, str) or code not in _PLAIN_CODES:
            raise Refused(f"dtype {code!r} is not allowed (only plain numbers)")
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
            raise Refused(f"dtype {code!r} has a non-plain state (fields or byte order)")
        if state is None and order == "<" and sys.byteorder != "little":
            raise Refused(f"dtype {code!r} without a byte order on a big-endian machine")
        dtype = np.dtype(order + code)
        if dtype.fields is not None or dtype.hasobject or dtype.kind not in "biuf":
            raise Refused(f"dtype {dtype} is not allowed")  # unreachable for _PLAIN_CODES
        return dtype


def _raw_bytes(data: object) -> bytes:
    """Array or scalar data: bytes, or a str from a Python 2 pickle (latin1, as numpy does)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("latin-1")
    raise Refused(f"array data is a {type(data).__name__}, expected bytes")


def _from_bytes(raw: bytes, dtype: object, shape: tuple[int, ...], order: _Order) -> np.ndarray:
    """The only way a pickled array becomes a real one: frombuffer, plain dtype, exact size."""
    if not isinstance(dtype, PickledDtype):
        raise Refused(f"array dtype is a {type(dtype).__name__}, expected a numpy dtype")
    real = dtype.resolve()
    if math.prod(shape) * real.itemsize != len(raw):
        raise Refused(
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
        raise Refused(f"array shape {value!r} is not a tuple of sizes")
    return value


class PickledArray:
    """Stand-in for an ndarray: records shape, dtype, order and raw bytes."""

    def __init__(self) -> None:
        self.state: tuple[tuple[int, ...], object, _Order, bytes] | None = None

    def __setstate__(self, state: object) -> None:
        if self.state is not None:
            raise Refused("array state set twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]  # numpy writes version 1; Python 2 era pickles may omit it
        if not (isinstance(state, tuple) and len(state) == 4 and isinstance(state[2], bool)):
            raise Refused("array state is not (shape, dtype, fortran, data)")
        shape, dtype, fortran, data = state
        self.state = (_shape(shape), dtype, "F" if fortran else "C", _raw_bytes(data))

    type_name = "numpy array"

    def __repr__(self) -> str:
        return self.type_name

    def materialize(self) -> np.ndarray:
        if self.state is None:
            raise Refused("array without data")
        shape, dtype, order, raw = self.state
        return _from_bytes(raw, dtype, shape, order)


class PickledScalar:
    """Stand-in for a numpy scalar: records dtype and raw bytes."""

    def __init__(self, dtype: object, raw: bytes) -> None:
        self.dtype, self.raw = dtype, raw

    def __setstate__(self, state: object) -> None:
        raise Refused("a numpy scalar cannot take a pickled state")

    type_name = "numpy scalar"

    def __repr__(self) -> str:
        return self.type_name

    def materialize(self) -> np.generic:
        value: np.generic = _from_bytes(self.raw, self.dtype, (1,), "C")[0]
        return value


def _reconstruct(subtype: object, *args: object) -> PickledArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``."""
    if subtype is not _NDARRAY:
        raise Refused("_reconstruct may only rebuild a numpy.ndarray")
    return PickledArray()


def _scalar(dtype: object, data: object = b"") -> PickledScalar:
    """Stand-in for ``numpy.core.multiarray.scalar(dtype, data)``."""
    return PickledScalar(dtype, _raw_bytes(data))


def _frombuffer(data: object, dtype: object, shape: object, order: object) -> PickledArray:
    """Stand-in for ``numpy.core.numeric._frombuffer`` (protocol 5, buffers in band)."""
    if order != "C" and order != "F":
        raise Refused(f"array order {order!r} is not C or F")
    array = PickledArray()
    array.state = (_shape(shape), dtype, order, _raw_bytes(data))
    return array


def _dtype(code: object, align: object = False, copy: object = True) -> PickledDtype:
    """Stand-in for ``numpy.dtype(code, align, copy)``."""
    return PickledDtype(code)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode``: protocols 0-2 write bytes as ``encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused(f"_codecs.encode with {type(text).__name__} and {encoding!r}")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], StandIn]:
    allowed = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): StandIn("numpy.dtype", _dtype),
        ("_codecs", "encode"): StandIn("_codecs.encode", _codecs_encode),  # protocols 0-2
    }
    # numpy 1 and numpy 2 spell the module differently.
    for package in ("numpy.core", "numpy._core"):
        for module, name, func in (
            ("multiarray", "_reconstruct", _reconstruct),
            ("multiarray", "scalar", _scalar),
            ("numeric", "_frombuffer", _frombuffer),  # protocol 5
        ):
            allowed[(f"{package}.{module}", name)] = StandIn(f"numpy.{name}", func)
    return allowed


ALLOWED = _allowed_globals()


def materialize(value: object, done: dict[int, object], depth: int = 0) -> object:
    """Recorded arrays and scalars -> real ones, in the dict, its values and their items.

    ``done`` maps stand-ins already converted (by id) to their result, so one array that the
    pickle references many times is built once. Deeper stand-ins are left as they are (no
    valid entry nests that deep): they never become numpy objects, and their entry is
    reported as malformed.
    """
    if isinstance(value, (PickledArray, PickledScalar)):
        if id(value) not in done:
            done[id(value)] = value.materialize()
        return done[id(value)]
    if depth >= 2:
        return value
    if isinstance(value, dict):
        return {k: materialize(v, done, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v, done, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(materialize(v, done, depth + 1) for v in value)
    return value
