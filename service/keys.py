"""Signing keys: loading, generating, rotating, and publishing them as a JWKS.

Keys live as PKCS#8 PEM files in ``signing_key_dir`` (named
``<created UTC>-<kid prefix>.pem``), or as a bundle of PEM blocks in the
``SHAPESTOKEN_SIGNING_KEYS`` variable (first block = active key). The newest
key signs; an older key stays published until the longest token TTL has passed
since its successor took over, so every token still alive can be verified.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from service.clock import iso8601
from service.errors import ConfigError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

#: RFC 8725 §3.5 / NIST SP 800-131A: RSA below 2048 bits is refused; new keys get 3072.
MIN_RSA_BITS = 2048
NEW_RSA_BITS = 3072
#: Extra seconds a retired key stays published beyond the longest TTL (clock skew).
PUBLISH_MARGIN = 300

_FILE_NAME = re.compile(r"(\d{8}T\d{6}Z)-[A-Za-z0-9_-]+\.pem")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)

# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


@dataclass(frozen=True, repr=False)
class SigningKey:
    private_key: PrivateKey
    alg: str
    kid: str
    public_jwk: Mapping[str, str]
    #: Unix time the key was created; ``None`` when unknown (environment bundle).
    created: float | None = None
    name: str = ""

    @classmethod
    def from_private_key(
        cls, key: object, *, created: float | None = None, name: str = ""
    ) -> SigningKey:
        alg = algorithm_for(key)
        assert isinstance(key, PrivateKey)
        jwk = public_jwk(key.public_key())
        return cls(key, alg, thumbprint(jwk), jwk, created, name)

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        """The public JWK as published: key material plus ``kid``, ``alg``, ``use``."""
        return {**self.public_jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r})"


def algorithm_for(key: object) -> str:
    """The JWS ``alg`` a private key signs with; refuses weak or unknown keys."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(f"EC signing keys must use P-256 (ES256), not {key.curve.name}")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"RSA signing keys need at least {MIN_RSA_BITS} bits, got {key.key_size}"
            )
        return "RS256"
    raise ConfigError(f"unsupported signing key type {type(key).__name__}")


def public_jwk(key: PublicKey) -> dict[str, str]:
    jwk: Any
    if isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    return {name: str(jwk[name]) for name in members}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK SHA-256 thumbprint, base64url without padding."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate(alg: str, *, created: float | None = None) -> SigningKey:
    key: PrivateKey
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    elif alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=NEW_RSA_BITS)
    else:
        raise ConfigError(f"unsupported signing_alg {alg!r}")
    return SigningKey.from_private_key(key, created=created)


def load_pem(data: bytes, *, created: float | None = None, name: str = "") -> SigningKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name or 'signing key'}: not an unencrypted PEM private key") from exc
    return SigningKey.from_private_key(key, created=created, name=name)


def load_bundle(text: str) -> list[SigningKey]:
    """Keys from concatenated PEM blocks, in the given order (first = active)."""
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(text)]
    return [
        load_pem(block.encode("ascii"), name=f"SHAPESTOKEN_SIGNING_KEYS[{i}]")
        for i, block in enumerate(blocks)
    ]


def load_dir(directory: Path) -> list[SigningKey]:
    """Every ``*.pem`` key in ``directory``, newest first."""
    if not directory.is_dir():
        return []
    keys = [
        load_pem(path.read_bytes(), created=_created(path), name=path.name)
        for path in directory.glob("*.pem")
    ]
    return sorted(keys, key=lambda key: (key.created or 0.0, key.name), reverse=True)


def write_new_key(directory: Path, alg: str, *, now: float | None = None) -> SigningKey:
    """Create a key file (mode 0600) that becomes the active key."""
    created = time.time() if now is None else now
    key = generate(alg, created=created)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}-{key.kid[:12]}.pem"
    # O_EXCL: never overwrite a key; 0o600 from the first byte, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.pem())
    return SigningKey(key.private_key, key.alg, key.kid, key.public_jwk, created, path.name)


def _created(path: Path) -> float:
    match = _FILE_NAME.fullmatch(path.name)
    if match:
        stamp = datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return stamp.timestamp()
    return path.stat().st_mtime


class KeyRing:
    """The active signing key and every key still published for verification."""

    def __init__(
        self,
        keys: Sequence[SigningKey],
        *,
        window: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ConfigError("no signing key")
        kids = [key.kid for key in keys]
        if len(set(kids)) != len(kids):
            raise ConfigError("the same signing key is configured twice")
        self.active = keys[0]
        self._now = now
        # A key retires when its successor is created; it stays published for
        # `window` seconds after that (None: retirement time unknown, always published).
        self._entries: list[tuple[SigningKey, float | None]] = [(keys[0], None)]
        for newer, key in zip(keys, keys[1:], strict=False):
            until = None if newer.created is None else newer.created + window
            self._entries.append((key, until))

    def published(self) -> list[SigningKey]:
        now = self._now()
        return [key for key, until in self._entries if until is None or now < until]

    def find(self, kid: str) -> SigningKey | None:
        for key in self.published():
            if key.kid == kid:
                return key
        return None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in self.published()]}

    def status(self) -> Iterable[tuple[SigningKey, str]]:
        now = self._now()
        for index, (key, until) in enumerate(self._entries):
            if index == 0:
                state = "active"
            elif until is None or now < until:
                stamp = "" if until is None else f" until {iso8601(until)}"
                state = f"published{stamp}"
            else:
                state = "expired (safe to delete)"
            yield key, state

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active!r}, keys={len(self._entries)})"


def publish_window(max_token_ttl: int) -> int:
    return max_token_ttl + PUBLISH_MARGIN
