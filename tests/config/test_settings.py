from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.config import Rate, Settings, config_path, load_settings, parse_settings
from service.config.advice import config_warnings
from service.config.values import key_path
from service.errors import ConfigError
from tests.conftest import SECRET, admin_password_hash
from tests.oauth_clients import secret_hash

ENV = {"ACME_ID_SECRET": SECRET, "ACME_ID_SECRET_PREVIOUS": "p" * 32}


def raw(**overrides: Any) -> dict[str, Any]:
    shop: dict[str, Any] = {
        "id_secrets": ["env:ACME_ID_SECRET", "env:ACME_ID_SECRET_PREVIOUS"],
        "allowed_origins": ["https://acme.myshopify.com", "https://www.acme.com"],
    }
    shop.update(overrides.pop("shop", {}))
    values: dict[str, Any] = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": shop},
    }
    values.update(overrides)
    return values


def parse(**overrides: Any) -> Settings:
    return parse_settings(raw(**overrides), environ=ENV)


def test_design_example_parses(tmp_path: Path) -> None:
    config = tmp_path / "shapestoken.toml"
    config.write_text(
        """
issuer = "https://tokens.example.com"
token_ttl = 900
signing_key_dir = "var/keys"
signing_alg = "ES256"
state = "memory"

[rate_limits]
per_customer = "30/minute"
per_ip = "120/minute"

[shops."acme.myshopify.com"]
id_secrets = ["env:ACME_ID_SECRET", "env:ACME_ID_SECRET_PREVIOUS"]
allowed_origins = ["https://acme.myshopify.com", "https://www.acme.com"]
audience = "https://api.acme.example"
scope = "customer"
token_ttl = 600
"""
    )
    settings = load_settings(config, environ=ENV)
    shop = settings.shops["acme.myshopify.com"]
    assert settings.issuer == "https://tokens.example.com"
    assert settings.signing_key_dir == tmp_path / "var/keys"
    assert settings.rate_limits.per_customer == Rate(30, 60)
    assert settings.rate_limits.per_ip == Rate(120, 60)
    assert [s.reveal() for s in shop.id_secrets] == [SECRET.encode(), b"p" * 32]
    assert shop.allowed_origins == {"https://acme.myshopify.com", "https://www.acme.com"}
    assert (shop.audience, shop.scope, shop.token_ttl) == (
        "https://api.acme.example",
        "customer",
        600,
    )
    assert settings.max_token_ttl == 900


def test_defaults() -> None:
    settings = parse()
    shop = settings.shops["acme.myshopify.com"]
    assert shop.audience == settings.issuer
    assert shop.token_ttl == settings.token_ttl == 900
    assert settings.signing_alg == "ES256" and settings.state == "memory"
    assert shop.signature_max_age is None and not shop.require_timestamp


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer_url": "x"}, "unknown config key issuer_url"),
        (
            {"shop": {"allowed_origin": []}},
            'unknown config key shops."acme.myshopify.com".allowed_origin',
        ),
        (
            {"rate_limits": {"per_customers": "1/minute"}},
            "unknown config key rate_limits.per_customers",
        ),
        (
            {"shop": {"id_secrets": ["env:MISSING_SECRET"]}},
            "environment variable MISSING_SECRET is not set",
        ),
        ({"shop": {"id_secrets": ["too-short"]}}, "at least 32 are required"),
        ({"shop": {"id_secrets": []}}, "id_secrets"),
        ({"shop": {"app_proxy_secret": "short"}}, "app_proxy_secret: secret is 5 bytes"),
        ({"issuer": None}, "issuer: required"),
        ({"issuer": "http://tokens.example.com"}, "https"),
        ({"issuer": "https://tokens.example.com/?q=1"}, "no query"),
        ({"token_ttl": 30}, "token_ttl: expected an integer from 60 to 3600"),
        ({"token_ttl": 3601}, "token_ttl"),
        ({"token_ttl": True}, "token_ttl"),
        ({"shop": {"token_ttl": 10}}, 'shops."acme.myshopify.com".token_ttl'),
        ({"signing_alg": "HS256"}, "signing_alg: expected one of ES256, EdDSA, RS256"),
        ({"signing_alg": "none"}, "signing_alg"),
        ({"log_format": "xml"}, "log_format"),
        ({"access_log": "off"}, "access_log: expected true or false"),
        ({"rate_limits": {"per_ip": "lots"}}, "rate_limits.per_ip"),
        ({"rate_limits": {"per_ip": "0/minute"}}, "rate_limits.per_ip"),
        ({"shop": {"allowed_origins": ["*"]}}, "wildcards are not supported"),
        ({"shop": {"allowed_origins": ["https://acme.com/path"]}}, "not an origin"),
        ({"shop": {"allowed_origins": "https://acme.com"}}, "expected a list"),
        ({"shop": {"require_timestamp": True}}, "needs signature_max_age"),
        ({"shop": {"require_timestamp": "yes"}}, "true or false"),
        ({"shops": {}}, "at least one"),
        ({"shops": {"acme.com": {"id_secrets": [SECRET]}}}, "myshopify.com"),
    ],
)
def test_invalid_config_names_the_problem(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**overrides)
    assert message in str(info.value)
    assert SECRET not in str(info.value)


