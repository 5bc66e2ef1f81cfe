"""The admin API over HTTP (web/adminapi.py) and its rules (service/admin/), on a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.config.store import DatabaseURL
from service.signing.keys import KeyRing
from service.store import db
from service.web.app import create_app
from service.wiring import build_components, prepare_database
from tests.conftest import ISSUER, ORIGIN, SHOP, Clock, make_settings
from tests.helpers import make_token, store_config
from tests.oauth_clients import CLIENTS, CRM, GATEWAY, GATEWAY_SECRET, basic

API = "/admin/api/v1"
NEW = {"client_id": "billing", "scopes": ["invoices:read"], "token_ttl": 600}


class Admin:
    """A running app, an `admin` API token and helpers to call the admin API."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(API + path, headers=self.headers, **kwargs)

    def post(self, path: str, body: object = None, **kwargs: Any) -> Any:
        return self.client.post(API + path, json=body, headers=self.headers, **kwargs)

    def patch(self, path: str, body: object, headers: dict[str, str] | None = None) -> Any:
        return self.client.patch(API + path, json=body, headers={**self.headers, **(headers or {})})

    def delete(self, path: str) -> Any:
        return self.client.delete(API + path, headers=self.headers)

    def events(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/audit", params=params)
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def client_token(self, client_id: str, secret: str) -> Any:
        return self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client_id, secret),
        )

    def introspect(self, token: str) -> dict[str, Any]:
        response = self.client.post(
            "/oauth/introspect", data={"token": token}, headers=basic(GATEWAY, GATEWAY_SECRET)
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
def migrated_database(database: DatabaseURL) -> DatabaseURL:
    db.prepare(database, migrate=True)
    return database


@pytest.fixture
def admin(migrated_database: DatabaseURL, keyring: KeyRing, clock: Clock) -> Iterator[Admin]:
    settings = make_settings(store=store_config(migrated_database), clients=CLIENTS)
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    with TestClient(create_app(settings, components=components), base_url=ISSUER) as client:
        yield Admin(client, make_token(migrated_database, ["admin"]))


def create(admin: Admin, **fields: Any) -> dict[str, Any]:
    response = admin.post("/clients", {**NEW, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_only_an_admin_api_token_gets_in(admin: Admin, migrated_database: DatabaseURL) -> None:
    bare = admin.client.get(f"{API}/clients")
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_token"
    assert bare.headers["www-authenticate"] == "Bearer"
    wrong = admin.client.get(f"{API}/clients", headers={"Authorization": "Bearer stk_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    reader = make_token(migrated_database, ["profiles:read"], name="reader")
    refused = admin.client.get(f"{API}/clients", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
    # The dashboard's cookie is no way in: only the bearer token counts.
    admin.client.cookies.set("shapestoken_admin", "anything")
    assert admin.client.get(f"{API}/clients").status_code == 401


def test_a_new_client_gets_tokens_at_once_and_its_secret_is_shown_once(admin: Admin) -> None:
    created = create(admin)
    secret = created.pop("client_secret")
    assert len(secret) == 43
    assert created["source"] == "database" and created["type"] == "confidential"
    assert created["audiences"] == [ISSUER] and created["grant_types"] == ["client_credentials"]
    assert created["disabled"] is False and created["version"] == 1
    issued = admin.client_token("billing", secret)
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "invoices:read"
    assert admin.introspect(issued.json()["access_token"])["client_id"] == "billing"
    # Listed with the config's clients, without any secret.
    listed = admin.get("/clients").json()["clients"]
    sources = {client["client_id"]: client["source"] for client in listed}
    assert sources["billing"] == "database" and sources[CRM] == "config"
    shown = admin.get("/clients/billing")
    assert shown.status_code == 200 and "client_secret" not in shown.json()
    assert secret not in json.dumps(listed)
    (event,) = admin.events(action="client.create")
    assert event["actor"].startswith("token:") and event["target"] == "billing"
    # RFC 8414 metadata lists its scopes too.
    metadata = admin.client.get("/.well-known/oauth-authorization-server").json()
    assert "invoices:read" in metadata["scopes_supported"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"token_ttl": 5}, "token_ttl"),
        # Past the config's longest lifetime (3600 here), which sizes the key windows.
        ({"token_ttl": 7200}, "token_ttl"),
        ({"scopes": []}, "scopes"),
        ({"colour": "blue"}, "colour"),
        ({"client_id": "x"}, "client_id"),
        ({"client_id": "12345"}, "client_id"),
        ({"type": "robot"}, "type"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"allowed_origins": [ORIGIN]}, "allowed_origins"),  # confidential: never a browser
        ({"type": "public", "introspect": True}, "introspect"),
        ({"type": "public", "grant_types": ["client_credentials"]}, "grant_types"),
    ],
)
def test_bad_metadata_is_refused_naming_the_field(
    admin: Admin, fields: dict[str, Any], named: str
) -> None:
    response = admin.post("/clients", {**NEW, **fields})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_client_metadata"
    assert body["error_description"].startswith(named), body


def test_the_same_message_as_the_config_file(admin: Admin) -> None:
    from service.config.clients import parse_client
    from service.errors import ConfigError

    table = {"scopes": ["a"], "grant_types": ["client_credentials"]}
    with pytest.raises(ConfigError) as caught:
        parse_client("web", table, issuer=ISSUER)
    response = admin.post("/clients", {"client_id": "web", "type": "public", **table})
    config_message = str(caught.value).removeprefix("clients.web.")
    assert response.json()["error_description"] == config_message


def test_a_config_client_is_read_only_and_its_id_taken(admin: Admin) -> None:
    taken = admin.post("/clients", {**NEW, "client_id": CRM})
    assert taken.status_code == 409 and taken.json()["error"] == "client_exists"
    create(admin)
    again = admin.post("/clients", NEW)
    assert again.status_code == 409 and again.json()["error"] == "client_exists"
    for response in (
        admin.patch(f"/clients/{CRM}", {"token_ttl": 600}),
        admin.post(f"/clients/{CRM}/secret", {}),
        admin.delete(f"/clients/{CRM}"),
    ):
        assert response.status_code == 409 and response.json()["error"] == "read_only"
    assert admin.get(f"/clients/{CRM}").json()["source"] == "config"


def test_a_patch_naming_a_stale_version_changes_nothing(admin: Admin) -> None:
    create(admin)
    changed = admin.patch("/clients/billing", {"token_ttl": 900, "version": 1})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = admin.patch("/clients/billing", {"token_ttl": 120, "version": 1})
    assert stale.status_code == 409 and stale.json()["error"] == "version_conflict"
    stale_header = admin.patch("/clients/billing", {"token_ttl": 120}, {"If-Match": '"1"'})
    assert stale_header.status_code == 409
    fresh_header = admin.patch("/clients/billing", {"token_ttl": 120}, {"If-Match": '"2"'})
    assert fresh_header.status_code == 200 and fresh_header.json()["token_ttl"] == 120
    bad = admin.patch("/clients/billing", {"token_ttl": 10})
    assert bad.status_code == 400 and bad.json()["error_description"].startswith("token_ttl")
    fixed = admin.patch("/clients/billing", {"type": "public"})
    assert fixed.status_code == 400 and fixed.json()["error"] == "invalid_client_metadata"
    assert admin.get("/clients/billing").json()["token_ttl"] == 120
    missing = admin.patch("/clients/nobody", {"token_ttl": 900})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_rotation_keeps_the_previous_secret_for_a_while(admin: Admin, clock: Clock) -> None:
    old = create(admin)["client_secret"]
    rotated = admin.post("/clients/billing/secret", {"keep_previous_seconds": 60})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["client_secret"]
    assert new != old
    assert admin.client_token("billing", new).status_code == 200
    assert admin.client_token("billing", old).status_code == 200
    clock.advance(61)
    assert admin.client_token("billing", old).status_code == 401
    assert admin.client_token("billing", new).status_code == 200
    # Without keep_previous_seconds (an empty body), the old secret stops at once.
    newest = admin.post("/clients/billing/secret").json()["client_secret"]
    assert admin.client_token("billing", new).status_code == 401
    assert admin.client_token("billing", newest).status_code == 200
    events = admin.events(action="client.rotate_secret")
    assert [event["details"] for event in events] == [
        {"keep_previous_seconds": 0},
        {"keep_previous_seconds": 60},
    ]


@pytest.mark.parametrize(
    "body", [{"keep_previous_seconds": -1}, {"keep_previous_seconds": 604801}, {"keep": 1}]
)
def test_a_bad_rotation_is_refused_naming_the_field(admin: Admin, body: dict[str, Any]) -> None:
    create(admin)
    response = admin.post("/clients/billing/secret", body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "keep" in response.json()["error_description"]


def test_disabling_ends_its_tokens_and_enabling_does_not_revive_them(
    admin: Admin, clock: Clock
) -> None:
    secret = create(admin)["client_secret"]
    before = admin.client_token("billing", secret).json()["access_token"]
    clock.advance(5)
    assert admin.patch("/clients/billing", {"disabled": True}).status_code == 200
    refused = admin.client_token("billing", secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert admin.introspect(before) == {"active": False}
    clock.advance(5)
    assert admin.patch("/clients/billing", {"disabled": False}).status_code == 200
    after = admin.client_token("billing", secret)
    assert after.status_code == 200
    assert admin.introspect(after.json()["access_token"])["active"] is True
    assert admin.introspect(before) == {"active": False}


def test_a_deleted_client_is_gone_and_its_id_can_be_used_again(admin: Admin, clock: Clock) -> None:
    secret = create(admin)["client_secret"]
    before = admin.client_token("billing", secret).json()["access_token"]
    clock.advance(5)
    assert admin.delete("/clients/billing").status_code == 204
    assert admin.get("/clients/billing").status_code == 404
    assert admin.delete("/clients/billing").status_code == 404
    assert admin.client_token("billing", secret).status_code == 401
    assert admin.introspect(before) == {"active": False}
    clock.advance(5)
    again = create(admin)["client_secret"]
    assert admin.client_token("billing", again).status_code == 200
    # The old client's tokens stay inactive under the new one.
    assert admin.introspect(before) == {"active": False}


def test_a_public_clients_origins_reach_the_token_endpoints_cors(admin: Admin) -> None:
    origin = "https://app.example.org"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    assert admin.client.options("/oauth/token", headers=preflight).status_code == 403
    created = create(
        admin,
        client_id="guest-web",
        type="public",
        scopes=["catalog:read"],
        allowed_origins=[origin],
    )
    assert "client_secret" not in created and created["grant_types"] == ["implicit"]
    allowed = admin.client.options("/oauth/token", headers=preflight)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == origin
    token = admin.client.post(
        "/oauth/token",
        data={"grant_type": "implicit", "client_id": "guest-web"},
        headers={"Origin": origin},
    )
    assert token.status_code == 200 and token.headers["access-control-allow-origin"] == origin


def test_blocks_need_shared_state(admin: Admin) -> None:
    response = admin.post("/blocks", {"shop": SHOP, "customer_id": "42"})
    assert response.status_code == 409 and response.json()["error"] == "shared_state_required"
    assert admin.get("/blocks").status_code == 409


def test_tokens_over_the_api(admin: Admin) -> None:
    made = admin.post("/tokens", {"name": "deploy-bot", "scopes": ["admin"]})
    assert made.status_code == 201, made.text
    body = made.json()
    token, token_id = body.pop("token"), body["id"]
    assert body["scopes"] == ["admin"] and body["created_by"].startswith("token:")
    listed = admin.get("/tokens").json()["tokens"]
    assert token_id in {row["id"] for row in listed} and token not in json.dumps(listed)
    # The new admin token works, until it is revoked.
    other = {"Authorization": f"Bearer {token}"}
    assert admin.client.get(f"{API}/tokens", headers=other).status_code == 200
    assert admin.delete(f"/tokens/{token_id}").status_code == 204
    assert admin.client.get(f"{API}/tokens", headers=other).status_code == 401
    assert admin.delete("/tokens/nosuchtoken1").status_code == 404
    bad = admin.post("/tokens", {"name": "x", "scopes": ["root"]})
    assert bad.status_code == 400 and "scopes" in bad.json()["error_description"]
    # One default lifetime everywhere: the API's is the CLI's and the dashboard's.
    default = admin.post("/tokens", {"name": "d", "scopes": ["profiles:read"]})
    assert default.status_code == 201, default.text
    row = default.json()
    days = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
    assert days == timedelta(days=90)
    never = admin.post(
        "/tokens", {"name": "n", "scopes": ["profiles:read"], "expires_in_days": None}
    )
    assert never.status_code == 201 and never.json()["expires_at"] is None
    bad_days = admin.post("/tokens", {"name": "x", "scopes": ["admin"], "expires_in_days": 0})
    assert bad_days.status_code == 400 and "expires_in_days" in bad_days.json()["error_description"]


def test_the_audit_pages_newest_first_and_never_holds_a_secret(admin: Admin) -> None:
    secret = create(admin)["client_secret"]
    rotated = admin.post("/clients/billing/secret", {}).json()["client_secret"]
    admin.patch("/clients/billing", {"disabled": True})
    token = admin.post("/tokens", {"name": "bot", "scopes": ["admin"]}).json()["token"]
    admin.delete("/clients/billing")
    events = admin.events()
    assert [event["action"] for event in events] == [
        "client.delete",
        "token.create",
        "client.update",
        "client.rotate_secret",
        "client.create",
    ]
    assert all(event["at"].endswith("Z") for event in events)
    page = admin.events(limit=2, before=events[1]["id"])
    assert [event["id"] for event in page] == [events[2]["id"], events[3]["id"]]
    dumped = json.dumps(events)
    for value in (secret, rotated, token, admin.token):
        assert value not in dumped
    for params in ({"limit": "0"}, {"limit": "501"}, {"before": "x"}, {"action": "nope"}):
        response = admin.get("/audit", params=params)
        assert response.status_code == 400, params


def test_start_up_refuses_a_config_client_that_is_also_in_the_database(
    admin: Admin, migrated_database: DatabaseURL
) -> None:
    from service.config import ClientConfig
    from service.errors import ConfigError

    create(admin)
    billing = ClientConfig(
        "billing",
        secret_hashes=(b"0" * 32,),
        scopes=("a",),
        audiences=(ISSUER,),
        grant_types=frozenset({"client_credentials"}),
    )
    settings = make_settings(
        store=store_config(migrated_database), clients={**CLIENTS, "billing": billing}
    )
    with pytest.raises(ConfigError, match='clients."billing"'):
        prepare_database(settings)


def test_a_database_that_cannot_answer_is_a_503(
    tmp_path: Path, keyring: KeyRing, clock: Clock
) -> None:
    from service.config.store import database_url
    from service.store.stk import new_token
    from tests.servers import free_port

    down = database_url(f"postgresql://u@127.0.0.1:{free_port()}/x", tmp_path)
    settings = make_settings(store=store_config(down), clients=CLIENTS)
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    client = TestClient(create_app(settings, components=components), base_url=ISSUER)
    headers = {"Authorization": f"Bearer {new_token()}"}  # well formed: it is looked up
    response = client.get(f"{API}/clients", headers=headers)
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "1"


def test_another_process_sees_a_change_when_it_polls_the_counter(
    admin: Admin, migrated_database: DatabaseURL, keyring: KeyRing, clock: Clock
) -> None:
    """A second replica on the same database: it applies a change at its next poll
    (every second when it runs), not before, and a poll with no change reads nothing."""
    settings = make_settings(store=store_config(migrated_database), clients=CLIENTS)
    replica = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    assert replica.admin is not None
    runtime = replica.admin.runtime
    other = TestClient(create_app(settings, components=replica), base_url=ISSUER)

    def poll() -> bool:
        async def run() -> bool:
            try:
                return await runtime.poll()
            finally:
                await replica.token_store.aclose()  # type: ignore[union-attr]

        return asyncio.run(run())

    assert poll() is True  # the first poll reads everything
    assert poll() is False  # nothing changed: the counter alone is read
    secret = create(admin)["client_secret"]
    assert (
        other.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic("billing", secret),
        ).status_code
        == 401
    )
    assert poll() is True
    token = other.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("billing", secret)
    )
    assert token.status_code == 200
    clock.advance(5)
    assert admin.patch("/clients/billing", {"disabled": True}).status_code == 200
    assert poll() is True
    refused = other.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("billing", secret)
    )
    assert refused.status_code == 401


def test_no_runtime_client_outlives_the_configs_longest_token(admin: Admin) -> None:
    # The config's longest lifetime sizes how long a retired key stays published.
    response = admin.post("/clients", {**NEW, "token_ttl": 3601})
    assert response.status_code == 400
    assert "at most 3600 here" in response.json()["error_description"]
    assert admin.post("/clients", {**NEW, "token_ttl": 3600}).status_code == 201
