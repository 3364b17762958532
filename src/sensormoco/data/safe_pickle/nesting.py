"""Refusing deeply nested tuples in a pickle before it is unpickled (data/safe_pickle/): the
opcodes are walked once, tracking the nesting depth of each stack item."""

from __future__ import annotations

import pickletools

from sensormoco.data.safe_pickle.standins import Refused

MAX_NESTING = 100  # tuples in tuples; numpy's pickles nest 3 deep


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


def check_nesting(data: bytes) -> None:
    """Refuse tuples or frozensets nested deeper than MAX_NESTING, before unpickling.

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
                if depth > MAX_NESTING:
                    raise Refused(f"tuples or frozensets nested deeper than {MAX_NESTING} levels")
                stack.append(depth)
            elif kind == _DUP:
                stack.extend(items * 2)
            else:
                stack.extend([0] * pushed)
