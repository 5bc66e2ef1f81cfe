"""``[clients."<id>"]``: the documented example, defaults, and every refused combination."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from service.config import ConfigError, Settings, load_settings, parse_settings
from tests.conftest import SECRET

ENV = {"ACME_ID_SECRET": SECRET}
CLIENT_SECRET = "c" * 43
HASH = "sha256:" + hashlib.sha256(CLIENT_SECRET.encode()).hexdigest()
OTHER_HASH = "sha256:" + hashlib.sha256(b"d" * 43).hexdigest()


def parse(**clients: dict[str, Any]) -> Settings:
    raw = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": {"id_secrets": ["env:ACME_ID_SECRET"]}},
        "clients": clients,
    }
    return parse_settings(raw, environ=ENV)


def confidential(**overrides: Any) -> dict[str, Any]:
    return {"secret_hashes": [HASH], "scopes": ["profiles:read"], **overrides}


def public(**overrides: Any) -> dict[str, Any]:
    return {"scopes": ["catalog:read"], **overrides}


def test_design_example_parses(tmp_path: Path) -> None:
    config = tmp_path / "shapestoken.toml"
    config.write_text(
        f"""
issuer = "https://tokens.example.com"

[rate_limits]
per_client = "60/minute"

[shops."acme.myshopify.com"]
id_secrets = ["env:ACME_ID_SECRET"]

[clients."crm-sync"]
secret_hashes = ["{HASH}", "{OTHER_HASH}"]
scopes = ["profiles:read", "profiles:write"]
audiences = ["https://api.acme.example"]
token_ttl = 3600
introspect = false

