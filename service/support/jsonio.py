"""JSON as the service writes and reads it: one rule for writing, one strict reader.

Written JSON is compact and byte for byte what the standard library writes with
``separators=(",", ":")``: UTF-8 as is for response bodies, non-ASCII escaped
(``ensure_ascii``) for JWT payloads (as PyJWT writes them) and log lines. orjson
writes the same bytes several times faster, so it writes whatever it writes the
same; the standard library writes the rest (integers over 64 bits, lone
surrogates, and, when escaping, non-ASCII text and DEL).

Read JSON is an object whose keys each come once, without ``NaN`` or
``Infinity`` (which ``json.loads`` accepts).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_UTF8 = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII = json.JSONEncoder(separators=(",", ":"))


def dumps(value: Any, *, ascii_only: bool = False) -> bytes:
    """``value`` as compact JSON; ``ascii_only`` escapes non-ASCII as ``ensure_ascii`` does."""
    try:
        body = orjson.dumps(value)
    except TypeError:
        return (_ASCII if ascii_only else _UTF8).encode(value).encode("utf-8")
    # orjson writes DEL and non-ASCII as they are; escaped, the standard library writes them.
    if ascii_only and not (body.isascii() and b"\x7f" not in body):
        return _ASCII.encode(value).encode("ascii")
    return body


class Rejected(ValueError):
    """Text that is JSON, or nearly, but not what the service reads; the message says why."""


def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``pairs`` as a dict, refusing a name that comes twice (JSON objects, form bodies)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Rejected("Duplicate field in the body.")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise Rejected(f"{name} is not allowed in JSON.")


#: Built once: refuses duplicate keys and NaN/Infinity.
_DECODER = json.JSONDecoder(object_pairs_hook=unique_pairs, parse_constant=_no_constant)


def loads_object(text: str) -> dict[str, object]:
    """The JSON object in ``text``; :class:`Rejected` for anything else, saying why."""
    try:
        value = _DECODER.decode(text)
    except Rejected:
        raise
    except (ValueError, RecursionError) as exc:
        raise Rejected("The body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise Rejected("The body must be a JSON object.")
    return value
