"""The admin API's refusals, each a :class:`~service.errors.ServiceError` with its status."""

from __future__ import annotations

from service.errors import ServiceError


class InvalidClientMetadata(ServiceError):
    # RFC 7591 §3.2.2: a field of the client's metadata is invalid; the description names it.
    status_code = 400
    error = "invalid_client_metadata"


class ClientExists(ServiceError):
    status_code = 409
    error = "client_exists"
    description = "A client with this client_id already exists."


class ReadOnly(ServiceError):
    status_code = 409
    error = "read_only"
    description = "This client is defined in the config file; change it there."


class VersionConflict(ServiceError):
    status_code = 409
    error = "version_conflict"
    description = (
        "The client changed since you read it: read it again and send its current version."
    )


class SharedStateRequired(ServiceError):
    status_code = 409
    error = "shared_state_required"
    description = (
        'Blocks need state = "redis://...": with state = "memory" each server process keeps '
        "its own, which no request can reach."
    )


class InsufficientScope(ServiceError):
    # RFC 6750 §3.1
    status_code = 403
    error = "insufficient_scope"
    description = "This API token does not carry the scope `admin`."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(
            description,
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="admin"'},
        )
