"""THE NAIVE PEER, NOT THE SERVICE: what you would write yourself, the bar to beat by 1.6x.

One Starlette file doing the mint endpoint's work the obvious, idiomatic way:
read the JSON body, check the HMAC-SHA256 of the customer id with
``hmac.compare_digest``, ``jwt.encode`` an ES256 token with the service's
claims and answer the service's fields. It is honest, not sabotaged; what it
leaves out (body limit, strict parsing, rate limits, CORS, the log line) is
what the service does on top, and still has to be faster.

    SHOP_ID_SECRET=... NAIVE_KEY_FILE=key.pem NAIVE_KID=... uvicorn bench.naive:app
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = os.environ.get("NAIVE_ISSUER", "https://tokens.bench.example")
ID_SECRET = os.environ["SHOP_ID_SECRET"].encode()
# Parsed once, not per request: passing the PEM to jwt.encode would re-parse it
# every time, and the peer is meant to be fair.
_key = load_pem_private_key(Path(os.environ["NAIVE_KEY_FILE"]).read_bytes(), None)
if not isinstance(_key, ec.EllipticCurvePrivateKey):
    raise SystemExit("NAIVE_KEY_FILE must hold an EC P-256 private key")
PRIVATE_KEY = _key
KID = os.environ["NAIVE_KID"]
TTL = 900


async def customer_token(request: Request) -> JSONResponse:
    shop = request.path_params["shop"]
    try:
        body = await request.json()
        customer_id, signature = str(body["id"]), str(body["signature"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "invalid_request"}, status_code=400)
    expected = hmac.new(ID_SECRET, customer_id.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return JSONResponse({"error": "invalid_signature"}, status_code=401)

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": customer_id,
        "aud": ISSUER,
        "client_id": shop,
        "token_use": "customer",
        "shop": shop,
        "scope": "customer",
        "iat": now,
        "nbf": now,
        "exp": now + TTL,
        "jti": secrets.token_urlsafe(16),
    }
    token = jwt.encode(
        claims, PRIVATE_KEY, algorithm="ES256", headers={"typ": "at+jwt", "kid": KID}
    )
    expiry = datetime.fromtimestamp(now + TTL, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TTL,
            "expires": now + TTL,
            "identifier": "customer",
            "scope": "customer",
            "token": token,
            "expiry": expiry,
        },
        headers={"Cache-Control": "no-store"},
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/shops/{shop}/customer-token", customer_token, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)
