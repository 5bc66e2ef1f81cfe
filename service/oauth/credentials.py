"""What a request presents to authenticate its client (RFC 6749 §2.3, §3.2.1).

Exactly one method per request (RFC 6749 §2.3):

- ``client_secret_basic``: ``Authorization: Basic base64(id ":" secret)``, each
  part form-encoded first (RFC 6749 §2.3.1). Widely used clients (Authlib's,
  requests' ``HTTPBasicAuth``) skip the form-encoding, so a pair is tried as
  decoded and, failing that, as sent. The body may repeat ``client_id``
  (RFC 6749 §3.2.1) but never carry ``client_secret`` too.
- ``client_secret_post``: ``client_id`` and ``client_secret`` in the body.
- ``none``: a public client's ``client_id`` alone.

Nothing is checked against the configuration here; see :mod:`service.oauth.registry`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_to_bytes

from service.errors import InvalidRequest
from service.oauth.errors import InvalidClient

Method = Literal["client_secret_basic", "client_secret_post", "none"]


@dataclass(frozen=True, repr=False)
class Presented:
    """The credentials of one request: the method, and the (id, secret) pairs to try."""

    method: Method
    #: In order of preference; ``secret`` is ``None`` for the ``none`` method.
    candidates: tuple[tuple[str, bytes | None], ...] = field(default=())

    @property
    def basic(self) -> bool:
        return self.method == "client_secret_basic"

    @property
    def client_id(self) -> str:
        """The client id as first presented (for messages and logs, never trusted)."""
        return self.candidates[0][0]

    def __repr__(self) -> str:
        return f"Presented({self.method}, {self.client_id!r})"


def presented_credentials(authorization: str | None, params: Mapping[str, str]) -> Presented:
    """The client authentication of a request, from its Authorization header and parameters."""
    if authorization:
        return _basic(authorization, params)
    client_id = params.get("client_id")
    secret = params.get("client_secret")
    if client_id is None:
        # No client at all (or a secret without its id): the one invalid_client answer.
        raise InvalidClient()
    if secret is None:
        return Presented("none", ((client_id, None),))
    return Presented("client_secret_post", ((client_id, secret.encode("utf-8")),))


def _basic(authorization: str, params: Mapping[str, str]) -> Presented:
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        # RFC 6749 §5.2: an unsupported method is invalid_client.
        raise InvalidClient(basic=True)
    if "client_secret" in params:
        raise InvalidRequest(
            "Two client authentication methods at once: HTTP Basic and client_secret in "
            "the body (RFC 6749 §2.3); use one."
        )
    try:
        pair = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidClient(basic=True) from None
    raw_id, colon, raw_secret = pair.partition(b":")
    if not colon or not raw_id:
        raise InvalidClient(basic=True)
    candidates: list[tuple[str, bytes | None]] = []
    for id_bytes, secret in (
        (_form_decode(raw_id), _form_decode(raw_secret)),
        (raw_id, raw_secret),
    ):
        candidate = (_text(id_bytes), secret)
        if candidate not in candidates:
            candidates.append(candidate)
    body_id = params.get("client_id")
    if body_id is not None and all(body_id != client_id for client_id, _ in candidates):
        raise InvalidRequest("The client_id in the body differs from the Basic credentials.")
    return Presented("client_secret_basic", tuple(candidates))


def _form_decode(value: bytes) -> bytes:
    """application/x-www-form-urlencoded decoding (RFC 6749 Appendix B)."""
    return unquote_to_bytes(value.replace(b"+", b" "))


def _text(client_id: bytes) -> str:
    # Client ids are ASCII by configuration; anything else is simply unknown.
    return client_id.decode("utf-8", "replace")
