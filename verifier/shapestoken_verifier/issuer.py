"""What the verifier asks the token service: its metadata, its keys, its introspection.

The metadata comes from where RFC 8414 §3 puts it and must name the configured
issuer exactly (§3.3). The JWKS is cached: refreshed in the background every
few minutes, fetched again when a token names an unknown ``kid`` (at most once
per :data:`REFETCH_INTERVAL`, so made-up kids cannot turn into a flood of
requests), and kept for :data:`KEEP_KEYS` while the service cannot be reached,
so an outage of the token service does not refuse valid JWTs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

import httpx

from shapestoken_verifier.dpop import ASYMMETRIC_ALGORITHMS, public_key
from shapestoken_verifier.errors import unavailable

log = logging.getLogger("shapestoken_verifier")

#: Seconds between fetches of the JWKS when a token names a kid we do not know.
REFETCH_INTERVAL = 10.0
#: Seconds after which known keys are refreshed in the background (the JWKS's max-age).
REFRESH_AFTER = 300.0
#: Seconds known keys stay usable once fetching them again has started to fail (an outage).
KEEP_KEYS = 3600.0
#: Seconds the metadata document is reused before it is fetched again.
METADATA_TTL = 3600.0
#: Bytes of a metadata, JWKS or introspection answer we read at most.
MAX_DOCUMENT = 256 * 1024


def metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known path goes between the host and the issuer's path."""
    parts = urlsplit(issuer)
    path = "/.well-known/oauth-authorization-server" + parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class Metadata:
    """The members of the RFC 8414 document the verifier uses."""

    issuer: str
    jwks_uri: str
    introspection_endpoint: str | None
    #: RFC 9449 §5.1; empty when the service does not do DPoP.
    dpop_algs: tuple[str, ...]


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: Any


class FetchError(Exception):
    """The service could not be reached, or answered something unusable."""