def test_env_reference_anywhere() -> None:
    settings = parse_settings(
        raw(issuer="env:ISSUER"), environ={**ENV, "ISSUER": "https://from-env.example"}
    )
    assert settings.issuer == "https://from-env.example"


@pytest.mark.parametrize("where", ["shop", "client"])
def test_a_wildcard_origin_is_refused_naming_its_key(where: str) -> None:
    # A browser's Origin is one exact origin: a pattern would be "config OK" and never match.
    pattern = "https://*.acme.com"
    table = {"allowed_origins": ["https://www.acme.com", pattern]}
    overrides: dict[str, Any] = (
        {"shop": table}
        if where == "shop"
        else {"clients": {"storefront-web": {"scopes": ["catalog:read"], **table}}}
    )
    with pytest.raises(ConfigError) as refused:
        parse(**overrides)
    key = (
        'shops."acme.myshopify.com".allowed_origins[1]'
        if where == "shop"
        else "clients.storefront-web.allowed_origins[1]"
    )
    assert str(refused.value) == (
        f"{key}: {pattern!r}: wildcards are not supported; list each origin, "
        "e.g. https://www.acme.com"
    )


def test_every_missing_environment_variable_is_named_at_once() -> None:
    overrides: dict[str, Any] = {
        "issuer": "env:MISSING_ISSUER",
        "shop": {"id_secrets": ["env:ACME_ID_SECRET", "env:MISSING_SECRET"]},
        "state": "env:MISSING_REDIS_URL",
    }
    with pytest.raises(ConfigError) as refused:
        parse(**overrides)
    assert str(refused.value) == (
        "3 environment variables are not set: MISSING_ISSUER (for issuer); "
        'MISSING_SECRET (for shops."acme.myshopify.com".id_secrets[1]); '
        "MISSING_REDIS_URL (for state)"
    )


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        (
            ("shops", "acme.myshopify.com", "id_secrets", 0),
            'shops."acme.myshopify.com".id_secrets[0]',
        ),
        (("clients", "crm-sync", "scopes"), "clients.crm-sync.scopes"),
        (("clients", "crm.sync"), 'clients."crm.sync"'),
        (("rate_limits", "per_ip"), "rate_limits.per_ip"),
    ],
)
def test_key_paths_are_written_as_toml_writes_keys(parts: tuple[str | int, ...], path: str) -> None:
    assert key_path(*parts) == path


