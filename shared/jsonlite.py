"""JSON for the hook path, without importing the ``json`` package.

``import json`` pulls in ``re`` and ``enum`` and compiles regular expressions: about as
much CPU as starting the interpreter itself, paid by every save Stash makes. The C
scanner and string encoder ``json`` itself uses live in CPython's ``_json`` module, which
imports nothing; this module drives them directly and hands anything unusual (bad
input, a byte-order mark, an interpreter without ``_json``) to ``json`` itself, so
results and errors are exactly ``json.loads``'s. Standard library only.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # not CPython: the json package does it all
    _json = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"   # JSON's whitespace (json.decoder.WHITESPACE)


def _constant(name: str) -> float:
    # What json.loads makes of NaN, Infinity and -Infinity by default.
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _Decoder:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``, at their defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, Any] = {}


# The stub asks for a json scanner; the C code reads only the decoder attributes above.
_scan = _json.make_scanner(_Decoder()) if _json is not None else None  # type: ignore[arg-type]


def loads(data: str | bytes) -> Any:
    """``json.loads(data)``, cheaper on the hook path; raises what ``json.loads`` raises."""
    if _scan is not None:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            text = text.strip(_WHITESPACE)
            value, end = _scan(text, 0)
            if end == len(text):
                return value
        except Exception:   # noqa: BLE001 - json.loads below raises the real error
            pass
    import json

    return json.loads(data)


def dumps_simple(value: dict[str, str | None]) -> str:
    """``json.dumps(value, ensure_ascii=False)`` for a flat object of texts and nulls
    (the hook's answer); anything else goes through ``json.dumps``."""
    encode = getattr(_json, "encode_basestring", None)
    if encode is not None and all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()):
        return "{" + ", ".join(f"{encode(k)}: {'null' if v is None else encode(v)}" for k, v in value.items()) + "}"
    import json

    return json.dumps(value, ensure_ascii=False)
