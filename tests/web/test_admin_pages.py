"""The dashboard's runtime pages over HTTP: Clients, Blocked customers, Keys, Activity."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.config import RedisURL
from service.config.state import parse_state
from service.signing.keys import KeyRing
from service.state.redis import RedisState
from service.web.app import create_app
from service.wiring import build_components
from tests.conftest import ISSUER, SHOP, Clock, make_settings, sign
from tests.dashboard import add_token, csrf_of, sign_in
from tests.helpers import migrated, store_config
from tests.oauth_clients import CRM, basic
from tests.redis_server import RedisServer

SECRET = re.compile(r'<textarea id="new-secret"[^>]*>([A-Za-z0-9_-]{43})</textarea>')


@pytest.fixture
def client(request: pytest.FixtureRequest) -> TestClient:
    """The dashboard on a migrated SQLite database, with the OAuth test clients."""
    made: TestClient = request.getfixturevalue("make_client")()
    return made


def new_client(client: TestClient, **fields: str) -> Any:
    page = client.get("/admin/clients/new")
    assert page.status_code == 200
    nonce = re.search(r'name="form" value="([^"]+)"', page.text)
    assert nonce
    data = {"csrf": csrf_of(page.text), "form": nonce[1], "client_id": "billing"}
    data |= {"type": "confidential", "scopes": "invoices:read", **fields}
    return client.post("/admin/clients/new", data=data)


def form_post(client: TestClient, page: str, action: str, **fields: str) -> Any:
    csrf = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": csrf, **fields})


def test_every_page_asks_for_a_session(client: TestClient) -> None:
    for path in (
        "/admin/clients",
        "/admin/clients/new",
        "/admin/blocks",
        "/admin/keys",
        "/admin/activity",
    ):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/admin/login"


def test_a_client_is_added_its_secret_shown_once_and_it_gets_tokens(client: TestClient) -> None:
    sign_in(client)
    created = new_client(client)
    assert created.status_code == 200
    match = SECRET.search(created.text)
    assert match, created.text
    secret = match[1]
    assert "only" in created.text and "time the secret is shown" in created.text
    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("billing", secret)
    )
    assert token.status_code == 200
    listed = client.get("/admin/clients")
    assert "billing" in listed.text and "runtime" in listed.text and "config file" in listed.text
    assert secret not in listed.text and secret not in client.get("/admin/clients/billing").text
    # The same form again (a reload): no second client, no secret.
    again = client.post("/admin/clients/new", data={"csrf": csrf_of(listed.text), "form": "old"})
    assert again.status_code == 303 and "shown_once" in again.headers["location"]


def test_a_bad_field_comes_back_by_the_form(client: TestClient) -> None:
    sign_in(client)
    refused = new_client(client, token_ttl="5", scopes="invoices:read orders:read")
    assert refused.status_code == 422
    assert "token_ttl: expected an integer from 60 to 86400" in refused.text
    assert 'value="invoices:read orders:read"' in refused.text


def test_edit_rotate_disable_and_delete(client: TestClient) -> None:
    sign_in(client)
    new_client(client)
    page = "/admin/clients/billing"
    saved = form_post(client, page, page, scopes="invoices:read invoices:write", version="1")
    assert saved.status_code == 303
    assert "invoices:write" in client.get(page).text
    stale = form_post(client, page, page, scopes="invoices:read", version="1")
    assert stale.status_code == 422 and "changed since you read it" in stale.text
    rotated = form_post(client, page, f"{page}/secret", keep_previous_seconds="3600")
    assert rotated.status_code == 200 and SECRET.search(rotated.text)
    disabled = form_post(client, page, f"{page}/disabled", disabled="true")
    assert disabled.status_code == 303
    assert "Enable client" in client.get(page).text
    deleted = form_post(client, f"{page}/delete", f"{page}/delete")
    assert deleted.status_code == 303
    assert client.get(page).status_code == 404


def test_a_config_client_is_read_only(client: TestClient) -> None:
    sign_in(client)
    page = client.get(f"/admin/clients/{CRM}")
    assert (
        page.status_code == 200
        and "read-only" in page.text
        and '<form method="post" action="/admin/clients/' not in page.text
    )
    refused = form_post(client, f"/admin/clients/{CRM}", f"/admin/clients/{CRM}", scopes="x")
    assert refused.status_code == 409


@pytest.mark.parametrize(
    "path",
    [
        "/admin/clients/new",
        "/admin/clients/billing",
        "/admin/clients/billing/secret",
        "/admin/clients/billing/disabled",
        "/admin/clients/billing/delete",
        "/admin/blocks",
        "/admin/blocks/acme.myshopify.com/42/unblock",
    ],
)
def test_every_form_needs_its_csrf_token(client: TestClient, path: str) -> None:
    sign_in(client)
    assert client.post(path, data={"csrf": "forged"}).status_code == 403


def test_blocks_need_redis_and_keys_and_activity_show(client: TestClient) -> None:
    sign_in(client)
    blocks = client.get("/admin/blocks")
    assert blocks.status_code == 200 and "Blocks need shared state" in blocks.text
    keys = client.get("/admin/keys")
    assert keys.status_code == 200 and "signing" in keys.text and "ES256" in keys.text
    new_client(client)
    activity = client.get("/admin/activity")
    assert "client.create" in activity.text and "admin.sign_in" in activity.text
    filtered = client.get("/admin/activity?action=client.create")
    assert (
        "client.create" in filtered.text
        and '<td data-label="Action"><code>admin.sign_in' not in filtered.text
    )


def test_an_admin_token_needs_a_confirmation(client: TestClient) -> None:
    sign_in(client)
    unconfirmed = add_token(client, scope=["admin"])
    assert unconfirmed.status_code == 422 and "tick the confirmation" in unconfirmed.text
    confirmed = add_token(client, scope=["admin"], confirm_admin="on")
    assert confirmed.status_code == 200
    token = re.search(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}", confirmed.text)
    assert token
    # It opens the admin API.
    headers = {"Authorization": f"Bearer {token[0]}"}
    assert client.get("/admin/api/v1/clients", headers=headers).status_code == 200


def test_blocked_customers_with_redis_state(
    tmp_path: Path, keyring: KeyRing, clock: Clock, redis_server: RedisServer
) -> None:
    settings = make_settings(store=store_config(migrated(tmp_path)))
    target = parse_state(redis_server.url)
    assert isinstance(target, RedisURL)
    state = RedisState.from_url(
        target,
        settings.rate_limits.rates(),  # the dashboard's sign-in limit too
        max_token_ttl=settings.max_token_ttl,
        prefix=f"test-{secrets.token_hex(6)}:",
    )
    components = build_components(
        settings, keyring=keyring, state=state, now=clock, monotonic=clock
    )
    app = create_app(settings, components=components)
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        sign_in(client)
        blocked = form_post(
            client, "/admin/blocks", "/admin/blocks", shop=SHOP, customer_id="4242", reason="fraud"
        )
        assert blocked.status_code == 303 and "notice=blocked" in blocked.headers["location"]
        row = re.search(r"<tr>.*?4242.*?</tr>", client.get("/admin/blocks").text, re.S)
        assert row and "fraud" in row[0] and "by admin:admin" in row[0]
        mint = client.post(
            f"/v1/shops/{SHOP}/customer-token", json={"id": "4242", "signature": sign("4242")}
        )
        assert mint.status_code == 403 and mint.json()["error"] == "customer_blocked"
        unblock = f"/admin/blocks/{SHOP}/4242/unblock"
        assert form_post(client, "/admin/blocks", unblock).status_code == 303
        assert "4242" not in client.get("/admin/blocks").text
        assert form_post(client, "/admin/blocks", unblock).status_code == 404
        activity = client.get("/admin/activity").text
        assert "block.create" in activity and "block.delete" in activity