def test_every_message_names_a_shop_key_one_way() -> None:
    # The missing variable, a bad value and an unknown key all quote the shop alike.
    quoted = 'shops."acme.myshopify.com"'
    messages = []
    for overrides in (
        {"shop": {"id_secrets": ["env:MISSING_SECRET"]}},
        {"shop": {"id_secrets": ["short"]}},
        {"shop": {"audiance": "x"}},
    ):
        with pytest.raises(ConfigError) as refused:
            parse(**overrides)
        messages.append(str(refused.value))
    assert all(quoted in message for message in messages), messages
    assert f"{quoted}.id_secrets[0]: environment variable MISSING_SECRET" in messages[0]
    assert f"{quoted}.id_secrets[0]: secret is 5 bytes" in messages[1]


def test_origins_are_normalised_like_browsers_send_them() -> None:
    shop = parse(shop={"allowed_origins": ["HTTPS://WWW.Acme.com:443/", "http://localhost:8080"]})
    assert shop.shops["acme.myshopify.com"].allowed_origins == {
        "https://www.acme.com",
        "http://localhost:8080",
    }


def test_localhost_issuer_may_be_http() -> None:
    assert parse(issuer="http://127.0.0.1:8000").issuer == "http://127.0.0.1:8000"


def test_signing_keys_env_is_read_by_config() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n"
    settings = parse_settings(raw(), environ={**ENV, "SHAPESTOKEN_SIGNING_KEYS": pem})
    assert settings.signing_keys_pem is not None
    assert settings.signing_keys_pem.reveal() == pem.encode()
    assert "MIGHAgEA" not in repr(settings)


def test_repr_and_summary_never_show_secrets() -> None:
    settings = parse(shop={"app_proxy_secret": "a" * 40})
    for text in (repr(settings), str(settings), settings.summary()):
        assert SECRET not in text and "p" * 32 not in text and "a" * 40 not in text
    assert "**********" in settings.summary()


def test_rates() -> None:
    assert Rate.parse("30/minute", key="k") == Rate(30, 60)
    assert Rate.parse(" 5 / second ", key="k") == Rate(5, 1)
    assert str(Rate(1000, 3600)) == "1000/hour"


