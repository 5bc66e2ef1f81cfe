"""The OAuth 2.0 errors (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2).

They are :class:`~service.errors.ServiceError` subclasses, so the one error
handler renders them as ``{"error", "error_description"}`` like every other.
``invalid_request`` is the service's own :class:`~service.errors.InvalidRequest`.
"""

from __future__ import annotations

from service.errors import ServiceError

#: RFC 6749 §5.2 / RFC 7617: the challenge a client that sent Basic gets back.
BASIC_CHALLENGE = 'Basic realm="shapestoken"'


class InvalidClient(ServiceError):
    """Client authentication failed, whatever the cause: one answer for all of them.

    An unknown client, a wrong or missing secret, a confidential client's id sent
    alone, a secret sent for a public client, malformed credentials: the status,
    body and headers are the same for each, so no answer tells whether a client
    id exists or what kind of client it is. The only difference is the one
    RFC 6749 §5.2 asks for: a client that sent ``Authorization: Basic`` gets a
    ``WWW-Authenticate`` challenge with that scheme.
    """

    status_code = 401
    error = "invalid_client"
    description = (
        "Client authentication failed: send client_id and client_secret (HTTP Basic or "
        "the body), or client_id alone for a public client (RFC 6749 §2.3)."
    )

    def __init__(self, *, basic: bool = False) -> None:
        super().__init__(headers={"WWW-Authenticate": BASIC_CHALLENGE} if basic else None)
        self.basic = basic


class UnsupportedGrantType(ServiceError):
    status_code = 400
    error = "unsupported_grant_type"
    description = "Supported grant types: client_credentials, implicit."


class UnauthorizedClient(ServiceError):
    status_code = 400
    error = "unauthorized_client"
    description = "This client may not use this grant type."


class InvalidScope(ServiceError):
    status_code = 400
    error = "invalid_scope"
    description = "The requested scope is not allowed for this client."


class InvalidTarget(ServiceError):
    # RFC 8707 §2
    status_code = 400
    error = "invalid_target"
    description = "The requested audience or resource is not allowed for this client."


class InvalidGrant(ServiceError):
    # RFC 6749 §5.2: "... or was issued to another client" (RFC 7009 §2.1 refusals).
    status_code = 400
    error = "invalid_grant"
    description = "This token was not issued to this client."


class AccessDenied(ServiceError):
    status_code = 403
    error = "access_denied"
    description = "This client may not use this endpoint."
