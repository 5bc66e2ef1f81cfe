"""The checks every API makes on a request's token, in one place.

``Verifier.verify(method, url, headers)`` takes a request as any framework has
it and answers the :class:`Principal` the token stands for, or raises a
:class:`TokenError` saying why not. JWTs are checked offline against the
service's JWKS (RFC 9068 §4); ``stk_`` API tokens, and JWTs too with
``check_revocation``, are introspected (RFC 7662) and the answers cached;
DPoP-bound tokens need their proof (RFC 9449 §7.1).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timezone
from types import MappingProxyType, TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import jwt
from jwt.exceptions import PyJWTError

from shapestoken_verifier import dpop
from shapestoken_verifier.errors import (
    TokenError,
    invalid_proof,
    invalid_token,
    no_token,
    use_nonce,
)
from shapestoken_verifier.issuer import Issuer
from shapestoken_verifier.principal import KINDS, Kind, Principal
from shapestoken_verifier.replay import ReplayCache, open_replay_cache
from shapestoken_verifier.ttlcache import TTLCache

#: RFC 8725 §3.11 / RFC 9068 §2.1: the access token's media type, with or without prefix.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: The ``token_use`` values of the service's JWTs (API tokens are not JWTs).
JWT_KINDS = frozenset({"customer", "client_credentials", "implicit"})
#: The most seconds an introspection answer may be reused.
MAX_CACHE_TTL = 30
HTTP_TIMEOUT = 3.0
MAX_TOKEN_LENGTH = 8192
INTROSPECTION_CACHE_SIZE = 10_000
#: RFC 6750 §2.1: b64token.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
_API_TOKEN = re.compile(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}", re.ASCII)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LOOPBACK_NAMES = frozenset({"localhost"})


def is_api_token(token: str) -> bool:
    """An admin-made API token's shape and checksum: ``stk_`` + 43 base64url characters
    + ``_`` + a base62 CRC32 of what precedes it, so a typo costs no request."""
    if not _API_TOKEN.fullmatch(token):
        return False
    head, checksum = token[:-7], token[-6:]
    value = zlib.crc32(head.encode("ascii"))
    digits = []
    for _ in range(6):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits)) == checksum


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of header ``name`` (lowercase), whatever the case of the mapping's keys.

    A mapping that can hold a name twice (Starlette's ``Headers``, httpx's) gives
    every value, so a repeated header can be refused rather than one picked.
    """
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):
        return [str(value) for value in getlist(name)]
    multi_items = getattr(headers, "multi_items", None)
    items = multi_items() if callable(multi_items) else headers.items()
    return [value for key, value in items if key.lower() == name]


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.query or parts.fragment or not parts.hostname:
        raise ValueError("issuer must be an https URL without query or fragment")
    if parts.scheme == "https":
        return
    host = parts.hostname
    try:
        loopback = host in _LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        # Keys and introspection answers over plain HTTP could be forged on the way.
        raise ValueError("issuer must be an https URL (http only for localhost)")


