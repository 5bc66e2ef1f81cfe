"""DPoP proofs (RFC 9449), checked without HTTP, storage or a clock of their own.

Everything here is a plain function of its inputs, so a resource server and the
token service can share it: the caller passes the request's method and URL, the
algorithms it accepts, the current time and, where it issues nonces, a way to
tell its own nonces from made-up ones. What needs state (a ``jti`` seen before)
stays with the caller: :class:`Proof` tells it which ``jti`` and key to remember.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import InvalidKeyError, PyJWKError, PyJWTError

#: RFC 9449 §4.2: the proof's media type, in the JWS header's ``typ``.
PROOF_TYPE = "dpop+jwt"
#: RFC 9449 §4.3 (11): how far ``iat`` may stray from now, in seconds.
WINDOW = 60
#: RFC 9449 §8: how long a nonce of ours stays good.
NONCE_LIFETIME = 300
#: Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037, RFC 8812). RFC 9449 §4.2: the
#: proof's ``alg`` MUST NOT be ``none`` or a MAC algorithm.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "ES256K", "EdDSA", "RS256", "RS384", "RS512"}
    | {"PS256", "PS384", "PS512"}
)
#: RFC 9449 §4.2: ``jwk`` MUST NOT contain a private key (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7638 §3.2: the required members of each key type.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}
#: The curve each ECDSA algorithm is defined on (RFC 7518 §3.4, RFC 8812 §3.2).
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: A proof is a few hundred bytes; a bound keeps a hostile header from costing much.
MAX_PROOF_LENGTH = 8192
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)
_MIN_JTI, _MAX_JTI = 1, 256


class ProofError(Exception):
    """A proof that fails a check; ``error`` is its RFC 9449 §7.1 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _invalid(description: str) -> ProofError:
    return ProofError("invalid_dpop_proof", description)


def _use_nonce(description: str) -> ProofError:
    return ProofError("use_dpop_nonce", description)


