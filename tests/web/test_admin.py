"""The /admin dashboard over HTTP: sign-in, sessions, CSRF, every bad input (web/admin/)."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, Clock
from tests.dashboard import add_token, csrf_of, new_token_form, sign_in
from tests.helpers import SESSION_SECRET
from tests.oauth_clients import answer

TOKEN = re.compile(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}")


class Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def actions(self) -> list[dict[str, Any]]:
        return [r.fields for r in self.records if r.getMessage() == "admin"]  # type: ignore[attr-defined]

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in self.records)


@pytest.fixture
def audit() -> Iterator[Log]:
    handler = Log()
    logger = logging.getLogger("shapestoken")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def client(make_client: Any) -> TestClient:
    result: TestClient = make_client()
    return result


def services_of(client: TestClient) -> Any:
    app: Any = client.app
    return app.state.components


def stored(client: TestClient) -> list[Any]:
    store = services_of(client).token_store
    assert client.portal is not None
    result: list[Any] = client.portal.call(store.list)
    return result


# -- on, off, and the cookie ----------------------------------------------------------------


def test_without_a_password_hash_there_is_no_dashboard(make_client: Any) -> None:
    client = make_client(admin=False)
    for path in ("/admin/", "/admin/login", "/admin/static/admin.css"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_session_cookie(client: TestClient) -> None:
    response = client.get("/admin/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("shapestoken_admin=")
    for flag in ("path=/admin", "Max-Age=43200", "httponly", "samesite=strict", "secure"):
        assert flag in cookie
    for name, value in {
        "content-security-policy": "default-src 'none'; style-src 'self'; script-src 'self'",
        "x-frame-options": "DENY",
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
    }.items():
        assert response.headers[name].startswith(value)


def test_the_cookie_is_not_secure_on_a_localhost_issuer(make_client: Any) -> None:
    client = make_client(issuer="http://127.0.0.1:8000")
    cookie = client.get("/admin/login").headers["set-cookie"]
    assert "samesite=strict" in cookie and "secure" not in cookie


def test_the_address_without_its_slash_leads_to_the_dashboard(client: TestClient) -> None:
    response = client.get("/admin", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/admin/"
    # A Host header chosen by the caller does not end up in the Location.
    response = client.get("/admin", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.headers["location"] == "/admin/"


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/admin/", "/admin/tokens/new", "/admin/tokens/abcdefghjkmn/revoke"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/admin/login"


# -- signing in -----------------------------------------------------------------------------


def test_a_wrong_password_shows_the_form_again_and_is_logged(
    client: TestClient, audit: Log
) -> None:
    response = sign_in(client, "not the password")
    assert response.status_code == 422
    assert "Wrong name or password." in response.text and 'name="password"' in response.text
    assert "not the password" not in response.text
    assert client.get("/admin/").status_code == 303
    assert audit.actions() == [{"action": "login_failed", "who": "admin", "ip": "testclient"}]
    assert "not the password" not in audit.text()


def test_sign_in_is_limited_to_ten_a_minute_per_address(client: TestClient, clock: Clock) -> None:
    for _ in range(10):
        assert sign_in(client, "guess").status_code == 422
    refused = sign_in(client)  # even the right password
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "Too many attempts" in refused.text
    clock.advance(60)
    assert sign_in(client).status_code == 303


def test_sign_in_out_and_the_cookie_from_before_logout(client: TestClient, audit: Log) -> None:
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200 and "No tokens yet" in page.text
    old_cookie = client.cookies["shapestoken_admin"]
    out = client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login?notice=signed_out"
    assert "You are signed out." in client.get("/admin/login?notice=signed_out").text
    assert client.get("/admin/").status_code == 303
    # The cookie copied before logout still has a good signature, and opens nothing.
    client.cookies.clear()
    client.cookies.set("shapestoken_admin", old_cookie, domain="tokens.example.com", path="/admin")
    assert client.get("/admin/").status_code == 303
    denied = client.post(
        "/admin/tokens/new",
        data={"csrf": csrf_of(page.text), "name": "x", "scope": "profiles:read", "expires": "7d"},
    )
    assert denied.status_code == 403 and stored(client) == []
    assert [a["action"] for a in audit.actions()] == ["login", "logout"]
    assert audit.actions()[0]["session"] == audit.actions()[1]["session"]


def test_a_session_ends_after_twelve_hours(client: TestClient, clock: Clock) -> None:
    sign_in(client)
    clock.advance(12 * 3600 - 1)
    assert client.get("/admin/").status_code == 200
    clock.advance(1)
    assert client.get("/admin/").status_code == 303


def test_a_notice_is_never_taken_from_the_url(client: TestClient) -> None:
    page = client.get("/admin/login", params={"notice": "<script>alert(1)</script>"})
    assert "<script>alert" not in page.text and "alert(1)" not in page.text


# -- tokens -----------------------------------------------------------------------------------


def test_add_a_token_see_it_once_then_revoke_it(client: TestClient, audit: Log) -> None:
    sign_in(client)
    created = add_token(client, scope=["profiles:read", "orders:read"])
    assert created.status_code == 200
    token = TOKEN.search(created.text)
    assert token is not None
    assert "you won't be able to see it again" in created.text
    assert created.headers["cache-control"] == "no-store"
    active = answer(client, token[0])
    assert active["active"] is True and active["scope"] == "profiles:read orders:read"
    token_id = str(active["sub"]).removeprefix("api-token:")

    listing = client.get("/admin/")
    assert "crm-sync" in listing.text and token_id in listing.text
    assert token[0] not in listing.text and TOKEN.search(listing.text) is None

    confirm = client.get(f"/admin/tokens/{token_id}/revoke")
    assert confirm.status_code == 200 and "Revoke “crm-sync”?" in confirm.text
    # Without Redis the other server processes see it when their caches expire.
    assert "refused everywhere within 30 seconds" in confirm.text
    done = client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/admin/?notice=revoked"
    assert answer(client, token[0]) == {"active": False}
    after = client.get("/admin/?notice=revoked").text
    assert "The token is revoked." in after and "badge revoked" in after
    # The list says when and by whom.
    assert re.search(
        r"badge revoked\">revoked</span><span class=\"by\"> [0-9-]+ [0-9:]+ UTC by admin:admin<",
        after,
    )
    assert "refused everywhere within 30 seconds" in after

    actions = audit.actions()
    assert [a["action"] for a in actions] == ["login", "token_created", "token_revoked"]
    assert actions[1]["token_id"] == actions[2]["token_id"] == token_id
    assert token[0] not in audit.text() and token[0][4:47] not in audit.text()


def test_resubmitting_the_form_makes_no_second_token(client: TestClient) -> None:
    sign_in(client)
    form = {**new_token_form(client), "name": "pos", "scope": "orders:read", "expires": "never"}
    first = client.post("/admin/tokens/new", data=form)
    assert first.status_code == 200 and TOKEN.search(first.text)
    again = client.post("/admin/tokens/new", data=form)  # a browser reload re-POSTs
    assert again.status_code == 303 and again.headers["location"] == "/admin/?notice=shown_once"
    assert TOKEN.search(again.text) is None
    assert len(stored(client)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Name: required"),
        ({"name": "    "}, "Name: required"),
        ({"name": "x" * 101}, "Name: at most 100 characters"),
        ({"name": "crm\x07sync"}, "Name: no control characters"),
        ({"scope": []}, "Scopes: choose at least one"),
        ({"scope": ["admin:all"]}, "Scopes: unknown scope &#39;admin:all&#39;"),
        ({"scope": ["<b>x</b>"]}, "Scopes: unknown scope &#39;&lt;b&gt;x&lt;/b&gt;&#39;"),
        ({"expires": "forever"}, "Expiry: choose one of the listed lifetimes"),
        ({"expires": "0d"}, "Expiry: choose one of the listed lifetimes"),
        ({"expires": ["7d", "30d"]}, "Expiry: choose one of the listed lifetimes"),
    ],
)
def test_bad_form_input_names_the_field_and_stores_nothing(
    client: TestClient, fields: dict[str, Any], message: str
) -> None:
    sign_in(client)
    response = add_token(client, **fields)
    assert response.status_code == 422
    assert message in response.text and response.text.count('class="field-error"') == 1
    assert stored(client) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("name=" + "x" * 9000, "application/x-www-form-urlencoded", 413),
        ("&".join(f"scope=s{i}" for i in range(80)), "application/x-www-form-urlencoded", 400),
        ("name=%ff%fe", "application/x-www-form-urlencoded", 400),
        ("=&&=", "application/x-www-form-urlencoded", 400),
        ('{"name": "crm"}', "application/json", 415),
        ("name=crm", "multipart/form-data; boundary=x", 415),
    ],
)
def test_malformed_bodies_are_refused_without_a_stack_trace(
    client: TestClient, body: str, content_type: str, status: int
) -> None:
    sign_in(client)
    csrf = new_token_form(client)["csrf"]
    response = client.post(
        "/admin/tokens/new",
        content=f"csrf={csrf}&{body}".encode("latin-1")
        if "form-urlencoded" in content_type
        else body,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == status
    assert "Traceback" not in response.text and response.headers["content-type"].startswith(
        "text/html"
    )
    assert stored(client) == []


def test_unknown_and_malformed_token_ids_are_404(client: TestClient) -> None:
    sign_in(client)
    for token_id in ("abcdefghjkmn", "ABCDEFGHJKMN", "x" * 300, "%00"):
        response = client.get(f"/admin/tokens/{token_id}/revoke")
        assert response.status_code == 404 and "There is no such token." in response.text


# -- CSRF and tampering -----------------------------------------------------------------------


def test_posts_without_a_valid_csrf_token_are_403_and_change_nothing(
    client: TestClient, make_client: Any
) -> None:
    sign_in(client)
    add_token(client)
    (record,) = stored(client)
    form = new_token_form(client)
    other = make_client()
    sign_in(other)
    foreign = csrf_of(other.get("/admin/").text)  # another session's valid token
    for csrf in (None, "", "wrong", foreign, [form["csrf"], form["csrf"]]):
        data: dict[str, Any] = {
            "form": form["form"],
            "name": "x",
            "scope": "profiles:read",
            "expires": "7d",
        }
        revoke: dict[str, Any] = {}
        if csrf is not None:
            data["csrf"] = revoke["csrf"] = csrf
        for path, fields in (
            ("/admin/tokens/new", data),
            (f"/admin/tokens/{record.id}/revoke", revoke),
            ("/admin/logout", revoke),
        ):
            response = client.post(path, data=fields)
            assert response.status_code == 403, (path, csrf)
            assert "did not come from this dashboard" in response.text
    # A script asking for JSON gets the error as JSON.
    response = client.post("/admin/logout", headers={"Accept": "application/json"})
    assert response.status_code == 403 and response.json()["error"] == "invalid_csrf_token"
    assert [t.revoked_at for t in stored(client)] == [None] and len(stored(client)) == 1
    assert client.get("/admin/").status_code == 200  # still signed in


def test_the_login_form_needs_its_csrf_token_too(client: TestClient) -> None:
    response = client.post("/admin/login", data={"password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert client.get("/admin/").status_code == 303


def _cookie_payload(cookie: str) -> dict[str, Any]:
    data = cookie.split(".")[0]
    payload: dict[str, Any] = json.loads(base64.b64decode(data))
    return payload


def test_an_edited_session_cookie_opens_nothing(client: TestClient) -> None:
    sign_in(client)
    cookie = client.cookies["shapestoken_admin"]
    payload = _cookie_payload(cookie)
    assert set(payload) == {"sid", "csrf", "admin"} and payload["admin"] == "admin"
    forged_payload = base64.b64encode(json.dumps({**payload, "sid": "x" * 43}).encode()).decode()
    edits = [
        cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"),  # the signature
        forged_payload + cookie[len(cookie.split(".")[0]) :],  # the data, old signature
        TimestampSigner("not-the-secret-" + "y" * 32).sign(forged_payload.encode()).decode(),
        "null",
        "",
    ]
    for edited in edits:
        client.cookies.clear()
        client.cookies.set("shapestoken_admin", edited, domain="tokens.example.com", path="/admin")
        assert client.get("/admin/").status_code == 303, edited
        response = client.post(
            "/admin/tokens/new",
            data={"csrf": payload["csrf"], "name": "x", "scope": "profiles:read"},
        )
        assert response.status_code == 403
    assert stored(client) == []


def test_a_validly_signed_session_with_a_made_up_id_opens_nothing(client: TestClient) -> None:
    # Even with the session secret, only a session started by a sign-in is one.
    data = base64.b64encode(json.dumps({"sid": "made-up", "csrf": "c" * 43}).encode())
    cookie = TimestampSigner(SESSION_SECRET).sign(data).decode()
    client.cookies.set("shapestoken_admin", cookie, domain="tokens.example.com", path="/admin")
    assert client.get("/admin/").status_code == 303


def test_the_database_being_down_is_a_503_page(client: TestClient, tmp_path: Path) -> None:
    sign_in(client)
    assert client.portal is not None
    client.portal.call(services_of(client).token_store.engine.dispose)
    (tmp_path / "shapestoken.db").unlink()
    (tmp_path / "shapestoken.db").mkdir()  # no longer a database file
    response = client.get("/admin/")
    assert response.status_code == 503 and "The token store cannot answer" in response.text
    assert "Traceback" not in response.text


def test_static_assets(client: TestClient) -> None:
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = client.get("/admin/static/admin.js")
    assert js.status_code == 200 and "navigator.clipboard" in js.text
    icon = client.get("/admin/static/icon.svg")  # named by every page, so no /favicon.ico 404
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert 'href="/admin/static/icon.svg"' in client.get("/admin/login").text


def test_logs_never_hold_a_token(client: TestClient, audit: Log) -> None:
    sign_in(client)
    created = add_token(client)
    token = TOKEN.search(created.text)
    assert token is not None
    assert token[0] not in audit.text()