def test_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_path({}) is None
    (tmp_path / "shapestoken.toml").write_text("")
    assert config_path({}) == Path("shapestoken.toml")
    assert config_path({"SHAPESTOKEN_CONFIG": "/etc/x.toml"}) == Path("/etc/x.toml")


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("issuer = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


# -- guest_client: the public client whose anonymous tokens a shop's guests get ----------

STOREFRONT_CLIENT = {
    "scopes": ["catalog:read"],
    "allowed_origins": ["https://acme.myshopify.com", "https://www.acme.com"],
}


def with_guest_client(guest: object = "storefront-web", **client: Any) -> Settings:
    return parse(
        shop={"guest_client": guest},
        clients={"storefront-web": {**STOREFRONT_CLIENT, **client}},
    )


def test_a_guest_client_names_a_public_client_with_the_storefronts_origins() -> None:
    settings = with_guest_client()
    shop = settings.shops["acme.myshopify.com"]
    assert shop.guest_client == "storefront-web"
    assert "guest_client:    storefront-web" in settings.summary()
    # A client may serve more origins than the shop's (a second storefront, say).
    wider = STOREFRONT_CLIENT["allowed_origins"] + ["https://other.example"]
    assert with_guest_client(allowed_origins=wider).shops["acme.myshopify.com"].guest_client


@pytest.mark.parametrize(
    "guest, client, message",
    [
        ("nope", {}, ".guest_client: no [clients.nope] is configured"),
        (
            "storefront-web",
            {"secret_hashes": ["sha256:" + "a" * 64], "allowed_origins": []},
            "a guest client must be public",
        ),
        ("storefront-web", {"allowed_origins": []}, "has no allowed_origins"),
        (
            "storefront-web",
            {"allowed_origins": ["https://acme.myshopify.com"]},
            ".allowed_origins lacks https://www.acme.com, where the shop's storefront is served",
        ),
        ("", {}, "guest_client: expected a non-empty string"),
        (42, {}, "guest_client: expected a non-empty string"),
    ],
)
def test_a_guest_client_that_cannot_serve_the_storefront_is_refused(
    guest: object, client: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        with_guest_client(guest, **client)
    assert message in str(refused.value)
    assert 'shops."acme.myshopify.com".guest_client' in str(refused.value)


def two_shops(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    values = raw()
    values["shops"] = {
        "acme.myshopify.com": {"id_secrets": ["env:ACME_ID_SECRET"], **first},
        "bolt.myshopify.com": {"id_secrets": ["env:ACME_ID_SECRET_PREVIOUS"], **second},
    }
    return values


def test_two_shops_keeping_the_default_audience_are_refused() -> None:
    # Shop B's theme developer holds B's id secret, so can mint for any customer id;
    # with the issuer as everyone's `aud`, shop A's API would accept those tokens.
    with pytest.raises(ConfigError) as info:
        parse_settings(two_shops({}, {}), environ=ENV)
    message = str(info.value)
    assert 'shops."acme.myshopify.com"' in message and 'shops."bolt.myshopify.com"' in message
    assert "the issuer, their default" in message and "own `audience`" in message


def test_two_shops_naming_one_audience_are_refused() -> None:
    same = {"audience": "https://api.example"}
    with pytest.raises(ConfigError, match="share the audience 'https://api.example'"):
        parse_settings(two_shops(same, same), environ=ENV)


def test_shops_with_their_own_audiences_are_fine() -> None:
    settings = parse_settings(two_shops({}, {"audience": "https://api.bolt.example"}), environ=ENV)
    assert {shop.audience for shop in settings.shops.values()} == {
        "https://tokens.example.com",
        "https://api.bolt.example",
    }


def test_an_app_proxy_shop_may_omit_id_secrets() -> None:
    values = raw()
    values["shops"]["acme.myshopify.com"] = {"app_proxy_secret": "a" * 40}
    shop = parse_settings(values, environ=ENV).shops["acme.myshopify.com"]
    assert shop.id_secrets == () and not shop.signed_ids
    assert "App Proxy only" in "\n".join(shop.summary())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "only a shop with app_proxy_secret may leave it out"),
        ({"allowed_origins": []}, "id_secrets"),
        ({"app_proxy_secret": "a" * 40, "signature_max_age": 600}, "need id_secrets"),
        ({"app_proxy_secret": "a" * 40, "require_timestamp": False}, "need id_secrets"),
    ],
)
def test_a_shop_without_id_secrets_needs_the_app_proxy(table: dict[str, Any], message: str) -> None:
    values = raw()
    values["shops"]["acme.myshopify.com"] = table
    with pytest.raises(ConfigError, match=message):
        parse_settings(values, environ=ENV)


@pytest.mark.parametrize(
    "bundle",
    [
        "-----BEGIN PRIVATE KEY-----\nMIGH\u201cAgEA\u201d\n-----END PRIVATE KEY-----\n",
        "\ufeff-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIGH\udcffAgEA\n-----END PRIVATE KEY-----\n",
    ],
    ids=["typographic-quotes", "bom", "undecodable-byte"],
)
def test_a_non_ascii_signing_keys_variable_is_a_config_error(bundle: str) -> None:
    with pytest.raises(ConfigError, match="SHAPESTOKEN_SIGNING_KEYS: holds non-ASCII") as info:
        parse_settings(raw(), environ={**ENV, "SHAPESTOKEN_SIGNING_KEYS": bundle})
    assert "MIGH" not in str(info.value)


