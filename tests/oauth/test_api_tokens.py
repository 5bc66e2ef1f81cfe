"""POST /oauth/introspect and /oauth/revoke for admin-made API tokens, on SQLite and PostgreSQL.

The HTTP edge as an API sees it: an ``introspect = true`` client asks about an
``stk_`` token and gets exactly the documented fields, or exactly ``{"active": false}``,
or, while the database cannot answer, a 503 (never an active answer that the
database did not give, never a 500).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from service.config import StoreConfig
from service.config.store import DatabaseURL, database_url
from service.signing.keys import KeyRing
from service.store import db
from service.store.apitokens import CACHE_TTL, ApiTokenStore
from service.store.stk import ApiToken, _checksum, new_token, token_hash
from service.web.app import create_app
from service.wiring import Components, build_components
from tests.conftest import ISSUER, ClientFactory, Clock, make_settings
from tests.databases import Postgres
from tests.helpers import assert_error
from tests.oauth_clients import (
    CLIENTS,
    CRM,
    CRM_SECRET,
    GATEWAY,
    GATEWAY_SECRET,
    answer,
    basic,
    crm_token,
    introspect,
)
from tests.servers import free_port

SCOPES = ("profiles:read", "profiles:write", "orders:read")
INACTIVE = {"active": False}


@pytest.fixture
def client(database: DatabaseURL, keyring: KeyRing, clock: Clock) -> Iterator[TestClient]:
    db.prepare(database, migrate=True)
    settings = make_settings(clients=CLIENTS, store=StoreConfig(database, api_scopes=SCOPES))
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    app = create_app(settings, components=components)
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as client:
        yield client


def components(client: TestClient) -> Components:
    found: Components = client.app.state.components  # type: ignore[attr-defined]
    return found


def store(client: TestClient) -> ApiTokenStore:
    found = components(client).token_store
    assert found is not None
    return found


def call(client: TestClient, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store coroutine on the app's own event loop (its engine lives there)."""
    assert client.portal is not None
    return client.portal.call(functools.partial(function, *args, **kwargs))


def create(
    client: TestClient, scopes: tuple[str, ...] = ("profiles:read",), expires_in: int | None = None
) -> tuple[ApiToken, str]:
    made: tuple[ApiToken, str] = call(
        client,
        store(client).create,
        name="crm-sync",
        scopes=scopes,
        expires_in=expires_in,
        created_by="dashboard",
    )
    return made


# -- active, and exactly the documented fields ---------------------------------------------------


def test_an_active_api_token_answers_exactly_the_designed_fields(
    client: TestClient, clock: Clock
) -> None:
    record, token = create(client, scopes=("orders:read", "profiles:read"), expires_in=90 * 86400)
    assert answer(client, token) == {
        "active": True,
        "scope": "profiles:read orders:read",
        "sub": f"api-token:{record.id}",
        "token_type": "Bearer",
        "exp": int(clock.now) + 90 * 86400,
        "iat": int(clock.now),
        "iss": ISSUER,
    }


def test_a_token_that_never_expires_has_no_exp(client: TestClient, clock: Clock) -> None:
    record, token = create(client, scopes=SCOPES)
    assert answer(client, token) == {
        "active": True,
        "scope": " ".join(SCOPES),
        "sub": f"api-token:{record.id}",
        "token_type": "Bearer",
        "iat": int(clock.now),
        "iss": ISSUER,
    }


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "api_token", "x" * 200])
def test_the_hint_changes_nothing(client: TestClient, hint: str) -> None:
    # RFC 7662 §2.1: the hint may be ignored; every kind is looked up.
    _, token = create(client)
    assert answer(client, token, token_type_hint=hint)["active"] is True


def test_json_bodies_and_body_credentials_work_too(client: TestClient) -> None:
    _, token = create(client)
    response = client.post(
        "/oauth/introspect",
        json={"token": token, "client_id": GATEWAY, "client_secret": GATEWAY_SECRET},
    )
    assert response.status_code == 200 and response.json()["active"] is True


