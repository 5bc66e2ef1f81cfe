"""API tokens without SQL or HTTP: the format, the record, the rules for new ones.

An API token is ``stk_`` + 43 base64url characters (256 random bits) + ``_`` +
a 6-character base62 CRC32 of everything before it. The checksum lets a secret
scanner, a human or this service tell a real token from a typo before any
database lookup; it protects nothing (anyone can compute it), the 256 bits do.
The store keeps only the token's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

PREFIX = "stk_"
_BODY_CHARS = 43
_CHECKSUM_CHARS = 6
TOKEN_LENGTH = len(PREFIX) + _BODY_CHARS + 1 + _CHECKSUM_CHARS
_SHAPE = re.compile(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}", re.ASCII)
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Public ids: short, unambiguous in a URL, a log line or a shell.
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
ID_LENGTH = 12
_ID = re.compile(rf"[{_ID_ALPHABET}]{{{ID_LENGTH}}}")

MAX_NAME = 100
#: Longest lifetime a new token may be given; beyond it, make it never expire.
MAX_LIFETIME = 10 * 366 * 86400
#: A new token's lifetime unless another is chosen, from the CLI and the dashboard alike:
#: a forgotten integration's token should not work for ever.
DEFAULT_EXPIRY = "90d"
#: The lifetime that means no expiry (``--expires never``, the dashboard's "Never").
NEVER = "never"
#: The scope of the admin API; a token may carry it whether or not api_scopes lists it.
ADMIN_SCOPE = "admin"
_DURATION = re.compile(r"([1-9][0-9]{0,5})([hdwy])", re.ASCII)
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}

Status = Literal["active", "expired", "revoked"]


class TokenInputError(ValueError):
    """A bad value for a new token; ``field`` names it (``name``, ``scope``, ``expires``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _checksum(text: str) -> str:
    value = zlib.crc32(text.encode("ascii"))
    digits = []
    for _ in range(_CHECKSUM_CHARS):  # 62**6 > 2**32: six digits always suffice
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def new_token() -> str:
    """A new token: 256 bits from the OS's CSPRNG, with its checksum."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    head = PREFIX + body
    return f"{head}_{_checksum(head)}"


def is_well_formed(token: str) -> bool:
    """The shape and checksum of an API token; no lookup, no secret involved."""
    if len(token) != TOKEN_LENGTH or not _SHAPE.fullmatch(token):
        return False
    head, checksum = token[: -_CHECKSUM_CHARS - 1], token[-_CHECKSUM_CHARS:]
    # 43 characters carry 258 bits: the two spare ones must be zero (canonical base64).
    body = head[len(PREFIX) :]
    if base64.urlsafe_b64encode(base64.urlsafe_b64decode(body + "=")).rstrip(b"=") != body.encode():
        return False
    return _checksum(head) == checksum


def token_hash(token: str) -> str:
    """What the store keeps: the SHA-256 of the token, hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_id() -> str:
    """A new public token id: :data:`ID_LENGTH` characters of an unambiguous alphabet."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))


def is_id(text: str) -> bool:
    """Whether ``text`` has the shape of a token id (checked before any lookup)."""
    return bool(_ID.fullmatch(text))


@dataclass(frozen=True)
class ApiToken:
    """One stored token (never the token itself)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    #: Who revoked it: ``cli`` or ``dashboard``; None for a token revoked before this was kept.
    revoked_by: str | None = None

    def status(self, now: datetime) -> Status:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def introspection(self, issuer: str) -> dict[str, object]:
        """RFC 7662 §2.2 members of this token while active (see the HTTP reference).

        ``active`` itself is the introspection endpoint's to add.
        """
        body: dict[str, object] = {
            "scope": " ".join(self.scopes),
            "sub": f"api-token:{self.id}",
            "token_type": "Bearer",
            "iat": int(self.created_at.timestamp()),
            "iss": issuer,
        }
        if self.expires_at is not None:
            body["exp"] = int(self.expires_at.timestamp())
        return body


def utc(epoch: float) -> datetime:
    """Unix time as an aware UTC datetime, to the second (as stored)."""
    return datetime.fromtimestamp(int(epoch), UTC)


def check_name(value: str) -> str:
    """The token's name, stripped: required, printable, at most :data:`MAX_NAME` characters."""
    name = value.strip()
    if not name:
        raise TokenInputError("name", "required (what uses the token, e.g. crm-sync)")
    if len(name) > MAX_NAME:
        raise TokenInputError("name", f"at most {MAX_NAME} characters")
    if not name.isprintable():
        raise TokenInputError("name", "no control characters")
    return name


def check_scopes(values: Iterable[str], allowed: Collection[str]) -> tuple[str, ...]:
    """The chosen scopes, each one of ``api_scopes``, in the configured order."""
    chosen = list(values)
    if not chosen:
        raise TokenInputError("scope", "choose at least one")
    for scope in chosen:
        if scope not in allowed:
            shown = scope if scope.isprintable() and len(scope) <= 64 else "?"
            raise TokenInputError(
                "scope", f"unknown scope {shown!r} (api_scopes: {' '.join(allowed)})"
            )
    return tuple(scope for scope in allowed if scope in chosen)


def parse_expiry(text: str) -> int | None:
    """A lifetime as :func:`parse_duration` reads it, or None for :data:`NEVER`."""
    return None if text.strip() == NEVER else parse_duration(text)


def parse_duration(text: str) -> int:
    """``12h``, ``90d``, ``6w`` or ``1y`` as seconds (at most ten years)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise TokenInputError(
            "expires", f"expected a duration like 12h, 90d, 6w or 1y, or '{NEVER}'"
        )
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > MAX_LIFETIME:
        raise TokenInputError("expires", f"at most ten years; '{NEVER}' for no expiry")
    return seconds