class Verifier:
    """Verifies requests' tokens for one API (``audience``) of one token service (``issuer``).

    ``introspection`` is the ``(client_id, secret)`` of a client allowed to introspect;
    it enables ``stk_`` API tokens and ``check_revocation``. ``replay_cache`` is where
    DPoP proofs' ``jti`` are remembered (in this process, or ``"redis://..."`` shared by
    replicas); ``nonce_secret`` keys this API's DPoP nonces (share it across replicas).
    ``transport``, ``now`` and ``monotonic`` are for tests.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        kinds: Collection[str] | None = None,
        introspection: tuple[str, str] | None = None,
        check_revocation: bool = False,
        cache_ttl: float = MAX_CACHE_TTL,
        leeway: float = 5,
        replay_cache: str | ReplayCache | None = None,
        nonce_secret: bytes | str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_issuer(issuer)
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience is required")
        chosen = KINDS if kinds is None else frozenset(kinds)
        if not chosen or not chosen <= KINDS:
            raise ValueError(f"kinds must be a non-empty subset of {sorted(KINDS)}")
        if check_revocation and introspection is None:
            raise ValueError("check_revocation needs introspection=(client_id, secret)")
        if not 0 <= cache_ttl <= MAX_CACHE_TTL:
            raise ValueError(f"cache_ttl must be within 0..{MAX_CACHE_TTL} seconds")
        if not 0 <= leeway <= 300:
            raise ValueError("leeway must be within 0..300 seconds")
        if isinstance(nonce_secret, str):
            nonce_secret = nonce_secret.encode("utf-8")
        self.issuer = issuer
        self.audience = audience
        self.kinds = chosen
        self.check_revocation = check_revocation
        self.cache_ttl = cache_ttl
        self.leeway = leeway
        self._introspection = introspection
        self._now = now
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=HTTP_TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": "shapestoken-verifier"},
        )
        self._issuer = Issuer(issuer, http=self._http, monotonic=monotonic)
        self._answers: TTLCache[Mapping[str, Any]] = TTLCache(
            INTROSPECTION_CACHE_SIZE, timer=monotonic
        )
        self._replay = open_replay_cache(replay_cache)
        # Without a shared secret each process makes its own nonces (one replica's
        # nonce fails at another, and the client simply gets a fresh one).
        self.nonces = dpop.NonceSource(nonce_secret or secrets.token_bytes(32), now=now)

    def __repr__(self) -> str:
        return f"Verifier(issuer={self.issuer!r}, audience={self.audience!r})"

    async def __aenter__(self) -> Verifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._issuer.aclose()
        await self._replay.aclose()
        await self._http.aclose()

    # -- the request --------------------------------------------------------------------

    async def verify(self, method: str, url: str, headers: Mapping[str, str]) -> Principal:
        """The :class:`Principal` of the request's token, or :class:`TokenError`.

        ``url`` is the request's full URL as the client addressed it (a DPoP proof's
        ``htu`` is compared with it); ``headers`` any mapping of header names to values.
        """
        scheme, token = self._credentials(headers)
        proofs = header_values(headers, "dpop")
        if len(proofs) > 1:
            # RFC 9449 §4.3 (1): exactly one DPoP header.
            raise invalid_proof("more than one DPoP header", dpop_algs=await self._dpop_algs())
        if token.startswith("stk_"):
            if scheme == "dpop":
                raise await self._unbound_as_dpop()
            return await self._api_token(token)
        claims = await self._jwt(token)
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if cnf is not None and not isinstance(jkt, str):
            raise invalid_token("the token's cnf claim carries no jkt")
        if jkt is None and scheme == "dpop":
            raise await self._unbound_as_dpop()
        proof = None
        if jkt is not None:
            proof = await self._proof(method, url, token, jkt, scheme, proofs)
        if self.check_revocation:
            answer = await self._introspect(token)
            if answer.get("active") is not True:
                raise invalid_token(
                    "the token has been revoked", dpop_algs=await self._algs_if(jkt)
                )
        if proof is not None:
            # RFC 9449 §11.1: a proof is accepted once per key; remembered as long as it
            # could be accepted (the window, or a nonce's lifetime).
            ttl = dpop.WINDOW + self.nonces.lifetime
            if not await self._replay.first_use(f"{proof.jkt}:{proof.jti}", ttl):
                raise invalid_proof(
                    "the DPoP proof was used before", dpop_algs=await self._dpop_algs()
                )
        return _principal(claims, bound=proof is not None)

    def _credentials(self, headers: Mapping[str, str]) -> tuple[str, str]:
        values = header_values(headers, "authorization")
        if not values:
            raise no_token()
        if len(values) > 1:
            raise invalid_token("more than one Authorization header")
        scheme, _, token = values[0].strip().partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("bearer", "dpop"):
            raise no_token()
        if len(token) > MAX_TOKEN_LENGTH or not _TOKEN68.fullmatch(token):
            raise invalid_token("the access token is malformed")
        return scheme, token

    # -- JWTs ---------------------------------------------------------------------------

    async def _jwt(self, token: str) -> dict[str, Any]:
        if not dpop.canonical_jws(token):
            raise invalid_token("the access token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as exc:
            raise invalid_token("the access token is malformed") from exc
        # RFC 9068 §4: the header's typ must be at+jwt (media types are case-insensitive).
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise invalid_token("the token is not an access token (typ)")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in dpop.ASYMMETRIC_ALGORITHMS:
            raise invalid_token("the token's algorithm is not accepted")
        if not isinstance(kid, str):
            raise invalid_token("the token names no key")
        key = await self._issuer.signing_key(kid)
        # RFC 8725 §3.1: only the algorithm the issuer's key names, never the token's choice.
        if key is None:
            raise invalid_token("the token is signed with a key the issuer does not publish")
        if key.alg != alg:
            raise invalid_token("the token's algorithm is not accepted")
        try:
            decoded = jwt.api_jws.PyJWS().decode_complete(token, key=key.key, algorithms=[key.alg])
            claims = json.loads(decoded["payload"])
        except (PyJWTError, ValueError) as exc:
            raise invalid_token("the token's signature does not verify") from exc
        if not isinstance(claims, dict):
            raise invalid_token("the token's claims are not a JSON object")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self._now()
        if claims.get("iss") != self.issuer:
            raise invalid_token("the token is from another issuer")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise invalid_token("the token is for another audience")
        exp = claims.get("exp")
        if not _number(exp):
            raise invalid_token("the token has no expiry")
        assert isinstance(exp, (int, float))
        # RFC 7519 §4.1.4-4.1.5, with leeway for clock skew.
        if now >= exp + self.leeway:
            raise invalid_token("the token has expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not _number(nbf) or now + self.leeway < nbf):
            raise invalid_token("the token is not valid yet")
        # RFC 8725 §3.12: the kind is checked positively, never by a missing claim.
        kind = claims.get("token_use")
        if kind not in JWT_KINDS:
            raise invalid_token("the token has no known token_use")
        if kind not in self.kinds:
            raise invalid_token(f"this API does not accept {kind} tokens")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise invalid_token("the token has no subject")
        if not isinstance(claims.get("scope", ""), str):
            raise invalid_token("the token's scope is malformed")
        if not isinstance(claims.get("client_id"), str):
            raise invalid_token("the token has no client_id")
        if kind == "customer" and not isinstance(claims.get("shop"), str):
            raise invalid_token("the customer token names no shop")

    # -- DPoP ---------------------------------------------------------------------------

    async def _dpop_algs(self) -> tuple[str, ...]:
        try:
            return (await self._issuer.metadata()).dpop_algs or ("ES256",)
        except TokenError:
            return ("ES256",)

    async def _algs_if(self, jkt: str | None) -> tuple[str, ...] | None:
        return None if jkt is None else await self._dpop_algs()

    async def _unbound_as_dpop(self) -> TokenError:
        # RFC 9449 §7.2: the DPoP scheme is for bound tokens only.
        description = "the token is not DPoP-bound; send it with the Bearer scheme"
        return invalid_token(description, dpop_algs=await self._dpop_algs())

    async def _proof(
        self, method: str, url: str, token: str, jkt: str, scheme: str, proofs: list[str]
    ) -> dpop.Proof:
        algs = (await self._issuer.metadata()).dpop_algs
        if not algs:
            raise invalid_token(
                "the token is DPoP-bound but the issuer does not advertise DPoP", dpop_algs=()
            )
        if scheme != "dpop":
            raise invalid_token(
                "a DPoP-bound token must be sent with the DPoP scheme", dpop_algs=algs
            )
        if not proofs:
            raise invalid_proof("a DPoP-bound token needs a DPoP proof", dpop_algs=algs)
        try:
            # Leeway is never applied to proofs: the window is theirs (RFC 9449 §11.1).
            proof = dpop.check_proof(
                proofs[0],
                method=method,
                url=url,
                algorithms=algs,
                now=self._now(),
                access_token=token,
                nonce_valid=self.nonces.valid,
            )
        except dpop.ProofError as exc:
            if exc.error == "use_dpop_nonce":
                raise use_nonce(exc.description, nonce=self.nonces.issue(), dpop_algs=algs) from exc
            raise invalid_proof(exc.description, dpop_algs=algs) from exc
        if not hmac.compare_digest(proof.jkt, jkt):
            raise invalid_token(
                "the token is bound to another key than the proof's", dpop_algs=algs
            )
        return proof

    # -- API tokens and introspection ---------------------------------------------------

    async def _api_token(self, token: str) -> Principal:
        if "api_token" not in self.kinds or self._introspection is None:
            raise invalid_token("this API does not accept API tokens")
        if not is_api_token(token):
            raise invalid_token("the API token is malformed")
        answer = await self._introspect(token)
        if answer.get("active") is not True:
            raise invalid_token("the API token is not active")
        subject, scope, exp = answer.get("sub"), answer.get("scope", ""), answer.get("exp")
        if "token_use" in answer or answer.get("iss", self.issuer) != self.issuer:
            raise invalid_token("the API token is not active")
        if not isinstance(subject, str) or not isinstance(scope, str):
            raise invalid_token("the API token's introspection answer is malformed")
        if exp is not None and (not _number(exp) or self._now() >= exp):
            # A cached answer may outlive the token.
            raise invalid_token("the API token has expired")
        return Principal(
            kind="api_token",
            subject=subject,
            client_id=None,
            scopes=frozenset(scope.split()),
            expires_at=None if exp is None else _utc(exp),
            claims=MappingProxyType(dict(answer)),
        )

    async def _introspect(self, token: str) -> Mapping[str, Any]:
        """The service's RFC 7662 answer, reused for at most ``cache_ttl`` seconds."""
        assert self._introspection is not None
        key = hashlib.sha256(token.encode("ascii")).hexdigest()
        answer = self._answers.get(key)
        if answer is None:
            answer = await self._issuer.introspect(token, *self._introspection)
            if self.cache_ttl > 0:
                # An inactive answer is cached too, so a made-up token is no flood.
                self._answers.set(key, answer, self.cache_ttl)
        return answer


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _principal(claims: dict[str, Any], *, bound: bool) -> Principal:
    kind = cast(Kind, claims["token_use"])
    customer = kind == "customer"
    return Principal(
        kind=kind,
        subject=claims["sub"],
        client_id=claims["client_id"],
        scopes=frozenset(claims.get("scope", "").split()),
        bound=bound,
        expires_at=_utc(claims["exp"]),
        shop=claims["shop"] if customer else None,
        customer_id=claims["sub"] if customer else None,
        claims=MappingProxyType(claims),
    )
