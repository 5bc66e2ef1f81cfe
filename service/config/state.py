"""``state``: where limits, revocations and blocks live (see the operations guide).

``"memory"`` keeps them in each process; ``"redis://host:port/db"`` or
``"rediss://…"`` (TLS) moves them to one Redis that every replica shares. The
URL may carry a password (``redis://:pass@host``, usually from ``env:``), so it
is held as a :class:`~service.support.secret.Secret` and shown with its credentials
masked, in the ``check-config`` summary, in reprs and in every error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from service.config import values
from service.errors import ConfigError
from service.support.secret import MASK, Secret

MEMORY = "memory"
DEFAULT_PORT = 6379
EXAMPLE = '"memory" or "redis://host:6379/0" (rediss:// for TLS)'


@dataclass(frozen=True)
class RedisURL:
    """A validated ``redis://`` or ``rediss://`` URL; ``str()`` masks its credentials."""

    url: Secret
    tls: bool
    host: str
    port: int
    db: int
    credentials: bool

    def reveal(self) -> str:
        return self.url.reveal().decode()

    def __str__(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        userinfo = f"{MASK}@" if self.credentials else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{userinfo}{host}:{self.port}/{self.db}"


def parse_state(value: object) -> str | RedisURL:
    """``"memory"`` or a :class:`RedisURL`; anything else names the key."""
    text = values.string(value, "state")
    if text == MEMORY:
        return MEMORY
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss") or not text.startswith(f"{parts.scheme}://"):
        raise ConfigError(f"state: expected {EXAMPLE}, got {_masked(text)!r}")
    if parts.query or parts.fragment:
        # redis-py would read options (timeouts among them) from the query string;
        # the service sets those itself so a URL cannot loosen them.
        raise ConfigError(f"state: {_masked(text)!r} has a query or fragment; use {EXAMPLE}")
    if not parts.hostname:
        raise ConfigError(f"state: {_masked(text)!r} names no host; use {EXAMPLE}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ConfigError(f"state: {_masked(text)!r} has a bad port") from None
    db_text = parts.path.removeprefix("/")
    if not re.fullmatch(r"0|[1-9][0-9]{0,3}", db_text or "0"):
        raise ConfigError(f"state: the database in {_masked(text)!r} must be a number, e.g. /0")
    return RedisURL(
        url=Secret(text),
        tls=parts.scheme == "rediss",
        host=parts.hostname,
        port=port,
        db=int(db_text or "0"),
        credentials=parts.username is not None or parts.password is not None,
    )


def _masked(text: str) -> str:
    """``text`` with anything that could be a password replaced by stars."""
    for mark in "?#":  # query options may hold one too
        if mark in text:
            text = text.split(mark, 1)[0] + mark + "…"
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text if "@" not in text else MASK
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    return f"{scheme}{sep}{authority}{slash}{path}"
