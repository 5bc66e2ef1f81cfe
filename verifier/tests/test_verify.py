"""Verifier.verify on bearer tokens: JWT checks, keys, API tokens, introspection, outages."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from conftest import VerifierFactory
from issuers import (
    API_URL,
    AUDIENCE,
    GATEWAY,
    GATEWAY_SECRET,
    ISSUER,
    SHOP,
    START,
    Clock,
    FakeIssuer,
    Key,
    encode_segments,
    hs256,
)
from shapestoken_verifier import (
    InsufficientScope,
    Principal,
    TemporarilyUnavailable,
    TokenError,
    Verifier,
)
from shapestoken_verifier.verifier import is_api_token

pytestmark = pytest.mark.anyio


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(verifier: Verifier, headers: Mapping[str, str], status: int = 401) -> TokenError:
    with pytest.raises(TokenError) as caught:
        await verifier.verify("GET", API_URL, headers)
    error = caught.value
    assert error.status == status
    assert "WWW-Authenticate" in error.headers
    return error


# -- good tokens ---------------------------------------------------------------------------------


async def test_a_customer_token(verifier: Verifier, issuer: FakeIssuer) -> None:
    principal = await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    assert principal.kind == "customer"
    assert (principal.subject, principal.customer_id, principal.shop) == ("42", "42", SHOP)
    assert principal.client_id == SHOP
    assert principal.scopes == frozenset({"customer"})
    assert principal.bound is False
    assert principal.expires_at == datetime.fromtimestamp(START + 600, tz=timezone.utc)
    assert principal.expires_at.tzinfo is not None
    assert principal.claims["jti"]
    assert (principal.is_authenticated, principal.identity, principal.display_name) == (
        True,
        "42",
        "42",
    )


@pytest.mark.parametrize("kind", ["client_credentials", "implicit"])
async def test_client_tokens(verifier: Verifier, issuer: FakeIssuer, kind: str) -> None:
    principal = await verifier.verify("GET", API_URL, bearer(issuer.mint(kind)))
    assert (principal.kind, principal.subject, principal.client_id) == (
        kind,
        "crm-sync",
        "crm-sync",
    )
    assert (principal.shop, principal.customer_id) == (None, None)
    assert principal.scopes == frozenset({"profiles:read"})


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
async def test_typ_is_a_case_insensitive_media_type(
    verifier: Verifier, issuer: FakeIssuer, typ: str
) -> None:
    await verifier.verify("GET", API_URL, bearer(issuer.mint(header={"typ": typ})))


async def test_an_audience_list_containing_ours(verifier: Verifier, issuer: FakeIssuer) -> None:
    token = issuer.mint(aud=["https://other.example", AUDIENCE])
    await verifier.verify("GET", API_URL, bearer(token))


@pytest.mark.parametrize(
    "headers",
    [
        lambda t: {"authorization": f"Bearer {t}"},
        lambda t: {"AUTHORIZATION": f"bearer {t}"},
        lambda t: httpx.Headers({"Authorization": f"BEARER {t}"}),
    ],
)
async def test_header_names_and_scheme_are_case_insensitive(
    verifier: Verifier, issuer: FakeIssuer, headers: Any
) -> None:
    await verifier.verify("GET", API_URL, headers(issuer.mint()))


async def test_leeway_on_exp_and_nbf(make_verifier: VerifierFactory, issuer: FakeIssuer) -> None:
    verifier = make_verifier(leeway=5)
    await verifier.verify("GET", API_URL, bearer(issuer.mint(exp=int(START) - 4)))
    await verifier.verify("GET", API_URL, bearer(issuer.mint(nbf=int(START) + 5)))
    await refused(verifier, bearer(issuer.mint(exp=int(START) - 5)))
    await refused(verifier, bearer(issuer.mint(nbf=int(START) + 6)))


# -- bad tokens ----------------------------------------------------------------------------------


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = encode_segments({}, {"sub": "43"}).split(".")[1]
    return f"{header}.{claims}.{signature}"


BAD_TOKENS: dict[str, Any] = {
    "other audience": lambda i: i.mint(aud="https://other.example"),
    "no audience": lambda i: i.mint(aud=None),
    "other issuer": lambda i: i.mint(iss="https://evil.example"),
    "expired": lambda i: i.mint(exp=int(START) - 60),
    "no exp": lambda i: i.mint(exp=None),
    "not yet valid": lambda i: i.mint(nbf=int(START) + 60),
    "tampered": lambda i: tampered(i.mint()),
    "signature of another token": lambda i: (
        i.mint().rsplit(".", 1)[0] + "." + i.mint(sub="7").rsplit(".", 1)[1]
    ),
    "alg none": lambda i: (
        encode_segments({"typ": "at+jwt", "alg": "none", "kid": i.keys[0].kid}, i.claims()) + "."
    ),
    "HS256 with the public key": lambda i: hs256(
        {"typ": "at+jwt", "alg": "HS256", "kid": i.keys[0].kid},
        i.claims(),
        str(i.keys[0].public_jwk).encode(),
    ),
    "unknown critical extension": lambda i: i.mint(header={"crit": ["x"], "x": 1}),
    "typ JWT": lambda i: i.mint(header={"typ": "JWT"}),
    "typ dpop+jwt": lambda i: i.mint(header={"typ": "dpop+jwt"}),
    "no typ": lambda i: i.mint(header={"typ": None}),
    "missing token_use": lambda i: i.mint(token_use=None),
    "unknown token_use": lambda i: i.mint(token_use="admin"),
    "token_use api_token in a JWT": lambda i: i.mint(token_use="api_token"),
    "customer token without shop": lambda i: i.mint(shop=None),
    "no subject": lambda i: i.mint(sub=None),
    "no client_id": lambda i: i.mint(client_id=None),
    "unpublished key": lambda i: i.mint(key=Key()),
    "no kid": lambda i: i.mint(header={"kid": None}),
    "garbage": lambda i: "not-a-token",
    "claims not an object": lambda i: "eyJhbGciOiJFUzI1NiJ9.WzFd.c2ln",
}


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_bad_tokens_are_refused(verifier: Verifier, issuer: FakeIssuer, case: str) -> None:
    token = BAD_TOKENS[case](issuer)
    error = await refused(verifier, bearer(token))
    assert error.error == "invalid_token"
    assert error.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert "error_description=" in error.headers["WWW-Authenticate"]


async def test_a_kind_the_api_does_not_take(
    make_verifier: VerifierFactory, issuer: FakeIssuer
) -> None:
    verifier = make_verifier(kinds={"customer"})
    await verifier.verify("GET", API_URL, bearer(issuer.mint("customer")))
    for kind in ("client_credentials", "implicit"):
        error = await refused(verifier, bearer(issuer.mint(kind)))
        assert kind in error.description
    assert "API tokens" in (await refused(verifier, bearer(issuer.api_token()))).description


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Cookie": "x"}],
)
async def test_no_token_is_a_challenge_without_error_code(
    verifier: Verifier, headers: dict[str, str]
) -> None:
    # RFC 6750 §3.1: the client may not know it needs a token; no error code then.
    error = await refused(verifier, headers)
    assert error.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("value", ["Bearer", "Bearer a b", "Bearer \x00", "Bearer " + "a" * 9000])
async def test_malformed_authorization(verifier: Verifier, value: str) -> None:
    await refused(verifier, {"Authorization": value})


async def test_two_authorization_headers_are_refused(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    token = issuer.mint()
    headers = httpx.Headers([("Authorization", f"Bearer {token}"), ("authorization", "Bearer x")])
    await refused(verifier, headers)
    await refused(
        verifier, {"Authorization": f"Bearer {token}", "authorization": f"Bearer {token}"}
    )


async def test_require_scopes(verifier: Verifier, issuer: FakeIssuer) -> None:
    principal = await verifier.verify("GET", API_URL, bearer(issuer.mint("client_credentials")))
    principal.require()
    principal.require("profiles:read")
    with pytest.raises(TokenError) as caught:
        principal.require("profiles:read", "orders:write")
    error = caught.value
    assert isinstance(error, InsufficientScope)
    assert (error.status, error.error) == (403, "insufficient_scope")
    assert error.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="profiles:read orders:write"' in error.headers["WWW-Authenticate"]


# -- keys: rotation, rate limit, outage ----------------------------------------------------------


async def test_a_rotated_in_key_is_picked_up_without_restart(
    verifier: Verifier, issuer: FakeIssuer, clock: Clock
) -> None:
    await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    clock.advance(10)
    issuer.keys.insert(0, Key())
    principal = await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    assert principal.kind == "customer"
    assert issuer.requests["/.well-known/jwks.json"] == 2


async def test_concurrent_first_requests_fetch_the_keys_once(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    tokens = [issuer.mint() for _ in range(5)]
    verify = [verifier.verify("GET", API_URL, bearer(token)) for token in tokens]
    principals = await asyncio.gather(*verify)
    assert [principal.kind for principal in principals] == ["customer"] * 5
    assert issuer.requests["/.well-known/jwks.json"] == 1
    assert issuer.requests["/.well-known/oauth-authorization-server"] == 1


async def test_a_long_outage_costs_one_attempt_per_10_seconds(
    verifier: Verifier, issuer: FakeIssuer, clock: Clock
) -> None:
    issuer.down = True
    for _ in range(3):
        await refused(verifier, bearer(issuer.mint()), status=503)
        await refused(verifier, bearer(issuer.api_token()), status=503)
    assert sum(issuer.requests.values()) == 1
    clock.advance(10)
    await refused(verifier, bearer(issuer.mint()), status=503)
    assert sum(issuer.requests.values()) == 2


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_10_seconds(
    verifier: Verifier, issuer: FakeIssuer, clock: Clock
) -> None:
    await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    clock.advance(10)
    for _ in range(5):
        await refused(verifier, bearer(issuer.mint(key=Key())))
        clock.advance(1)
    assert issuer.requests["/.well-known/jwks.json"] == 2
    # A key published meanwhile is found once the 10 s are over.
    issuer.keys.append(new := Key())
    await refused(verifier, bearer(issuer.mint(key=new)))
    clock.advance(5)
    await verifier.verify("GET", API_URL, bearer(issuer.mint(key=new)))
    assert issuer.requests["/.well-known/jwks.json"] == 3


async def test_known_keys_are_refreshed_in_the_background(
    verifier: Verifier, issuer: FakeIssuer, clock: Clock
) -> None:
    await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    clock.advance(300)
    await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    await verifier._issuer._background  # type: ignore[misc]
    assert issuer.requests["/.well-known/jwks.json"] == 2


async def test_a_jwt_still_verifies_while_the_issuer_is_down(
    verifier: Verifier, issuer: FakeIssuer, clock: Clock
) -> None:
    async def passes() -> None:
        assert (await verifier.verify("GET", API_URL, bearer(issuer.mint()))).kind == "customer"
        if (background := verifier._issuer._background) is not None:
            await background

    await passes()
    issuer.down = True
    clock.advance(300)
    await passes()  # the refresh now due fails: the outage starts here
    for _ in range(12):  # an hour of outage, refreshes failing all along
        clock.advance(300)
        await passes()
    # A key the verifier never saw cannot be checked: 503, fail closed.
    error = await refused(verifier, bearer(issuer.mint(key=Key())), status=503)
    assert error.error == "temporarily_unavailable"
    # Known keys are kept for an hour of outage, then dropped.
    clock.advance(1)
    error = await refused(verifier, bearer(issuer.mint()), status=503)
    assert error.headers["Retry-After"] == "5"
    issuer.down = False
    clock.advance(10)
    await passes()


async def test_no_keys_yet_and_the_issuer_down_is_503(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    issuer.down = True
    error = await refused(verifier, bearer(issuer.mint()), status=503)
    assert isinstance(error, TemporarilyUnavailable)
    assert error.error == "temporarily_unavailable"
    assert error.headers["Retry-After"] == "5"


async def test_metadata_naming_another_issuer_is_not_trusted(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    # RFC 8414 §3.3: the metadata's issuer must be the one configured, exactly.
    issuer.metadata_issuer = ISSUER + "/"
    await refused(verifier, bearer(issuer.mint()), status=503)


async def test_jwks_keys_without_an_asymmetric_alg_verify_nothing(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    published = issuer.keys[0].published()
    without_alg = {name: value for name, value in published.items() if name != "alg"}
    for jwks in ([{**published, "alg": "HS256"}], [without_alg], [{**published, "use": "enc"}]):
        issuer.jwks = jwks
        async with Verifier(ISSUER, AUDIENCE, transport=issuer.transport()) as fresh:
            await refused(fresh, bearer(issuer.mint()))


# -- stk_ API tokens -------------------------------------------------------------------------------


async def test_an_api_token_passes_by_introspection(verifier: Verifier, issuer: FakeIssuer) -> None:
    token = issuer.api_token("profiles:read profiles:write")
    principal = await verifier.verify("GET", API_URL, bearer(token))
    assert replace(principal, claims={}) == Principal(
        kind="api_token",
        subject="api-token:abcdefghijkm",
        client_id=None,
        scopes=frozenset({"profiles:read", "profiles:write"}),
        expires_at=None,
    )
    assert principal.claims["active"] is True


async def test_an_expiring_api_token(verifier: Verifier, issuer: FakeIssuer, clock: Clock) -> None:
    token = issuer.api_token(exp=int(START) + 20)
    principal = await verifier.verify("GET", API_URL, bearer(token))
    assert principal.expires_at == datetime.fromtimestamp(START + 20, tz=timezone.utc)
    clock.advance(20)  # the cached answer outlives the token: the expiry still counts
    await refused(verifier, bearer(token))


async def test_api_token_answers_are_cached_at_most_cache_ttl(
    make_verifier: VerifierFactory, issuer: FakeIssuer, clock: Clock
) -> None:
    verifier = make_verifier(cache_ttl=10)
    token = issuer.api_token()
    await verifier.verify("GET", API_URL, bearer(token))
    del issuer.active[token]  # revoked at the service
    clock.advance(9.9)
    await verifier.verify("GET", API_URL, bearer(token))
    clock.advance(0.1)
    error = await refused(verifier, bearer(token))
    assert error.error == "invalid_token"
    assert issuer.requests["/oauth/introspect"] == 2


async def test_inactive_answers_are_cached_too(
    verifier: Verifier, issuer: FakeIssuer, clock: Clock
) -> None:
    made_up = issuer.api_token()
    del issuer.active[made_up]
    for _ in range(3):
        await refused(verifier, bearer(made_up))
    assert issuer.requests["/oauth/introspect"] == 1
    clock.advance(30)
    await refused(verifier, bearer(made_up))
    assert issuer.requests["/oauth/introspect"] == 2


@pytest.mark.parametrize("cache_ttl", [-1, 31, 3600])
def test_cache_ttl_is_at_most_30_seconds(cache_ttl: int) -> None:
    with pytest.raises(ValueError):
        Verifier(ISSUER, AUDIENCE, introspection=(GATEWAY, GATEWAY_SECRET), cache_ttl=cache_ttl)


async def test_a_malformed_api_token_costs_no_request(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    token = issuer.api_token()
    typo = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert "malformed" in (await refused(verifier, bearer(typo))).description
    assert issuer.requests["/oauth/introspect"] == 0


async def test_api_tokens_need_introspection_credentials(
    make_verifier: VerifierFactory, issuer: FakeIssuer
) -> None:
    verifier = make_verifier(introspection=None)
    await refused(verifier, bearer(issuer.api_token()))


async def test_wrong_introspection_credentials_fail_closed(
    make_verifier: VerifierFactory, issuer: FakeIssuer
) -> None:
    verifier = make_verifier(introspection=(GATEWAY, "wrong"))
    await refused(verifier, bearer(issuer.api_token()), status=503)


async def test_an_api_token_while_the_issuer_is_down_is_503(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    token = issuer.api_token()
    await verifier.verify("GET", API_URL, bearer(issuer.mint()))  # metadata known
    issuer.down = True
    error = await refused(verifier, bearer(token), status=503)
    assert (error.error, error.headers["Retry-After"]) == ("temporarily_unavailable", "5")


async def test_an_api_token_of_another_issuer_is_refused(
    verifier: Verifier, issuer: FakeIssuer
) -> None:
    await refused(verifier, bearer(issuer.api_token(iss="https://evil.example")))


def test_the_api_token_shape_equals_the_services() -> None:
    # The verifier re-implements the service's format check so that it needs no service.
    from service.store import stk as apitokens

    for _ in range(50):
        token = apitokens.new_token()
        assert is_api_token(token) and apitokens.is_well_formed(token)
        typo = token[:-1] + ("0" if token[-1] != "0" else "1")
        assert is_api_token(typo) == apitokens.is_well_formed(typo) is False


# -- check_revocation ------------------------------------------------------------------------------


async def test_check_revocation_introspects_jwts(
    make_verifier: VerifierFactory, issuer: FakeIssuer, clock: Clock
) -> None:
    verifier = make_verifier(check_revocation=True, cache_ttl=5)
    token = issuer.mint()
    issuer.active[token] = {"token_use": "customer"}
    await verifier.verify("GET", API_URL, bearer(token))
    del issuer.active[token]  # revoked
    await verifier.verify("GET", API_URL, bearer(token))  # cached
    clock.advance(5)
    assert "revoked" in (await refused(verifier, bearer(token))).description
    issuer.down = True
    other = issuer.mint()
    await refused(verifier, bearer(other), status=503)


def test_check_revocation_needs_introspection() -> None:
    with pytest.raises(ValueError):
        Verifier(ISSUER, AUDIENCE, check_revocation=True)


# -- construction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "options"),
    [
        ("http://tokens.example.com", {}),
        ("https://tokens.example.com?x=1", {}),
        ("tokens.example.com", {}),
        (ISSUER, {"kinds": set()}),
        (ISSUER, {"kinds": {"admin"}}),
        (ISSUER, {"leeway": -1}),
        (ISSUER, {"nonce_secret": b"short"}),
        (ISSUER, {"replay_cache": "memcached://x"}),
    ],
)
def test_unsafe_configurations_are_refused(issuer: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Verifier(issuer, AUDIENCE, **options)


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]"]
)
def test_plain_http_only_for_a_local_issuer(issuer: str) -> None:
    Verifier(issuer, AUDIENCE)


async def test_async_context_manager(issuer: FakeIssuer, clock: Clock) -> None:
    async with Verifier(ISSUER, AUDIENCE, transport=issuer.transport(), now=clock) as verifier:
        await verifier.verify("GET", API_URL, bearer(issuer.mint()))
    assert "secret" not in repr(verifier)
