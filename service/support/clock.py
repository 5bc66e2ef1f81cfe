"""Time as the service writes it: ISO 8601 UTC to the second, e.g. ``2026-11-24T10:15:00Z``."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


# Tokens minted within the same second share `exp`: format each value once.
@functools.lru_cache(maxsize=64)
def iso8601(epoch: float) -> str:
    """``epoch`` (Unix seconds) as ISO 8601 UTC, without fractions."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