def test_introspection_records_the_last_use(client: TestClient, clock: Clock) -> None:
    record, token = create(client)
    clock.advance(120)
    answer(client, token)
    found = call(client, store(client).get, record.id)
    assert found.last_used_at is not None and int(found.last_used_at.timestamp()) == int(clock.now)


# -- inactive: revoked, expired, unknown, garbage -------------------------------------------


def test_a_revoked_token_is_inactive_at_once(client: TestClient) -> None:
    record, token = create(client)
    assert answer(client, token)["active"] is True  # cached from now on
    call(client, store(client).revoke, record.id, by="cli")
    assert answer(client, token) == INACTIVE


def test_an_expired_token_is_inactive_from_its_exp(client: TestClient, clock: Clock) -> None:
    _, token = create(client, expires_in=3600)
    assert answer(client, token)["active"] is True
    clock.advance(3599)
    assert answer(client, token)["active"] is True  # from the cache
    clock.advance(1)
    assert answer(client, token) == INACTIVE


def with_checksum(head: str) -> str:
    return f"{head}_{_checksum(head)}"


def near_misses(real: str) -> list[str]:
    """Tokens an API may be handed that are not ``real``, nor any token."""
    body = base64.urlsafe_b64decode(real[4:47] + "=")
    other = "stk_" + base64.urlsafe_b64encode(bytes(b ^ 0xFF for b in body)).rstrip(b"=").decode()
    # 43 base64url characters carry 258 bits: a last character with a spare bit set
    # decodes to the same 256 bits, but is another string, so not the token.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = real[:46] + alphabet[alphabet.index(real[46]) ^ 1]
    return [
        "stk_",
        "stk_" + "A" * 43 + "_abcdef",  # the right shape, a wrong checksum
        real[:10] + ("A" if real[10] != "A" else "B") + real[11:],  # one character changed
        real[:-1] + ("0" if real[-1] != "0" else "1"),  # the checksum changed
        with_checksum(other),  # well-formed, with its checksum, never issued
        with_checksum(twin),  # non-canonical base64 of the same 256 bits
        real.upper(),
        "STK_" + real[4:],
        real + "\n",
        " " + real,
        real + real,
        real[:-7],  # without its checksum
        "Bearer " + real,
        token_hash(real),  # what the database keeps
        hashlib.sha256(real.encode()).hexdigest().upper(),
        "stk_" + "ü" * 43 + "_abcdef",  # the right length in characters, not ASCII
        "stk_" + "A" * 21 + "\x00" + "A" * 21 + "_abcdef",
        "stk_" + "A" * 3000,
        "stk_' OR '1'='1",
    ]


def test_garbage_and_near_misses_are_exactly_inactive(client: TestClient) -> None:
    _, real = create(client)
    for token in near_misses(real):
        assert answer(client, token) == INACTIVE, repr(token)
    assert answer(client, real)["active"] is True  # the real one, still fine


def test_the_ids_and_subjects_are_not_tokens(client: TestClient) -> None:
    record, _ = create(client)
    for token in (record.id, f"api-token:{record.id}", f"stk_{record.id}"):
        assert answer(client, token) == INACTIVE


