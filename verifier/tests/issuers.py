"""Token services for the verifier's tests: an in-process one whose every answer a test
controls, and the real service started as a process.

The in-process issuer is a small Starlette app (metadata, JWKS, introspection) behind
httpx's ASGI transport; a test can take it down, rotate its keys, revoke tokens and
count the requests it got. Tokens and DPoP proofs are signed here with real keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shapestoken_verifier.dpop import access_token_hash, b64url, thumbprint

ISSUER = "https://tokens.example.com"
AUDIENCE = "https://api.acme.example"
SHOP = "acme.myshopify.com"
API_URL = "https://api.acme.example/v1/profile"
GATEWAY = "api-gateway"
#: RFC 6749 §2.3.1's form-encoding matters for each of these characters.
GATEWAY_SECRET = "gw:secret+/%&=" + "g" * 32
START = 1_800_000_000.0


class Clock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Key:
    """An ES256 key pair with its RFC 7638 kid."""

    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()), repr=False
    )

    @property
    def public_jwk(self) -> dict[str, str]:
        jwk: dict[str, str] = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {name: jwk[name] for name in ("kty", "crv", "x", "y")}

    @property
    def kid(self) -> str:
        return thumbprint(self.public_jwk)

    def published(self) -> dict[str, str]:
        return {**self.public_jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}


def encode_segments(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """The signing input of a JWS: base64url(header) . base64url(claims)."""
    parts = [json.dumps(part, separators=(",", ":")).encode() for part in (header, claims)]
    return ".".join(b64url(part) for part in parts)


def hs256(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """A token MACed with ``secret``, made by hand (PyJWT refuses a PEM as an HMAC secret)."""
    signing_input = encode_segments(header, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


@dataclass
class ProofKey:
    """A client's DPoP key: it signs proofs (RFC 9449 §4.2)."""

    key: Key = field(default_factory=Key)

    @property
    def jkt(self) -> str:
        return self.key.kid

    def proof(
        self,
        method: str = "GET",
        url: str = API_URL,
        *,
        now: float = START,
        token: str | None = None,
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        values: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(now),
        }
        if token is not None:
            values["ath"] = access_token_hash(token)
        values.update(claims)
        values = {name: value for name, value in values.items() if value is not None}
        headers = {"typ": "dpop+jwt", "jwk": self.key.public_jwk, **(header or {})}
        return jwt.encode(values, self.key.private, algorithm="ES256", headers=headers)


