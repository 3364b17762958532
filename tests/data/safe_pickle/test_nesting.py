"""Deeply nested tuples are refused before unpickling, by walking the opcodes."""

from __future__ import annotations

import pickle

import pytest

from sensormoco.data.safe_pickle.nesting import MAX_NESTING, check_nesting
from sensormoco.data.safe_pickle.standins import Refused


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = (value,)
    return value


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_nesting_up_to_the_limit_passes_and_deeper_is_refused(protocol: int) -> None:
    check_nesting(pickle.dumps({_nested(MAX_NESTING): [1, 2]}, protocol=protocol))
    check_nesting(pickle.dumps([[[[[[1]]]]]], protocol=protocol))  # lists count 0
    with pytest.raises(Refused, match=f"nested deeper than {MAX_NESTING} levels"):
        check_nesting(pickle.dumps({_nested(MAX_NESTING + 1): 1}, protocol=protocol))