def test_no_token_is_a_bad_request(client: TestClient) -> None:
    for data in ({"token_type_hint": "access_token"}, {"token": ""}):
        response = client.post(
            "/oauth/introspect", data=data, headers=basic(GATEWAY, GATEWAY_SECRET)
        )
        assert_error(response, 400, "invalid_request")
    _, token = create(client)
    repeated = client.post(
        "/oauth/introspect",
        content=f"token={token}&token={token}",
        headers={
            **basic(GATEWAY, GATEWAY_SECRET),
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert_error(repeated, 400, "invalid_request")


# -- who may ask ------------------------------------------------------------------------------


def test_only_an_introspect_client_learns_anything(client: TestClient) -> None:
    _, token = create(client)
    assert_error(
        client.post("/oauth/introspect", data={"token": token}, headers=basic(CRM, CRM_SECRET)),
        403,
        "access_denied",
    )
    for headers in (basic(GATEWAY, "wrong-" + "x" * 40), {}):
        response = client.post("/oauth/introspect", data={"token": token}, headers=headers)
        body = assert_error(response, 401, "invalid_client")
        assert token not in response.text and "api-token" not in str(body)


# -- revocation: not an OAuth client's to end -----------------------------------------------


def test_revoke_answers_200_and_changes_nothing(client: TestClient) -> None:
    record, token = create(client)
    for headers in (basic(CRM, CRM_SECRET), basic(GATEWAY, GATEWAY_SECRET)):
        response = client.post("/oauth/revoke", data={"token": token}, headers=headers)
        assert response.status_code == 200 and response.content == b""
    assert answer(client, token)["active"] is True
    kept = call(client, store(client).get, record.id)
    assert kept.revoked_at is None
    # Revoking one through the dashboard or the CLI is what ends it.
    call(client, store(client).revoke, record.id, by="cli")
    assert answer(client, token) == INACTIVE


def test_revoke_needs_the_same_client_authentication(client: TestClient) -> None:
    _, token = create(client)
    response = client.post("/oauth/revoke", data={"token": token})
    assert_error(response, 401, "invalid_client")
    assert answer(client, token)["active"] is True


# -- the database down: 503, fail closed ----------------------------------------------------


@contextlib.contextmanager
def outage(
    client: TestClient, database: DatabaseURL, request: pytest.FixtureRequest
) -> Iterator[None]:
    """The database stops answering (PostgreSQL refuses connections; SQLite's file is gone)."""
    engine = store(client).engine
    if database.sqlite_path is not None:
        path = database.sqlite_path
        call(client, engine.dispose)
        path.rename(path.with_suffix(".kept"))
        path.mkdir()  # not a database file: every connection fails
        try:
            yield
        finally:
            path.rmdir()
            path.with_suffix(".kept").rename(path)
        return
    server: Postgres = request.getfixturevalue("postgres")
    name = make_url(database.url.reveal().decode()).database
    server.run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    server.run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        yield
    finally:
        server.run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def assert_unavailable(response: Any) -> None:
    body = assert_error(response, 503, "temporarily_unavailable")
    assert response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert "active" not in body


def test_a_database_outage_is_a_503_never_active(
    client: TestClient, database: DatabaseURL, clock: Clock, request: pytest.FixtureRequest
) -> None:
    _, seen = create(client)
    _, unseen = create(client)
    assert answer(client, seen)["active"] is True  # cached: the documented 30 s bound
    with outage(client, database, request):
        response = introspect(client, unseen)
        assert_unavailable(response)
        assert unseen not in response.text
        # Garbage never reaches the database, and JWTs never need it.
        assert answer(client, "stk_" + "A" * 43 + "_abcdef") == INACTIVE
        assert answer(client, crm_token(client))["active"] is True
        # Revocation of an API token needs no database either.
        revoke = client.post(
            "/oauth/revoke", data={"token": unseen}, headers=basic(CRM, CRM_SECRET)
        )
        assert revoke.status_code == 200
        # The cached answer lasts no longer than its bound, outage or not.
        clock.advance(CACHE_TTL - 1)
        assert answer(client, seen)["active"] is True
        clock.advance(1)
        assert_unavailable(introspect(client, seen))
    # Back by itself, no restart.
    assert answer(client, unseen)["active"] is True
    assert answer(client, seen)["active"] is True


def test_an_unreachable_database_from_the_start(keyring: KeyRing, clock: Clock) -> None:
    down = database_url(f"postgresql://u:p@127.0.0.1:{free_port()}/none", Path("."))
    settings = make_settings(clients=CLIENTS, store=StoreConfig(down, api_scopes=SCOPES))
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    with TestClient(create_app(settings, components=components), base_url=ISSUER) as client:
        token = new_token()
        response = introspect(client, token)
        assert_unavailable(response)
        assert token not in response.text and "u:p" not in response.text


# -- no database: API tokens are simply inactive --------------------------------------------


def test_without_a_database_an_api_token_is_inactive(client_factory: ClientFactory) -> None:
    client = client_factory(clients=CLIENTS)
    assert components(client).token_store is None
    token = new_token()
    assert answer(client, token) == INACTIVE
    response = client.post("/oauth/revoke", data={"token": token}, headers=basic(CRM, CRM_SECRET))
    assert response.status_code == 200 and response.content == b""
