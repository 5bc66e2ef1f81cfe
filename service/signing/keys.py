"""Signing keys: their material, RFC 7638 kids, and the keyring that rotates them.

Keys live as PKCS#8 PEM files in ``signing_key_dir`` (:mod:`service.signing.keyfiles`),
or as a bundle of PEM blocks in the ``SHAPESTOKEN_SIGNING_KEYS`` variable (first
block = signing key). :class:`KeyRing` decides which key signs and which are
published: a new key is published before it signs, an old one stays published
until every token it signed has expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from service.errors import ConfigError
from service.support.clock import iso8601

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

#: RFC 8725 §3.5 / NIST SP 800-131A: RSA below 2048 bits is refused; new keys get 3072.
MIN_RSA_BITS = 2048
NEW_RSA_BITS = 3072
#: Extra seconds a retired key stays published beyond the longest TTL (clock skew).
PUBLISH_MARGIN = 300

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
    """The RFC 7638 required members of ``key``'s public JWK (no ``kid``, ``alg``, ``use``)."""
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
    """A new private key for ``alg`` (ES256, EdDSA, or RS256 with :data:`NEW_RSA_BITS`)."""
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
    """An unencrypted PEM private key; ``name`` says where it came from in errors."""
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


class KeyRing:
    """The signing keys: which one signs now, and which are published for verification.

    Keys are given newest first. A rotated-in key is published at once but signs
    only ``activation_delay`` seconds after its creation, so every replica and
    every cached JWKS knows it before a token uses it; the oldest key (the first
    one made, or the only one left) signs from its creation. A key retires when
    its successor starts signing and stays published ``window`` seconds more, so
    every token it signed can still be verified. Keys without a creation time
    (the ``SHAPESTOKEN_SIGNING_KEYS`` bundle) keep their given order: the first
    signs, the others stay published until they are removed.
    """

    def __init__(
        self,
        keys: Sequence[SigningKey],
        *,
        window: int,
        activation_delay: int = 0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.activation_delay = activation_delay
        self._now = now
        self._entries: tuple[_Entry, ...] = ()
        self.replace(keys)

    def replace(self, keys: Sequence[SigningKey]) -> None:
        """Use ``keys`` (newest first) from now on: a reload swaps them in one step."""
        if not keys:
            raise ConfigError("no signing key")
        kids = [key.kid for key in keys]
        if len(set(kids)) != len(kids):
            raise ConfigError("the same signing key is configured twice")
        starts = [
            _ALWAYS
            if key.created is None or i == len(keys) - 1
            else key.created + self.activation_delay
            for i, key in enumerate(keys)
        ]
        entries = [_Entry(keys[0], starts[0], None)]
        for i in range(1, len(keys)):
            # Retired when the next newer key starts signing, then published `window` more.
            until = None if keys[i - 1].created is None else starts[i - 1] + self.window
            entries.append(_Entry(keys[i], starts[i], until))
        self._entries = tuple(entries)

    @property
    def active(self) -> SigningKey:
        """The key that signs now: the newest whose activation time has come."""
        now = self._now()
        entries = self._entries
        for entry in entries:
            if entry.starts <= now:
                return entry.key
        return entries[-1].key  # unreachable: the oldest key is always active

    @property
    def keys(self) -> list[SigningKey]:
        """Every key held, newest first, published or not."""
        return [entry.key for entry in self._entries]

    def published(self) -> list[SigningKey]:
        """Keys not yet signing, the signing key, and retired keys within their window."""
        now = self._now()
        return [e.key for e in self._entries if e.until is None or now < e.until]

    def find(self, kid: str) -> SigningKey | None:
        """A published key by ``kid``; ``None`` for an unknown or no longer published one."""
        for key in self.published():
            if key.kid == kid:
                return key
        return None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set (RFC 7517 §5) of every published key."""
        return {"keys": [key.jwk() for key in self.published()]}

    def starts(self, key: SigningKey) -> float | None:
        """When ``key`` signs (or signed) first; ``None`` when from its creation or unknown."""
        for entry in self._entries:
            if entry.key.kid == key.kid:
                return None if entry.starts == _ALWAYS else entry.starts
        raise KeyError(key.kid)

    def status(self) -> Iterable[tuple[SigningKey, str]]:
        """Each key with what it does now, for ``keys list``."""
        now, active = self._now(), self.active
        for entry in self._entries:
            if entry.key is active:
                state = "active (signs)"
            elif entry.starts > now:
                state = f"published, signs from {iso8601(entry.starts)}"
            elif entry.until is None or now < entry.until:
                stamp = "" if entry.until is None else f" until {iso8601(entry.until)}"
                state = f"published{stamp} (retired)"
            else:
                state = "expired (safe to delete)"
            yield entry.key, state

    def schedule(self) -> list[tuple[SigningKey, float | None, float | None]]:
        """Each key (newest first) with when it starts signing and when it stops being
        published (``None``: from its creation; never)."""
        return [
            (entry.key, None if entry.starts == _ALWAYS else entry.starts, entry.until)
            for entry in self._entries
        ]

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active!r}, keys={len(self._entries)})"


#: Activation time of a key that signs from the start.
_ALWAYS = float("-inf")


@dataclass(frozen=True, slots=True)
class _Entry:
    key: SigningKey
    #: When the key starts signing (Unix time); ``_ALWAYS`` for the first key.
    starts: float
    #: End of its verification window after retirement; ``None``: published until removed.
    until: float | None


def publish_window(max_token_ttl: int) -> int:
    """Seconds a retired key stays published: the longest token TTL plus :data:`PUBLISH_MARGIN`."""
    return max_token_ttl + PUBLISH_MARGIN
