"""Verify Shapes Token Service tokens in your API.

```python
verifier = Verifier("https://tokens.acme.example", "https://api.acme.example")
principal = await verifier.verify(method, url, headers)
principal.require("profiles:read")
```
"""

from __future__ import annotations

from shapestoken_verifier.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidToken,
    TemporarilyUnavailable,
    TokenError,
    UseDPoPNonce,
)
from shapestoken_verifier.principal import Principal
from shapestoken_verifier.verifier import Verifier

__all__ = [
    "InsufficientScope",
    "InvalidDPoPProof",
    "InvalidToken",
    "Principal",
    "TemporarilyUnavailable",
    "TokenError",
    "UseDPoPNonce",
    "Verifier",
]
