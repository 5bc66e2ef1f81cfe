"""Why a request's token was refused, with what the HTTP answer must carry.

Each :class:`TokenError` holds its status, its RFC 6750 §3.1 / RFC 9449 §7.1 error
code, a description safe to show the caller, and the response headers it needs
(``WWW-Authenticate`` always, ``DPoP-Nonce`` when a nonce is asked for,
``Retry-After`` with a 503), so any framework renders it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

#: RFC 7230 §3.2.6 quoted-string: drop what would need escaping or break the header.
_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')
#: Seconds a caller should wait when the token service cannot be reached.
RETRY_AFTER = 5


def _quoted(value: str) -> str:
    return '"' + _UNSAFE.sub("", value) + '"'


def challenge(
    scheme: str,
    error: str | None = None,
    description: str | None = None,
    *,
    algs: Collection[str] = (),
    scope: Collection[str] = (),
) -> str:
    """A ``WWW-Authenticate`` challenge (RFC 6750 §3, RFC 9449 §7.1)."""
    params = []
    if error is not None:
        params.append(f"error={_quoted(error)}")
    if description:
        params.append(f"error_description={_quoted(description)}")
    if scope:
        params.append(f"scope={_quoted(' '.join(scope))}")
    if algs:
        params.append(f"algs={_quoted(' '.join(algs))}")
    return f"{scheme} {', '.join(params)}" if params else scheme


class TokenError(Exception):
    """A request refused: ``status``, ``error``, ``description`` and response ``headers``."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.error!r}, {self.description!r})"


class InvalidToken(TokenError):
    """401: the token is missing, malformed, expired, not for this API, or its binding fails."""


class InvalidDPoPProof(TokenError):
    """401: the DPoP proof fails a check of RFC 9449 §4.3, or was used before."""


class UseDPoPNonce(TokenError):
    """401: the proof must carry the nonce in ``headers["DPoP-Nonce"]`` (RFC 9449 §8)."""


class InsufficientScope(TokenError):
    """403: the token lacks a scope the request needs (RFC 6750 §3.1)."""


class TemporarilyUnavailable(TokenError):
    """503: the answer needs the token service, which cannot be reached (fail closed)."""


def invalid_token(description: str, *, dpop_algs: Collection[str] | None = None) -> TokenError:
    """401 ``invalid_token``; with ``dpop_algs`` the challenge names the DPoP scheme."""
    return _unauthorized(InvalidToken, "invalid_token", description, dpop_algs)


def invalid_proof(description: str, *, dpop_algs: Collection[str]) -> TokenError:
    """401 ``invalid_dpop_proof`` (RFC 9449 §7.1)."""
    return _unauthorized(InvalidDPoPProof, "invalid_dpop_proof", description, dpop_algs)


def use_nonce(description: str, *, nonce: str, dpop_algs: Collection[str]) -> TokenError:
    """401 ``use_dpop_nonce`` with the nonce to use (RFC 9449 §9)."""
    error = _unauthorized(UseDPoPNonce, "use_dpop_nonce", description, dpop_algs)
    error.headers["DPoP-Nonce"] = nonce
    return error


def no_token() -> TokenError:
    """RFC 6750 §3.1: a request without a token gets a challenge without an error code."""
    return InvalidToken(401, "invalid_token", "no access token", {"WWW-Authenticate": "Bearer"})


def insufficient_scope(needed: Collection[str], *, dpop: bool) -> TokenError:
    """403 ``insufficient_scope``, naming the scopes needed (RFC 6750 §3.1)."""
    description = "the token lacks a scope this request needs"
    header = challenge(
        "DPoP" if dpop else "Bearer", "insufficient_scope", description, scope=needed
    )
    return InsufficientScope(403, "insufficient_scope", description, {"WWW-Authenticate": header})


def unavailable(description: str) -> TokenError:
    """503: an answer needs the token service and it cannot be reached (fail closed)."""
    return TemporarilyUnavailable(
        503,
        "temporarily_unavailable",
        description,
        {
            "WWW-Authenticate": challenge("Bearer", "temporarily_unavailable", description),
            "Retry-After": str(RETRY_AFTER),
        },
    )


def _unauthorized(
    kind: type[TokenError], error: str, description: str, dpop_algs: Collection[str] | None
) -> TokenError:
    if dpop_algs is None:
        header = challenge("Bearer", error, description)
    else:
        header = challenge("DPoP", error, description, algs=dpop_algs)
    return kind(401, error, description, {"WWW-Authenticate": header})
