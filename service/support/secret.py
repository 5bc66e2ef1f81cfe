"""A value that must never be printed: reprs, logs and error bodies show stars."""

from __future__ import annotations

import hashlib
import hmac

MASK = "**********"

#: Minimum length of any shared secret, in bytes (HMAC-SHA256 keys shorter than
#: the hash output weaken it; RFC 2104 §3).
MIN_SECRET_BYTES = 32


class Secret:
    """Holds secret bytes; ``repr()`` and ``str()`` never reveal them."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode() if isinstance(value, str) else bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def hmac_sha256(self) -> hmac.HMAC:
        """A fresh HMAC-SHA256 keyed with this secret, ready for ``copy()``."""
        return hmac.new(self._value, digestmod=hashlib.sha256)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value).digest())

    def __reduce__(self) -> str:
        raise TypeError("secrets are not picklable")