class Issuer:
    """The token service as the verifier sees it (one per :class:`Verifier`)."""

    def __init__(
        self,
        issuer: str,
        *,
        http: httpx.AsyncClient,
        monotonic: Callable[[], float],
    ) -> None:
        self.issuer = issuer
        self.metadata_url = metadata_url(issuer)
        self._http = http
        self._monotonic = monotonic
        self._metadata: Metadata | None = None
        self._metadata_at = 0.0
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at = 0.0
        self._tried_at: float | None = None
        #: When the first fetch after the last good one failed; None while all is well.
        self._down_since: float | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        #: Whether the last introspection call failed (an outage is logged once).
        self._introspection_down = False

    # -- keys ---------------------------------------------------------------------------

    async def signing_key(self, kid: str) -> VerificationKey | None:
        """The published key ``kid``; None when the service does not publish it.

        Raises a 503 :class:`TokenError` when the answer needs the service (no keys
        known yet, or an unknown kid) and it cannot be reached.
        """
        now = self._monotonic()
        keys = self._usable_keys(now)
        if keys is not None and kid in keys:
            if now - self._fetched_at >= REFRESH_AFTER and self._may_try(now):
                self._refresh_in_background()
            return keys[kid]
        # Rate-limited even with no keys at all, so a long outage costs each request
        # at most one wait for the service every REFETCH_INTERVAL, not one each.
        if self._may_try(now) or self._lock.locked():
            await self._refresh()
            keys = self._usable_keys(self._monotonic())
        if keys is None:
            raise unavailable("the token service's keys cannot be fetched")
        if kid in keys:
            return keys[kid]
        if self._down_since is not None:
            # A key rotated in during the outage looks unknown: we cannot tell.
            raise unavailable("the token service cannot be reached to find the token's key")
        return None

    def _usable_keys(self, now: float) -> dict[str, VerificationKey] | None:
        if self._down_since is not None and now - self._down_since > KEEP_KEYS:
            return None
        return self._keys

    def _may_try(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= REFETCH_INTERVAL

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        """Fetch the metadata (when due) and the JWKS; one fetch for concurrent callers."""
        generation = self._generation
        async with self._lock:
            if generation != self._generation:
                return  # another caller fetched while this one waited
            try:
                await self._fetch()
            finally:
                self._generation += 1

    async def _fetch(self) -> None:
        now = self._monotonic()
        self._tried_at = now
        try:
            metadata = await self._current_metadata(now)
            keys = parse_jwks(await self._get_json(metadata.jwks_uri))
        except FetchError as exc:
            if self._down_since is None:
                log.warning("token service unreachable: %s; using the keys known", exc)
                self._down_since = now
            return
        if self._down_since is not None:
            log.warning("token service reachable again")
        self._down_since = None
        self._keys = keys
        self._fetched_at = now

    # -- metadata -----------------------------------------------------------------------

    async def metadata(self) -> Metadata:
        """The metadata document, cached; a 503 when it was never fetched and cannot be."""
        if self._metadata is None and (self._may_try(self._monotonic()) or self._lock.locked()):
            await self._refresh()
        if self._metadata is None:
            raise unavailable("the token service's metadata cannot be fetched")
        return self._metadata

    async def _current_metadata(self, now: float) -> Metadata:
        if self._metadata is not None and now - self._metadata_at < METADATA_TTL:
            return self._metadata
        document = await self._get_json(self.metadata_url)
        self._metadata = parse_metadata(document, self.issuer)
        self._metadata_at = now
        return self._metadata

    # -- introspection ------------------------------------------------------------------

    async def introspect(self, token: str, client_id: str, secret: str) -> dict[str, Any]:
        """RFC 7662 §2.1 as the client ``client_id``: the service's answer, or a 503."""
        metadata = await self.metadata()
        if metadata.introspection_endpoint is None:
            raise unavailable("the token service does not offer introspection")
        # RFC 6749 §2.3.1: each part is form-encoded before it is joined and base64-encoded.
        pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        try:
            response = await self._http.post(
                metadata.introspection_endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                headers={**headers, "Accept": "application/json"},
            )
            answer = _json_object(response)
        except (httpx.HTTPError, FetchError) as exc:
            if not self._introspection_down:
                self._introspection_down = True
                log.warning("introspection failing: %s; answering 503 until it is back", exc)
            raise unavailable("the token service cannot be reached to check the token") from exc
        if not isinstance(answer.get("active"), bool):
            raise unavailable("the token service's introspection answer is malformed")
        if self._introspection_down:
            self._introspection_down = False
            log.warning("introspection answering again")
        return answer

    # -- HTTP ---------------------------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {url}: {type(exc).__name__}") from exc
        return _json_object(response)

    async def aclose(self) -> None:
        if self._background is not None and not self._background.done():
            self._background.cancel()
            try:
                await self._background
            except asyncio.CancelledError:
                pass


def _json_object(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise FetchError(f"{response.request.url} answered {response.status_code}")
    if len(response.content) > MAX_DOCUMENT:
        raise FetchError(f"{response.request.url} answered a document too large")
    try:
        document = response.json()
    except ValueError as exc:
        raise FetchError(f"{response.request.url} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise FetchError(f"{response.request.url} did not answer a JSON object")
    return document


def parse_metadata(document: Mapping[str, Any], issuer: str) -> Metadata:
    # RFC 8414 §3.3: the issuer in the document MUST be identical to the one configured.
    if document.get("issuer") != issuer:
        raise FetchError("the metadata names another issuer")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise FetchError("the metadata has no jwks_uri")
    introspection = document.get("introspection_endpoint")
    algs = document.get("dpop_signing_alg_values_supported", [])
    if not isinstance(algs, list):
        algs = []
    return Metadata(
        issuer=issuer,
        jwks_uri=jwks_uri,
        introspection_endpoint=introspection if isinstance(introspection, str) else None,
        dpop_algs=tuple(alg for alg in algs if alg in ASYMMETRIC_ALGORITHMS),
    )


def parse_jwks(document: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """The usable signature keys of a JWKS by kid: each names an asymmetric ``alg``."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise FetchError("the JWKS has no keys member")
    keys = {}
    for jwk in entries:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        # Only the algorithms the keys name are accepted (RFC 8725 §3.1): a key
        # without `alg`, or with a MAC or `none`, verifies nothing.
        if not isinstance(kid, str) or alg not in ASYMMETRIC_ALGORITHMS:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = VerificationKey(kid, alg, public_key(jwk, alg))
        except ValueError:
            log.warning("JWKS key %s is not a usable public key; ignored", kid)
    return keys
