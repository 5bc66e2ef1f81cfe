"""The service's error hierarchy.

Every failure a client can cause is a :class:`ServiceError` that carries its
protocol data (status, RFC 6749 style ``error`` code, human description), so the
HTTP layer renders all of them with one handler. Descriptions never contain
request data: a signature, token or secret is never echoed back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ServiceError(Exception):
    status_code: int = 400
    error: str = "invalid_request"
    description: str = "The request is invalid."

    def __init__(
        self, description: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        if description is not None:
            self.description = description
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.description)

    def as_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class InvalidRequest(ServiceError):
    status_code = 400
    error = "invalid_request"


class InvalidSignature(ServiceError):
    status_code = 401
    error = "invalid_signature"
    description = "The signature does not match this customer."


class ReplayedProof(InvalidSignature):
    description = "This signed request was already used; a new one is needed."


class SignatureExpired(ServiceError):
    status_code = 401
    error = "signature_expired"
    description = "The signature is outside its validity window; reload the page."


class LoginRequired(ServiceError):
    status_code = 401
    error = "login_required"
    description = "No customer is logged in."


class InvalidToken(ServiceError):
    # RFC 6750 §3.1
    status_code = 401
    error = "invalid_token"
    description = "The access token is missing, expired or invalid."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class InvalidDPoPProof(ServiceError):
    # RFC 9449 §5: a token request whose DPoP proof fails a check of §4.3.
    status_code = 400
    error = "invalid_dpop_proof"
    description = "The DPoP proof is invalid."


class UseDPoPNonce(ServiceError):
    # RFC 9449 §8: the proof must carry the nonce given in the DPoP-Nonce header.
    status_code = 400
    error = "use_dpop_nonce"
    description = "Sign the DPoP proof again with the nonce in the DPoP-Nonce header."

    def __init__(self, description: str | None = None, *, nonce: str) -> None:
        super().__init__(description, headers={"DPoP-Nonce": nonce})


class DPoPUnauthorized(ServiceError):
    """A resource's refusal of a DPoP-bound token or its proof (RFC 9449 §7.1, §9).

    ``error`` is ``invalid_token`` (the token or its binding), ``invalid_dpop_proof``
    (the proof) or ``use_dpop_nonce`` (with a fresh nonce); the challenge names the
    DPoP scheme and the proof algorithms accepted.
    """

    status_code = 401

    def __init__(
        self, error: str, description: str, *, algs: Sequence[str], nonce: str | None = None
    ) -> None:
        challenge = f'DPoP error="{error}", algs="{" ".join(algs)}"'
        headers = {"WWW-Authenticate": challenge}
        if nonce is not None:
            headers["DPoP-Nonce"] = nonce
        super().__init__(description, headers=headers)
        self.error = error


class OriginNotAllowed(ServiceError):
    status_code = 403
    error = "origin_not_allowed"
    description = "This origin may not request tokens for this shop."


class SignedIdsDisabled(ServiceError):
    status_code = 403
    error = "signed_ids_disabled"
    description = (
        "This shop takes customer tokens through the Shopify App Proxy only; "
        "signed customer ids are turned off."
    )


class NotFound(ServiceError):
    status_code = 404
    error = "not_found"
    description = "No such resource."


class CustomerBlocked(ServiceError):
    status_code = 403
    error = "customer_blocked"
    description = "This customer may not get tokens."


class UnknownShop(ServiceError):
    status_code = 404
    error = "unknown_shop"
    description = "This shop is not configured."


class MethodNotAllowed(ServiceError):
    status_code = 405
    error = "method_not_allowed"
    description = "This method is not allowed here."


class MisdirectedRequest(ServiceError):
    # RFC 9110 §15.5.20: this server will not answer for that authority.
    status_code = 421
    error = "misdirected_request"
    description = "This server does not answer for that host name."


class RequestTimeout(ServiceError):
    # RFC 9110 §15.5.9
    status_code = 408
    error = "request_timeout"
    description = "The request did not arrive in time."


class RequestTooLarge(ServiceError):
    status_code = 413
    error = "request_too_large"
    description = "The request body is too large."


class UnsupportedMediaType(ServiceError):
    status_code = 415
    error = "unsupported_media_type"
    description = "Send Content-Type: application/json or application/x-www-form-urlencoded."


class RateLimited(ServiceError):
    status_code = 429
    error = "rate_limited"
    description = "Too many requests; retry later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ServerError(ServiceError):
    status_code = 500
    error = "server_error"
    description = "The server failed to handle the request."


class ServiceUnavailable(ServiceError):
    status_code = 503
    error = "temporarily_unavailable"
    description = "The service is temporarily unavailable."


class StateUnavailable(ServiceUnavailable):
    """The state backend (Redis) cannot answer: fail closed, the client retries."""

    description = "The service cannot reach its shared state right now; retry in a second."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, headers={"Retry-After": "1"})


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key or variable."""


class StoreUnavailable(ServiceUnavailable):
    """The SQL store cannot answer: fail closed (a token is never active by default)."""

    description = "The token store cannot answer right now; retry in a second."

    def __init__(self, cause: str = "") -> None:
        super().__init__(headers={"Retry-After": "1"})
        #: For the operator's log only: the driver's own words, never the statement
        #: or its parameters (which hold token hashes).
        self.cause = cause

    @classmethod
    def from_exception(cls, exc: BaseException) -> StoreUnavailable:
        """The driver's own error (SQLAlchemy wraps it as ``orig``): its class and first line."""
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).strip().splitlines()
        name = type(orig).__name__
        return cls(f"{name}: {lines[0][:200]}" if lines else name)