[clients."storefront-web"]
grant_types = ["implicit"]
allowed_origins = ["https://www.acme.com"]
scopes = ["catalog:read"]
"""
    )
    settings = load_settings(config, environ=ENV)
    crm, web = settings.clients["crm-sync"], settings.clients["storefront-web"]
    assert crm.confidential and not web.confidential
    assert crm.secret_hashes == (bytes.fromhex(HASH[7:]), bytes.fromhex(OTHER_HASH[7:]))
    assert crm.scopes == ("profiles:read", "profiles:write")
    assert crm.audiences == ("https://api.acme.example",)
    assert crm.grant_types == {"client_credentials"} and web.grant_types == {"implicit"}
    assert (crm.token_ttl, crm.introspect) == (3600, False)
    assert web.allowed_origins == {"https://www.acme.com"}
    assert web.audiences == ("https://tokens.example.com",)


def test_defaults_by_client_type() -> None:
    settings = parse(**{"crm-sync": confidential(), "web-app": public()})
    crm, web = settings.clients["crm-sync"], settings.clients["web-app"]
    assert crm.grant_types == {"client_credentials"} and web.grant_types == {"implicit"}
    assert crm.token_ttl == web.token_ttl == 3600
    assert crm.audiences == web.audiences == ("https://tokens.example.com",)
    assert not crm.introspect and not web.allowed_origins


def test_no_clients_is_fine() -> None:
    assert parse().clients == {}


def test_max_token_ttl_includes_client_ttls() -> None:
    # It sizes the JWKS publish window: a retired key must outlive every token it signed.
    settings = parse(**{"crm-sync": confidential(token_ttl=86400)})
    assert settings.max_token_ttl == 86400
    assert parse(**{"crm-sync": confidential(token_ttl=60)}).max_token_ttl == 900


def test_summary_shows_clients_without_hashes() -> None:
    settings = parse(**{"crm-sync": confidential(introspect=True), "web-app": public()})
    summary = settings.summary()
    assert "client crm-sync:" in summary and "confidential, 1 secret hash(es)" in summary
    assert "client web-app:" in summary and "public" in summary
    assert HASH[7:] not in summary


@pytest.mark.parametrize(
    ("client_id", "table", "message"),
    [
        ("ab", confidential(), "clients.ab: a client id is 3 to 64"),
        ("crm sync", confidential(), "a client id"),
        ("x" * 65, confidential(), "a client id"),
        ("acme.myshopify.com", confidential(), "may not be named like a shop"),
        ("Other.MyShopify.com", confidential(), "may not be named like a shop"),
        ("1234567890", confidential(), "may not be digits only"),
        ("007", public(), "may not be digits only"),
        ("crm", {**confidential(), "secret": "x"}, "unknown config key clients.crm.secret"),
        ("crm", confidential(secret_hashes=[]), "omit the key for a public client"),
        ("crm", confidential(secret_hashes=HASH), "secret_hashes: expected a non-empty list"),
        ("crm", confidential(secret_hashes=["sha256:ABC"]), "secret_hashes[0]: expected 'sha256:'"),
        ("crm", confidential(secret_hashes=[HASH.upper()]), "64 lowercase hex"),
        ("crm", confidential(secret_hashes=[HASH[7:]]), "expected 'sha256:'"),
        ("crm", confidential(secret_hashes=[HASH, HASH]), "the same hash is listed twice"),
        ("crm", {"secret_hashes": [HASH]}, "clients.crm.scopes: required"),
        ("crm", confidential(scopes=[]), "scopes: expected a non-empty list"),
        ("crm", confidential(scopes=["*"]), "scopes[0]"),
        ("crm", confidential(scopes=["a b"]), "scopes[0]"),
        ("crm", confidential(scopes=['say"hi']), "scopes[0]"),
        ("crm", confidential(scopes=["a", "a"]), "a scope is listed twice"),
        ("crm", confidential(audiences=[]), "audiences: expected a non-empty list"),
        ("crm", confidential(audiences=["a b"]), "audiences[0]"),
        ("crm", confidential(audiences=["https://a", "https://a"]), "listed twice"),
        ("crm", confidential(token_ttl=59), "token_ttl: expected an integer from 60 to 86400"),
        ("crm", confidential(token_ttl=86401), "token_ttl"),
        ("crm", confidential(token_ttl="3600"), "token_ttl"),
        ("crm", confidential(introspect="yes"), "introspect: expected true or false"),
        # Impossible combinations, each naming the client and the key.
        (
            "crm",
            confidential(grant_types=["implicit"]),
            "clients.crm.grant_types: a confidential",
        ),
        (
            "crm",
            confidential(grant_types=["client_credentials", "implicit"]),
            "cannot use the implicit grant",
        ),
        ("web", public(grant_types=["client_credentials"]), "clients.web.grant_types: a public"),
        ("web", public(introspect=True), "clients.web.introspect: only a confidential"),
        (
            "crm",
            confidential(allowed_origins=["https://www.acme.com"]),
            "clients.crm.allowed_origins: a confidential client",
        ),
        ("crm", confidential(grant_types=["password"]), "MUST NOT be used (RFC 9700"),
        ("crm", confidential(grant_types=["authorization_code"]), "grant_types: expected one of"),
        ("crm", confidential(grant_types=[]), "grant_types: expected a non-empty list"),
        ("web", public(allowed_origins=["*"]), "allowed_origins[0]: '*': wildcards are not"),
        ("web", public(scopes="catalog:read"), "scopes: expected a non-empty list"),
    ],
)
def test_invalid_clients_name_the_client_and_key(
    client_id: str, table: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{client_id: table})
    assert message in str(info.value)


def test_a_secret_pasted_as_a_hash_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{"crm": confidential(secret_hashes=[CLIENT_SECRET])})
    assert CLIENT_SECRET not in str(info.value)


def test_clients_must_be_a_table() -> None:
    raw = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": {"id_secrets": ["env:ACME_ID_SECRET"]}},
        "clients": ["crm"],
    }
    with pytest.raises(ConfigError, match="clients: expected a table"):
        parse_settings(raw, environ=ENV)


def test_hashes_may_come_from_the_environment() -> None:
    raw = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": {"id_secrets": ["env:ACME_ID_SECRET"]}},
        "clients": {"crm": {"secret_hashes": ["env:CRM_HASH"], "scopes": ["a"]}},
    }
    settings = parse_settings(raw, environ={**ENV, "CRM_HASH": HASH})
    assert settings.clients["crm"].secret_hashes == (bytes.fromhex(HASH[7:]),)
