"""The parameters of an OAuth request, as RFC 6749 reads them (§3.1, §3.2).

A body (form or JSON object, already parsed strictly: a repeated parameter is
refused there) becomes a plain ``dict`` of the parameters this service knows,
each a string. Unknown parameters are ignored, and a parameter sent without a
value is treated as if it were omitted (RFC 6749 §3.1, §3.2).
"""

from __future__ import annotations

from collections.abc import Mapping

from service.errors import InvalidRequest

#: Every parameter an OAuth endpoint here reads; any other is ignored (RFC 6749 §3.2).
KNOWN = frozenset(
    {
        "grant_type",
        "client_id",
        "client_secret",
        "scope",
        "audience",
        "resource",  # RFC 8707 §2
        "token",  # RFC 7662 §2.1, RFC 7009 §2.1
        "token_type_hint",
    }
)


def oauth_params(fields: Mapping[str, object]) -> dict[str, str]:
    """The known, non-empty parameters of a parsed body, each a string."""
    params: dict[str, str] = {}
    for name in KNOWN.intersection(fields):
        value = fields[name]
        if not isinstance(value, str):
            # A JSON body carries the same strings a form would.
            raise InvalidRequest(f"`{name}` must be a string.")
        if value:
            params[name] = value
    return params
