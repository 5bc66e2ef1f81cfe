"""DPoP (RFC 9449): bound tokens from the token endpoints, and proofs at ``/v1/me``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from service.config import ConfigError, parse_settings
from service.errors import InvalidToken
from service.signing import keys
from service.signing.dpop import ALGORITHMS, DPoP
from service.signing.tokens import TokenIssuer, TokenVerifier
from service.support.secret import Secret
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    ORIGIN,
    SECRET,
    SHOP,
    ClientFactory,
    Clock,
    make_shop,
    sign,
)
from tests.dpop import ME_URL, OAUTH_URL, TOKEN_URL, ProofKey
from tests.helpers import PROXY_SECRET, proxied_query
from tests.oauth_clients import CLIENTS, CRM, CRM_SECRET, WEB, answer

PATH = f"/v1/shops/{SHOP}/customer-token"
BODY = {"id": "42", "signature": sign("42")}
CHALLENGE_ALGS = f'algs="{" ".join(ALGORITHMS)}"'

Client = Callable[..., TestClient]


@pytest.fixture
def dpop_client(client_factory: ClientFactory) -> Client:
    """A client for settings whose shop (and clients) run ``dpop = mode``."""

    def make(mode: str = "optional", **shop: Any) -> TestClient:
        clients = {
            cid: dataclasses.replace(config, dpop=mode)  # type: ignore[arg-type]
            for cid, config in CLIENTS.items()
        }
        return client_factory(shops={SHOP: make_shop(dpop=mode, **shop)}, clients=clients)

    return make


def mint(client: TestClient, proof: str | None = None, **headers: str) -> Any:
    if proof is not None:
        headers["DPoP"] = proof
    return client.post(PATH, json=BODY, headers=headers)


def bound_token(client: TestClient, key: ProofKey, clock: Clock) -> str:
    response = mint(client, key.proof(now=clock()))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def me(client: TestClient, token: str, proof: str | None, scheme: str = "DPoP") -> Any:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return client.get("/v1/me", headers=headers)


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def refused(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


# -- config ---------------------------------------------------------------------------------


def raw_config(shop: dict[str, Any], client: dict[str, Any]) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "shops": {SHOP: {"id_secrets": [SECRET], **shop}},
        "clients": {WEB: {"scopes": ["catalog:read"], **client}},
    }


def test_dpop_is_off_unless_configured() -> None:
    settings = parse_settings(raw_config({}, {}), environ={})
    assert settings.shops[SHOP].dpop == "off" and settings.clients[WEB].dpop == "off"


@pytest.mark.parametrize("mode", ["off", "optional", "required"])
def test_dpop_modes_parse_for_shops_and_clients(mode: str) -> None:
    settings = parse_settings(raw_config({"dpop": mode}, {"dpop": mode}), environ={})
    assert settings.shops[SHOP].dpop == mode and settings.clients[WEB].dpop == mode


@pytest.mark.parametrize("value", ["on", "Required", True, 1, ""])
def test_an_invalid_dpop_value_stops_start_up_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=rf'shops."{SHOP}".dpop'):
        parse_settings(raw_config({"dpop": value}, {}), environ={})
    with pytest.raises(ConfigError, match=rf"clients.{WEB}.dpop"):
        parse_settings(raw_config({}, {"dpop": value}), environ={})


# -- the customer-token endpoint ------------------------------------------------------------


def test_optional_binds_a_token_to_the_proofs_key(dpop_client: Client, clock: Clock) -> None:
    key = ProofKey()
    response = mint(dpop_client(), key.proof(now=clock()))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert body["token"] == body["access_token"] and body["expiry"]
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}


def test_optional_without_a_proof_gives_a_bearer_token(dpop_client: Client) -> None:
    body = mint(dpop_client()).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(body["access_token"])


@pytest.mark.parametrize("proof", ["garbage", "a.b.c"])
def test_off_ignores_the_dpop_header(dpop_client: Client, proof: str) -> None:
    response = mint(dpop_client("off"), proof)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(response.json()["access_token"])


def test_required_refuses_a_request_without_a_proof(dpop_client: Client, clock: Clock) -> None:
    client = dpop_client("required")
    response = mint(client)
    refused(response, 400, "invalid_dpop_proof")
    assert f"The shop {SHOP} requires DPoP" in response.json()["error_description"]
    assert mint(client, ProofKey().proof(now=clock())).json()["token_type"] == "DPoP"


def test_a_proof_is_accepted_once(dpop_client: Client, clock: Clock) -> None:
    client = dpop_client()
    proof = ProofKey().proof(now=clock())
    assert mint(client, proof).status_code == 200
    response = mint(client, proof)
    refused(response, 400, "invalid_dpop_proof")
    assert "used before" in response.json()["error_description"]


def test_htu_is_the_issuers_url_not_the_listening_address(
    dpop_client: Client, clock: Clock
) -> None:
    # The test client listens at ISSUER; a proxy in front would not change htu either.
    client = dpop_client()
    listening = f"http://127.0.0.1:8000{PATH}"
    refused(mint(client, ProofKey().proof(url=listening, now=clock())), 400, "invalid_dpop_proof")
    # RFC 3986 §6.2.2-6.2.3: scheme and host case and a default port do not matter.
    normalised = f"HTTPS://Tokens.Example.com:443{PATH}"
    assert mint(client, ProofKey().proof(url=normalised, now=clock())).status_code == 200


def test_an_old_iat_gets_a_nonce_and_a_proof_with_it_is_fresh(
    dpop_client: Client, clock: Clock
) -> None:
    client = dpop_client()
    key = ProofKey()
    response = mint(client, key.proof(now=clock() - 61))
    refused(response, 400, "use_dpop_nonce")
    nonce = response.headers["dpop-nonce"]
    # RFC 9449 §8: with our nonce the proof is fresh whatever its iat (a wrong clock).
    clock.advance(299)
    response = mint(client, key.proof(now=clock() - 3600, nonce=nonce))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}


def test_a_nonce_goes_stale_after_five_minutes(dpop_client: Client, clock: Clock) -> None:
    client = dpop_client()
    key = ProofKey()
    nonce = mint(client, key.proof(now=clock() - 100)).headers["dpop-nonce"]
    clock.advance(301)
    response = mint(client, key.proof(now=clock(), nonce=nonce))
    refused(response, 400, "use_dpop_nonce")
    fresh = response.headers["dpop-nonce"]
    assert fresh != nonce
    assert mint(client, key.proof(now=clock(), nonce=fresh)).status_code == 200


def test_a_made_up_nonce_gets_a_real_one(dpop_client: Client, clock: Clock) -> None:
    client = dpop_client()
    response = mint(client, ProofKey().proof(now=clock(), nonce="A" * 32))
    refused(response, 400, "use_dpop_nonce")
    assert dpop_of(client).nonce_valid(response.headers["dpop-nonce"])


def dpop_of(client: TestClient) -> DPoP:
    dpop: DPoP = client.app.state.components.dpop  # type: ignore[attr-defined]
    return dpop


def test_cors_allows_the_dpop_header_and_exposes_the_nonce(
    dpop_client: Client, clock: Clock
) -> None:
    client = dpop_client()
    preflight = client.options(
        PATH,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,dpop",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-headers"] == "Content-Type, DPoP"
    response = mint(client, ProofKey().proof(now=clock() - 100), Origin=ORIGIN)
    refused(response, 400, "use_dpop_nonce")
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"]
    assert exposed == "DPoP-Nonce, WWW-Authenticate"


def test_app_proxy_tokens_stay_bearer(client_factory: ClientFactory, clock: Clock) -> None:
    from urllib.parse import urlencode

    shop = make_shop(app_proxy_secret=Secret(PROXY_SECRET), dpop="required")
    client = client_factory(shops={SHOP: shop})
    url = f"/v1/app-proxy/customer-token?{urlencode(proxied_query(clock))}"
    response = client.get(url, headers={"DPoP": ProofKey().proof("GET", url, now=clock())})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(response.json()["access_token"])


# -- bad proofs: 400 invalid_dpop_proof at the token endpoint -------------------------------


def _bad_proofs(clock: Clock) -> dict[str, list[str]]:
    key, other = ProofKey(), ProofKey()
    now = clock()
    good = key.proof(now=now)
    header, claims, signature = good.split(".")
    foreign = other.proof(now=now).split(".")[2]
    return {
        "not a JWS": ["not-a-jws"],
        "two segments": [f"{header}.{claims}"],
        "wrong typ": [key.proof(now=now, header={"typ": "JWT"})],
        "alg none": [key.unsigned(now=now)],
        "HS256": [key.hs256(now=now)],
        "a private jwk": [key.proof(now=now, header={"jwk": key.private_jwk})],
        "no jwk": [key.proof(now=now, header={"jwk": None})],
        "signed by another key": [f"{header}.{claims}.{foreign}"],
        "no jti": [key.proof(now=now, jti=None)],
        "no htm": [key.proof(now=now, htm=None)],
        "no htu": [key.proof(now=now, htu=None)],
        "no iat": [key.proof(now=now, iat=None)],
        "jti over 256 characters": [key.proof(now=now, jti="j" * 257)],
        "two DPoP headers": [good, key.proof(now=now)],
        "another URL": [key.proof(url=f"{ISSUER}/v1/shops/other.myshopify.com/x", now=now)],
        "another method": [key.proof("GET", now=now)],
        "htu with a query": [key.proof(url=f"{TOKEN_URL}?a=1", now=now)],
    }


BAD = sorted(_bad_proofs(Clock()))


@pytest.mark.parametrize("case", BAD)
def test_a_bad_proof_is_invalid_dpop_proof(dpop_client: Client, clock: Clock, case: str) -> None:
    proofs = _bad_proofs(clock)[case]
    client = dpop_client()
    headers = [("Content-Type", "application/json"), *(("DPoP", proof) for proof in proofs)]
    response = client.post(PATH, content=jwt_body(), headers=headers)
    refused(response, 400, "invalid_dpop_proof")


def jwt_body() -> bytes:
    return f'{{"id": "42", "signature": "{BODY["signature"]}"}}'.encode()


@pytest.mark.parametrize("nonce", [None, "forged-nonce", "A" * 32])
def test_an_old_iat_without_a_valid_nonce_is_use_dpop_nonce(
    dpop_client: Client, clock: Clock, nonce: str | None
) -> None:
    response = mint(dpop_client(), ProofKey().proof(now=clock() + 61, nonce=nonce))
    refused(response, 400, "use_dpop_nonce")
    assert response.headers["dpop-nonce"]


# -- /oauth/token: the client's setting -----------------------------------------------------


def test_a_guest_token_follows_its_clients_setting(dpop_client: Client, clock: Clock) -> None:
    key = ProofKey()
    data = {"grant_type": "implicit", "client_id": WEB}
    client = dpop_client()
    response = client.post(
        "/oauth/token", data=data, headers={"DPoP": key.proof(url=OAUTH_URL, now=clock())}
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}
    # The alias path is its own URL: a proof for /oauth/token does not pass there.
    alias = client.post(
        "/v1/oauth:token", data=data, headers={"DPoP": key.proof(url=OAUTH_URL, now=clock())}
    )
    refused(alias, 400, "invalid_dpop_proof")


def test_a_client_that_requires_dpop_refuses_a_bearer_request(
    dpop_client: Client, clock: Clock
) -> None:
    client = dpop_client("required")
    data = {"grant_type": "client_credentials", "client_id": CRM, "client_secret": CRM_SECRET}
    response = client.post("/oauth/token", data=data)
    refused(response, 400, "invalid_dpop_proof")
    assert f"The client {CRM} requires DPoP" in response.json()["error_description"]
    proof = ProofKey().proof(url=OAUTH_URL, now=clock())
    bound = client.post("/oauth/token", data=data, headers={"DPoP": proof})
    assert bound.json()["token_type"] == "DPoP"
    # RFC 9449 §6.2: introspection answers the binding.
    described = answer(client, bound.json()["access_token"])
    assert described["active"] is True and described["token_type"] == "DPoP"
    assert described["cnf"] == claims_of(bound.json()["access_token"])["cnf"]


def test_introspection_of_a_bearer_token_has_no_cnf(dpop_client: Client) -> None:
    client = dpop_client()
    token = mint(client).json()["access_token"]
    described = answer(client, token)
    assert described["token_type"] == "Bearer" and "cnf" not in described


def test_metadata_lists_the_proof_algorithms(dpop_client: Client) -> None:
    document = dpop_client().get("/.well-known/oauth-authorization-server").json()
    assert document["dpop_signing_alg_values_supported"][0] == "ES256"
    assert "none" not in document["dpop_signing_alg_values_supported"]


# -- /v1/me, a resource ---------------------------------------------------------------------


def test_a_bound_token_with_its_proof_reads_me(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    response = me(client, token, key.proof("GET", ME_URL, now=clock(), token=token))
    assert response.status_code == 200, response.text
    assert response.json()["cnf"] == {"jkt": key.jkt}


def dpop_refusal(response: Any, error: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == error
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"') and CHALLENGE_ALGS in challenge


def test_a_bound_token_as_bearer_is_refused(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    proof = key.proof("GET", ME_URL, now=clock(), token=token)
    dpop_refusal(me(client, token, proof, scheme="Bearer"), "invalid_token")
    dpop_refusal(me(client, token, None, scheme="Bearer"), "invalid_token")


def test_a_bound_token_without_a_proof_is_refused(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    dpop_refusal(me(client, bound_token(client, key, clock), None), "invalid_dpop_proof")


def test_another_keys_proof_is_refused(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    proof = ProofKey().proof("GET", ME_URL, now=clock(), token=token)
    dpop_refusal(me(client, token, proof), "invalid_token")


def test_a_wrong_ath_is_refused(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    other = bound_token(client, key, clock)
    dpop_refusal(
        me(client, token, key.proof("GET", ME_URL, now=clock(), token=other)), "invalid_dpop_proof"
    )
    dpop_refusal(me(client, token, key.proof("GET", ME_URL, now=clock())), "invalid_dpop_proof")


def test_a_replayed_proof_is_refused(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    proof = key.proof("GET", ME_URL, now=clock(), token=token)
    assert me(client, token, proof).status_code == 200
    clock.advance(30)
    dpop_refusal(me(client, token, proof), "invalid_dpop_proof")


def test_a_proof_for_the_token_endpoint_is_refused_at_me(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    dpop_refusal(
        me(client, token, key.proof("POST", ME_URL, now=clock(), token=token)), "invalid_dpop_proof"
    )
    dpop_refusal(
        me(client, token, key.proof("GET", TOKEN_URL, now=clock(), token=token)),
        "invalid_dpop_proof",
    )


def test_use_dpop_nonce_at_me_is_a_401_with_a_nonce(dpop_client: Client, clock: Clock) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    response = me(client, token, key.proof("GET", ME_URL, now=clock() - 90, token=token))
    dpop_refusal(response, "use_dpop_nonce")
    nonce = response.headers["dpop-nonce"]
    retry = me(client, token, key.proof("GET", ME_URL, now=clock() - 90, token=token, nonce=nonce))
    assert retry.status_code == 200, retry.text


@pytest.mark.parametrize("case", BAD)
def test_a_bad_proof_at_me_is_a_401(dpop_client: Client, clock: Clock, case: str) -> None:
    client, key = dpop_client(), ProofKey()
    token = bound_token(client, key, clock)
    proofs = [p for p in _bad_proofs(clock)[case]]
    headers = [("Authorization", f"DPoP {token}"), *(("DPoP", proof) for proof in proofs)]
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] in ("invalid_dpop_proof", "invalid_token")
    assert response.headers["www-authenticate"].startswith("DPoP ")


def test_an_unbound_token_with_the_dpop_scheme_is_refused(
    dpop_client: Client, clock: Clock
) -> None:
    client, key = dpop_client(), ProofKey()
    token = mint(client).json()["access_token"]
    dpop_refusal(
        me(client, token, key.proof("GET", ME_URL, now=clock(), token=token)), "invalid_token"
    )
    # As a bearer token it works as before.
    assert me(client, token, None, scheme="Bearer").status_code == 200


def test_me_cors_allows_dpop_and_the_tokens_own_shop_only(
    client_factory: ClientFactory, clock: Clock
) -> None:
    other_shop, other_origin = "other.myshopify.com", "https://www.other.example"
    other = make_shop(
        domain=other_shop,
        allowed_origins=frozenset({other_origin}),
        audience="https://api.other.example",
    )
    client = client_factory(shops={SHOP: make_shop(dpop="optional"), other_shop: other})
    preflight = client.options(
        "/v1/me", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers["access-control-allow-headers"] == "Authorization, DPoP"
    key = ProofKey()
    token = bound_token(client, key, clock)
    proof = key.proof("GET", ME_URL, now=clock(), token=token)
    response = client.get(
        "/v1/me", headers={"Authorization": f"DPoP {token}", "DPoP": proof, "Origin": ORIGIN}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "WWW-Authenticate" in response.headers["access-control-expose-headers"]
    # A page of another shop may not use this shop's token.
    proof = key.proof("GET", ME_URL, now=clock(), token=token)
    elsewhere = client.get(
        "/v1/me",
        headers={"Authorization": f"DPoP {token}", "DPoP": proof, "Origin": other_origin},
    )
    refused(elsewhere, 403, "origin_not_allowed")


# -- the pieces -----------------------------------------------------------------------------


def test_replicas_with_the_same_keys_accept_each_others_nonces(
    keyring: keys.KeyRing, clock: Clock
) -> None:
    one, two = DPoP(keyring, ISSUER, now=clock), DPoP(keyring, ISSUER, now=clock)
    assert two.nonce_valid(one.issue_nonce())
    stranger = DPoP(keys.KeyRing([keys.generate("ES256")], window=60, now=clock), ISSUER)
    assert not stranger.nonce_valid(one.issue_nonce())


def test_a_nonce_outlives_a_key_rotation(es256_key: keys.SigningKey, clock: Clock) -> None:
    ring = keys.KeyRing([es256_key], window=3900, now=clock)
    dpop = DPoP(ring, ISSUER, now=clock)
    nonce = dpop.issue_nonce()
    ring.replace([keys.generate("ES256"), es256_key])
    assert dpop.nonce_valid(nonce)
    assert dpop.issue_nonce() != nonce


@pytest.mark.parametrize(
    "cnf",
    [
        {},
        {"jkt": 42},
        {"jkt": "short"},
        {"jkt": "a" * 43, "x5t#S256": "b" * 43},
        "jkt",
        ["a" * 43],
    ],
)
def test_the_verifier_refuses_a_malformed_cnf(
    keyring: keys.KeyRing, clock: Clock, cnf: object
) -> None:
    issuer = TokenIssuer(keyring, ISSUER, now=clock)
    issued = issuer.mint_customer(shop=SHOP, customer_id="42", audience=AUDIENCE, scope="c", ttl=60)
    token = issuer._sign({**issued.claims, "cnf": cnf})
    with pytest.raises(InvalidToken, match="cnf"):
        TokenVerifier(keyring, ISSUER, now=clock).verify(token, audience=AUDIENCE)


def test_the_verifier_accepts_a_well_formed_cnf(keyring: keys.KeyRing, clock: Clock) -> None:
    issuer = TokenIssuer(keyring, ISSUER, now=clock)
    issued = issuer.mint_customer(
        shop=SHOP, customer_id="42", audience=AUDIENCE, scope="c", ttl=60, jkt="a" * 43
    )
    claims = TokenVerifier(keyring, ISSUER, now=clock).verify(issued.token, audience=AUDIENCE)
    assert claims["cnf"] == {"jkt": "a" * 43}