def test_one_secret_for_two_shops_warns() -> None:
    values = two_shops({}, {"audience": "https://api.bolt.example"})
    values["shops"]["bolt.myshopify.com"]["id_secrets"] = ["env:ACME_ID_SECRET"]
    (warning,) = config_warnings(parse_settings(values, environ=ENV))
    assert 'shops."acme.myshopify.com".id_secrets[0]' in warning
    assert 'shops."bolt.myshopify.com".id_secrets[0]' in warning
    assert SECRET not in warning


def test_one_secret_for_a_shop_and_its_app_proxy_warns() -> None:
    settings = parse(shop={"app_proxy_secret": "env:ACME_ID_SECRET"})
    (warning,) = config_warnings(settings)
    assert ".id_secrets[0] and " in warning and ".app_proxy_secret" in warning
    assert SECRET not in warning


def test_a_client_whose_secret_is_a_shops_id_secret_warns() -> None:
    # The theme's secret (readable by its developers) would authenticate as the client.
    client = {
        "secret_hashes": [secret_hash("c" * 40), secret_hash(SECRET)],
        "scopes": ["profiles:read"],
    }
    (warning,) = config_warnings(parse(clients={"crm-sync": client}))
    assert 'shops."acme.myshopify.com".id_secrets[0]' in warning
    assert "clients.crm-sync.secret_hashes[1]" in warning
    assert "can act as all of them" in warning and "authenticate as the client" in warning
    assert SECRET not in warning and secret_hash(SECRET)[7:] not in warning


def test_a_client_whose_secret_is_an_app_proxy_secret_warns() -> None:
    client = {"secret_hashes": [secret_hash("a" * 40)], "scopes": ["profiles:read"]}
    settings = parse(shop={"app_proxy_secret": "a" * 40}, clients={"crm-sync": client})
    (warning,) = config_warnings(settings)
    assert ".app_proxy_secret and " in warning and "clients.crm-sync.secret_hashes[0]" in warning


def test_one_secret_for_two_clients_warns() -> None:
    table = {"secret_hashes": [secret_hash("c" * 40)], "scopes": ["profiles:read"]}
    (warning,) = config_warnings(parse(clients={"crm-sync": table, "erp-sync": table}))
    assert "clients.crm-sync.secret_hashes[0] and clients.erp-sync.secret_hashes[0]" in warning


def test_a_session_secret_that_is_a_shops_id_secret_warns() -> None:
    # A theme's developers could sign a dashboard session cookie with it.
    store = {
        "database": "sqlite:///var/shapestoken.db",
        "api_scopes": ["profiles:read"],
        "admin_password_hash": admin_password_hash(),
        "session_secret": "env:ACME_ID_SECRET",
    }
    (warning,) = config_warnings(parse(**store))
    assert 'shops."acme.myshopify.com".id_secrets[0] and session_secret' in warning
    assert "forge a dashboard session" in warning and SECRET not in warning


def test_distinct_secrets_and_a_safe_delay_do_not_warn() -> None:
    clients = {
        "crm-sync": {"secret_hashes": [secret_hash("c" * 40)], "scopes": ["profiles:read"]},
        "erp-sync": {"secret_hashes": [secret_hash("e" * 40)], "scopes": ["profiles:read"]},
        "storefront-web": {"scopes": ["catalog:read"]},  # public: no secret at all
    }
    assert config_warnings(parse(shop={"app_proxy_secret": "a" * 40}, clients=clients)) == []


@pytest.mark.parametrize("delay", [0, 60, 359])
def test_a_short_key_activation_delay_warns(delay: int) -> None:
    (warning,) = config_warnings(parse(key_activation_delay=delay))
    assert f"key_activation_delay = {delay}" in warning


@pytest.mark.parametrize("delay", [-1, 86401, True, "900"])
def test_key_activation_delay_is_0_to_86400(delay: object) -> None:
    with pytest.raises(ConfigError, match="key_activation_delay: expected an integer from 0"):
        parse(key_activation_delay=delay)


def test_key_activation_delay_defaults_to_900() -> None:
    assert parse().key_activation_delay == 900