@dataclass(frozen=True)
class Proof:
    """A proof that passed every check: what the caller needs to remember or bind."""

    #: RFC 7638 thumbprint of the proof's key (a bound token's ``cnf.jkt``).
    jkt: str
    jti: str
    iat: float
    nonce: str | None
    htm: str
    htu: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_jws(token: str) -> bool:
    """Whether every segment of a compact JWS is canonical base64url (RFC 7515 §2: no
    padding, the unused bits of the last character zero), so a JWS has one spelling
    and no changed character passes as the same token."""
    try:
        return all(b64url(_b64url_decode(part)) == part for part in token.split("."))
    except ValueError:
        return False


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK SHA-256 thumbprint, base64url without padding.

    Raises ``ValueError`` for a key type it does not know or a missing member.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise ValueError("unsupported key type")
    values = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise ValueError(f"the key has no {name!r} member")
        values[name] = value
    # RFC 7638 §3.3: members in lexicographic order, no whitespace.
    canonical = json.dumps(values, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url of the SHA-256 of the token's ASCII bytes."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def normalize_htu(url: str) -> str:
    """A URL as ``htu`` compares (RFC 9449 §4.3 (9)): without query and fragment,
    normalised as RFC 3986 §6.2.2 and §6.2.3 say.

    Scheme and host are lowercased, a default port is dropped and an empty path
    becomes ``/``; the path is otherwise kept exactly (no percent-decoding, no dot
    segments removed). Raises ``ValueError`` for anything but an absolute
    ``http``/``https`` URL without user information.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("not an http or https URL")
    if "@" in parts.netloc:
        raise ValueError("a URL with user information")
    host = parts.hostname  # lowercased, brackets of an IPv6 literal removed
    if not host:
        raise ValueError("a URL without a host")
    port = parts.port  # ValueError for a port that is not a number in range
    if ":" in host:
        host = f"[{host}]"
    authority = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


def public_key(jwk: object, alg: str) -> Any:
    """The verification key a public JWK gives for ``alg``.

    Raises ``ValueError`` for a private key, a key that does not fit ``alg`` (an
    ECDSA algorithm is defined on one curve) or one that cannot be loaded.
    """
    if not isinstance(jwk, Mapping):
        raise ValueError("jwk is not a JSON object")
    if PRIVATE_MEMBERS & jwk.keys():
        raise ValueError("jwk holds a private key")
    kty = jwk.get("kty")
    if alg in _EC_CURVES and (kty != "EC" or jwk.get("crv") != _EC_CURVES[alg]):
        raise ValueError(f"key does not fit {alg}")
    if alg == "EdDSA" and (kty != "OKP" or jwk.get("crv") not in ("Ed25519", "Ed448")):
        raise ValueError("key does not fit EdDSA")
    if alg[:2] in ("RS", "PS") and kty != "RSA":
        raise ValueError(f"key does not fit {alg}")
    if "alg" in jwk and jwk["alg"] != alg:
        raise ValueError("jwk names another algorithm")
    try:
        return jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (PyJWKError, InvalidKeyError, TypeError, KeyError) as exc:
        raise ValueError("jwk is not a usable public key") from exc


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    algorithms: Collection[str],
    now: float,
    access_token: str | None = None,
    window: int = WINDOW,
    nonce_valid: Callable[[str], bool] | None = None,
) -> Proof:
    """Check a DPoP proof for one request as RFC 9449 §4.3 lists; the :class:`Proof` or
    :class:`ProofError`.

    ``url`` is the request's URL as the client addressed it (its query and fragment
    are ignored); ``algorithms`` those the caller advertises (only asymmetric ones
    count); ``access_token`` the token the request presents, whose hash the proof
    must carry as ``ath``. ``iat`` must be within ``window`` seconds of ``now``
    unless the proof carries a nonce that ``nonce_valid`` accepts (RFC 9449 §8);
    otherwise the error is ``use_dpop_nonce``. Replay (a ``jti`` seen before) is
    the caller's to check with :attr:`Proof.jti` and :attr:`Proof.jkt`.
    """
    # §4.3 (2)-(3): one well-formed compact JWS.
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH:
        raise _invalid("the proof is not a compact JWS")
    if not _COMPACT_JWS.fullmatch(proof) or not canonical_jws(proof):
        raise _invalid("the proof is not a compact JWS")
    try:
        header = jwt.get_unverified_header(proof)
    except PyJWTError as exc:
        raise _invalid("the proof's header is not a JSON object") from exc
    # §4.3 (4): typ (media types compare case-insensitively, RFC 7515 §4.1.9).
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
        raise _invalid("the proof's typ is not dpop+jwt")
    # §4.3 (5): an asymmetric algorithm the caller supports; never none or a MAC.
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS or alg not in algorithms:
        raise _invalid("the proof's alg is not supported")
    # §4.3 (6)-(7): a public key, and the signature verifies with it.
    try:
        key = public_key(header.get("jwk"), alg)
    except ValueError as exc:
        raise _invalid(f"the proof's {exc}") from exc
    try:
        payload = jwt.api_jws.PyJWS().decode_complete(proof, key=key, algorithms=[alg])["payload"]
        claims = json.loads(payload)
    except (PyJWTError, ValueError) as exc:
        raise _invalid("the proof's signature does not verify") from exc
    if not isinstance(claims, dict):
        raise _invalid("the proof's claims are not a JSON object")
    # §4.2: jti, a unique identifier; its length is bounded so remembering it stays cheap.
    jti = claims.get("jti")
    if not isinstance(jti, str) or not _MIN_JTI <= len(jti) <= _MAX_JTI:
        raise _invalid("the proof's jti is missing or longer than 256 characters")
    # §4.3 (8): the request's method.
    htm = claims.get("htm")
    if not isinstance(htm, str) or htm != method:
        raise _invalid("the proof is for another HTTP method")
    # §4.3 (9): the request's URL, without query and fragment (§4.2 forbids them in htu).
    htu = claims.get("htu")
    if not isinstance(htu, str) or "?" in htu or "#" in htu:
        raise _invalid("the proof's htu is missing or carries a query or fragment")
    try:
        same_url = normalize_htu(htu) == normalize_htu(url)
    except ValueError as exc:
        raise _invalid("the proof's htu is not an http(s) URL") from exc
    if not same_url:
        raise _invalid("the proof is for another URL")
    # §4.3 (10)-(11) and §8: fresh by our nonce, else by iat within the window.
    iat = claims.get("iat")
    if not _number(iat):
        raise _invalid("the proof has no iat")
    assert isinstance(iat, (int, float))
    nonce = claims.get("nonce")
    if nonce is not None:
        if not isinstance(nonce, str) or nonce_valid is None or not nonce_valid(nonce):
            raise _use_nonce("the proof's nonce is stale or unknown; use the one given")
    elif abs(now - iat) > window:
        raise _use_nonce("the proof's iat is out of the time window; add the nonce given")
    # §4.3 (12): a proof for a protected resource carries the token's hash.
    if access_token is not None:
        ath = claims.get("ath")
        expected = access_token_hash(access_token)
        if not isinstance(ath, str) or not hmac.compare_digest(ath, expected):
            raise _invalid("the proof's ath does not match the access token")
    return Proof(
        jkt=thumbprint(header["jwk"]), jti=jti, iat=float(iat), nonce=nonce, htm=htm, htu=htu
    )


class NonceSource:
    """Stateless DPoP nonces (RFC 9449 §8): an HMAC-SHA256 over the second they were made.

    Every process holding ``secret`` issues and accepts the same nonces, so replicas
    need nothing shared but the secret. A nonce is good for ``lifetime`` seconds.
    """

    _STEP = struct.Struct(">Q")
    _MAC_BYTES = 16
    #: Replicas' clocks differ a little: a nonce from a few seconds ahead is still ours.
    _SKEW = 5

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: int = NONCE_LIFETIME,
        now: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("a nonce secret needs at least 32 bytes")
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        # A key of its own, so the secret given may serve other purposes too.
        self._key = hmac.new(secret, b"shapestoken-verifier dpop nonce", hashlib.sha256).digest()
        self.lifetime = lifetime
        self._now = now

    def _mac(self, step: bytes) -> bytes:
        return hmac.new(self._key, step, hashlib.sha256).digest()[: self._MAC_BYTES]

    def issue(self) -> str:
        step = self._STEP.pack(int(self._now()))
        return b64url(step + self._mac(step))

    def valid(self, nonce: str) -> bool:
        """Whether ``nonce`` was issued with this secret within ``lifetime`` seconds."""
        if not isinstance(nonce, str) or len(nonce) != 32:
            return False
        try:
            raw = _b64url_decode(nonce)
        except ValueError:
            return False
        if len(raw) != self._STEP.size + self._MAC_BYTES or b64url(raw) != nonce:
            return False
        step, mac = raw[: self._STEP.size], raw[self._STEP.size :]
        if not hmac.compare_digest(mac, self._mac(step)):
            return False
        issued: int = self._STEP.unpack(step)[0]
        age = self._now() - issued
        return -self._SKEW <= age <= self.lifetime

    def __repr__(self) -> str:
        return f"NonceSource(secret=**********, lifetime={self.lifetime})"
