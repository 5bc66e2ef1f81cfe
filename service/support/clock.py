"""Time as the service writes and reads it.

It writes ISO 8601 UTC to the second, e.g. ``2026-11-24T10:15:00Z``, and reads
token times with :data:`LEEWAY` seconds of clock skew.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

#: Seconds of clock skew tolerated on a token's ``exp``/``nbf``/``iat`` when verifying.
#: Whatever must outlast a token (a revocation, the cut-off left by a lifted block)
#: outlasts its ``exp`` by this much too, or the token would be accepted again in
#: between (RFC 7009 §2: a revoked token is never accepted again).
LEEWAY = 5


# Tokens minted within the same second share `exp`: format each value once.
@functools.lru_cache(maxsize=64)
def iso8601(epoch: float) -> str:
    """``epoch`` (Unix seconds) as ISO 8601 UTC, without fractions."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