@dataclass
class FakeIssuer:
    """The token service's metadata, JWKS and introspection, as tests want them."""

    clock: Clock
    url: str = ISSUER
    keys: list[Key] = field(default_factory=lambda: [Key()])
    dpop_algs: list[str] | None = field(default_factory=lambda: ["ES256"])
    metadata_issuer: str | None = None
    down: bool = False
    #: What the JWKS endpoint serves instead of ``keys``, when set.
    jwks: list[dict[str, Any]] | None = None
    #: stk_ tokens and JWTs the introspection endpoint knows as active, with their answers.
    active: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    # -- tokens -------------------------------------------------------------------------

    def claims(self, kind: str = "customer", **overrides: Any) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "42",
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": secrets.token_urlsafe(16),
            "token_use": kind,
            "scope": "customer",
            "client_id": SHOP,
            "shop": SHOP,
        }
        if kind != "customer":
            claims.update(sub="crm-sync", client_id="crm-sync", scope="profiles:read")
            del claims["shop"]
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(
        self,
        kind: str = "customer",
        *,
        key: Key | None = None,
        header: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        key = key or self.keys[0]
        headers = {"typ": "at+jwt", "kid": key.kid, **(header or {})}
        if headers["kid"] is None:  # PyJWT deletes a null typ itself, not a null kid
            del headers["kid"]
        return jwt.encode(
            self.claims(kind, **overrides), key.private, algorithm="ES256", headers=headers
        )

    def api_token(self, scope: str = "profiles:read", **answer: Any) -> str:
        """A well-formed stk_ token the introspection endpoint answers as active."""
        head = "stk_" + b64url(secrets.token_bytes(32))
        token = f"{head}_{crc_base62(head)}"
        self.active[token] = {
            "scope": scope,
            "sub": "api-token:abcdefghijkm",
            "token_type": "Bearer",
            "iat": int(self.clock()),
            "iss": self.url,
            **answer,
        }
        return token

    # -- the HTTP side ------------------------------------------------------------------

    def app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            document: dict[str, Any] = {
                "issuer": self.metadata_issuer or self.url,
                "jwks_uri": self.url + "/.well-known/jwks.json",
                "introspection_endpoint": self.url + "/oauth/introspect",
                "token_endpoint": self.url + "/oauth/token",
            }
            if self.dpop_algs is not None:
                document["dpop_signing_alg_values_supported"] = self.dpop_algs
            return JSONResponse(document)

        async def jwks(request: Request) -> Response:
            published = [key.published() for key in self.keys] if self.jwks is None else self.jwks
            return JSONResponse({"keys": published})

        async def introspect(request: Request) -> Response:
            if request.headers.get("authorization") != basic(GATEWAY, GATEWAY_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            form = parse_qs((await request.body()).decode(), strict_parsing=True)
            token = form.get("token", [""])[0]
            answer = self.active.get(token)
            if answer is None:
                return JSONResponse({"active": False})
            return JSONResponse({**answer, "active": True})

        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/.well-known/jwks.json", jwks),
                Route("/oauth/introspect", introspect, methods=["POST"]),
            ]
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return _Transport(self)


class _Transport(httpx.AsyncBaseTransport):
    """httpx's ASGI transport to the fake issuer, which a test can make unreachable."""

    def __init__(self, issuer: FakeIssuer) -> None:
        self.issuer = issuer
        self.asgi = httpx.ASGITransport(app=issuer.app())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.issuer.requests[request.url.path] += 1
        if self.issuer.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.asgi.handle_async_request(request)


def basic(client_id: str, secret: str) -> str:
    """HTTP Basic as RFC 6749 §2.3.1 says: each part form-encoded first."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def crc_base62(text: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    value, digits = zlib.crc32(text.encode()), []
    for _ in range(6):
        value, digit = divmod(value, 62)
        digits.append(alphabet[digit])
    return "".join(reversed(digits))


# -- real processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()}")


SHOP_SECRET = "s" * 40
CRM = "crm-sync"
CRM_SECRET = "crm-secret-" + "k" * 40


def service_config(url: str, state: str = "memory") -> str:
    """A config for the real service: a shop, an API client, an introspecting gateway,
    API tokens in SQLite, and rotated keys that sign at once."""

    def sha256(secret: str) -> str:
        return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()

    return f"""
issuer = "{url}"
signing_key_dir = "keys"
key_activation_delay = 0
state = "{state}"
database = "sqlite:///shapestoken.db"
api_scopes = ["profiles:read", "profiles:write"]

[rate_limits]
per_customer = "1000/minute"
per_client = "1000/minute"
per_ip = "10000/minute"

[shops."{SHOP}"]
id_secrets = ["env:SHOP_ID_SECRET"]
allowed_origins = []
audience = "{AUDIENCE}"

[clients."{CRM}"]
secret_hashes = ["{sha256(CRM_SECRET)}"]
scopes = ["profiles:read", "profiles:write"]
audiences = ["{AUDIENCE}"]

[clients."{GATEWAY}"]
secret_hashes = ["{sha256(GATEWAY_SECRET)}"]
scopes = ["tokens:check"]
introspect = true
"""


@dataclass
class Service:
    """The real token service, run by its own command line in a directory of its own."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    #: The service's state: "memory", or a Redis URL (revocations then reach it in 2 s).
    state: str = "memory"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            name: value for name, value in os.environ.items() if not name.startswith("SHAPESTOKEN_")
        }
        env.update(
            SHAPESTOKEN_CONFIG=str(self.directory / "shapestoken.toml"),
            SHOP_ID_SECRET=SHOP_SECRET,
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``shapestoken ARGS`` against this config (it must succeed)."""
        result = subprocess.run(
            [shapestoken_command(), *args],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result

    def prepare(self) -> Service:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "shapestoken.toml").write_text(service_config(self.url, self.state))
        self.command("keys", "generate")
        self.command("db", "upgrade")
        return self

    def start(self) -> Service:
        log = self.directory / "serve.log"
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                [shapestoken_command(), "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.directory,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.url + "/healthz", self.process, log)
        return self

    def reload_keys(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def shapestoken_command() -> str:
    """The ``shapestoken`` script of the interpreter running the tests."""
    script = Path(sys.executable).with_name("shapestoken")
    found = str(script) if script.exists() else shutil.which("shapestoken")
    assert found is not None, "shapestoken is not installed: pip install -e ."
    return found


@dataclass
class RedisServer:
    """A real redis-server on a free port, keeping nothing on disk."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (apt-get install redis-server)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
