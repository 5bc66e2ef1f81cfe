"""What a token may carry: scope selection (RFC 6749 §3.3) and audience (RFC 8707).

The client's configuration is the most it may have; a request narrows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from service.config.values import SCOPE_TOKEN
from service.errors import InvalidRequest
from service.oauth.errors import InvalidScope, InvalidTarget

#: A request's ``scope=*`` asks for every scope the client may have.
ALL = "*"


def select_scope(requested: str | None, allowed: Sequence[str]) -> str:
    """The scope to grant: ``allowed`` narrowed to ``requested``, in ``allowed``'s order.

    Absent or ``*``: all of ``allowed`` (RFC 6749 §3.3 lets the server choose a
    default). Otherwise ``requested`` is ``scope-token *( SP scope-token )``
    and every token must be in ``allowed``; anything else is ``invalid_scope``.
    """
    if requested is None or requested == ALL:
        return " ".join(allowed)
    tokens = requested.split(" ")
    for token in tokens:
        if not SCOPE_TOKEN.fullmatch(token) or token == ALL:
            raise InvalidScope(
                "The scope must be space-separated scope names, or * alone (RFC 6749 §3.3)."
            )
        if token not in allowed:
            # A valid scope-token is printable ASCII; show it only when short.
            name = f"`{token}`" if len(token) <= 64 else "a requested scope"
            raise InvalidScope(f"This client may not have {name}.")
    wanted = set(tokens)
    return " ".join(scope for scope in allowed if scope in wanted)


def select_audience(audience: str | None, resource: str | None, allowed: Sequence[str]) -> str:
    """The token's ``aud``: the one requested (``audience`` or ``resource``), else the default.

    One audience per token, so one value: both parameters may be sent only if
    they agree. ``resource`` is an absolute URI without a fragment (RFC 8707 §2).
    """
    if audience is not None and resource is not None and audience != resource:
        raise InvalidRequest("Send audience or resource, not two different values.")
    if resource is not None:
        parts = urlsplit(resource)
        if not parts.scheme or parts.fragment or "#" in resource:
            raise InvalidTarget(
                "resource must be an absolute URI without a fragment (RFC 8707 §2)."
            )
    wanted = audience if audience is not None else resource
    if wanted is None:
        return allowed[0]
    if wanted not in allowed:
        raise InvalidTarget()
    return wanted
