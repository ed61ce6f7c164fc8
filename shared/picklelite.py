"""Pickles for the hook path, without loading the pickle machinery.

The queue stores each job as a pickle (persist-queue's format). Loading ``_pickle``
brings ``copyreg`` and ``_compat_pickle`` too: ~1.5 ms of every save. A hook's job is a
dict of strings, numbers, lists and dicts, which :func:`dumps` writes with pickle's own
opcodes (any unpickler reads them back to an equal value); anything else — tuples,
objects, shared or cyclic references — goes to ``pickle`` itself. Standard library only.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Opcodes (pickletools): PROTO, STOP, NONE, NEWTRUE, NEWFALSE, BININT1, BININT, LONG1,
# FLOAT (text: exact, as repr round-trips), BINUNICODE, EMPTY_LIST, EMPTY_DICT, MARK,
# APPENDS, SETITEMS.
_STOP, _NONE, _TRUE, _FALSE = b".", b"N", b"\x88", b"\x89"
_BININT1, _BININT, _LONG1, _FLOAT, _BINUNICODE = b"K", b"J", b"\x8a", b"F", b"X"
_LIST, _DICT, _MARK, _APPENDS, _SETITEMS = b"]", b"}", b"(", b"e", b"u"
_MAX_DEPTH = 50


class _NotSimple(Exception):
    """A value this module leaves to ``pickle``."""


def _write(value: Any, out: list[bytes], depth: int) -> None:
    kind = type(value)
    if value is None:
        out.append(_NONE)
    elif kind is bool:
        out.append(_TRUE if value else _FALSE)
    elif kind is int:
        if 0 <= value < 256:
            out.append(_BININT1 + bytes((value,)))
        elif -(2**31) <= value < 2**31:
            out.append(_BININT + value.to_bytes(4, "little", signed=True))
        else:
            size = (value.bit_length() >> 3) + 1   # two's complement, room for the sign
            if size > 255:
                raise _NotSimple
            out.append(_LONG1 + bytes((size,)) + value.to_bytes(size, "little", signed=True))
    elif kind is float:
        out.append(_FLOAT + repr(value).encode("ascii") + b"\n")
    elif kind is str:
        data = value.encode("utf-8", "surrogatepass")   # as pickle does: lone surrogates too
        out.append(_BINUNICODE + len(data).to_bytes(4, "little") + data)
    elif kind is list or kind is dict:
        if depth >= _MAX_DEPTH:   # deep or cyclic: pickle's memo handles it
            raise _NotSimple
        if kind is list:
            out.append(_LIST + _MARK)
            for item in value:
                _write(item, out, depth + 1)
            out.append(_APPENDS)
        else:
            out.append(_DICT + _MARK)
            for key, item in value.items():
                _write(key, out, depth + 1)
                _write(item, out, depth + 1)
            out.append(_SETITEMS)
    else:
        raise _NotSimple


def dumps(value: Any, protocol: int) -> bytes:
    """``value`` pickled: read back by ``pickle.loads`` as an equal value.

    ``protocol`` (2 or more) heads the stream, and is the protocol ``pickle`` uses for
    values this module does not write itself.
    """
    out = [b"\x80" + bytes((protocol,))]
    try:
        _write(value, out, 0)
    except _NotSimple:
        try:
            from _pickle import dumps as pickle_dumps
        except ImportError:
            from pickle import dumps as pickle_dumps
        return pickle_dumps(value, protocol=protocol)
    out.append(_STOP)
    return b"".join(out)
