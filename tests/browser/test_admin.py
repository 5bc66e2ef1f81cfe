"""The /admin dashboard in the system Chromium, against a real server, on SQLite and PostgreSQL.

Set SHAPESTOKEN_SCREENSHOTS=<dir> to keep the screenshots of every page at 1280 px
and 390 px (docs/images/admin-dashboard.png is one of them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from service.config.store import DatabaseURL
from tests.conftest import ADMIN_PASSWORD, admin_password_hash
from tests.oauth_clients import GATEWAY, GATEWAY_TOML, introspect_at
from tests.servers import Server, config_toml, free_port, shapestoken, start_server
from tests.storefront import HTTP_ERROR, PageErrors

pytestmark = pytest.mark.browser

TOKEN = re.compile(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}")
SCOPES = '["profiles:read", "profiles:write", "orders:read"]'


@pytest.fixture
def dashboard(tmp_path: Path, database: DatabaseURL) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra = (
        f'database = "{database.url.reveal().decode()}"\n'
        f"api_scopes = {SCOPES}\n"
        'admin_password_hash = "env:ADMIN_PASSWORD_HASH"\n'
        'session_secret = "env:SESSION_SECRET"\n'
    )
    env = {"ADMIN_PASSWORD_HASH": admin_password_hash(), "SESSION_SECRET": "s" * 48}
    config = tmp_path / "shapestoken.toml"
    config.write_text(config_toml(url, extra=extra, extra_shop=GATEWAY_TOML))
    from tests.servers import server_env

    assert shapestoken("db", "upgrade", env=server_env(config, env)).returncode == 0
    server = start_server(tmp_path, config.read_text(), env=env, port=port)
    yield server
    log = server.stop()
    assert "Traceback" not in log
    assert TOKEN.search(log) is None, "a token reached the log"


def shot(page: Page, name: str, tmp_path: Path) -> None:
    directory = Path(os.environ.get("SHAPESTOKEN_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def no_horizontal_scroll(page: Page) -> None:
    page.wait_for_load_state("load")  # the stylesheet applied, not a page mid-navigation
    width = page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size
    offenders = page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
             .filter((e) => e.getBoundingClientRect().right > limit)
             .map((e) => `${e.tagName}.${e.className}`)""",
        viewport["width"] if viewport else 0,
    )
    assert viewport is not None and width <= viewport["width"], (page.url, width, offenders)


def sign_in(page: Page, server: Server, password: str = ADMIN_PASSWORD, name: str = "") -> None:
    page.goto(f"{server.url}/admin/")
    expect(page).to_have_url(f"{server.url}/admin/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_whole_dashboard(
    dashboard: Server, browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    wide = "sqlite" in request.node.callspec.id  # one set of screenshots is enough
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard.url)
    # No console errors (a missing icon, a CSP refusal) but the two pages that are errors.
    errors = PageErrors()
    errors.allow(HTTP_ERROR.format(status=422), HTTP_ERROR.format(status=403))
    errors.watch(context)
    page = context.new_page()
    try:
        # A wrong password: the same page, with the error, and no session.
        sign_in(page, dashboard, "not the password")
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
        if wide:
            shot(page, "login-error-1280", tmp_path)

        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{dashboard.url}/admin/")
        expect(page.get_by_role("heading", name="API tokens")).to_be_visible()

        # Add a token: name, scope checkboxes, expiry.
        page.get_by_role("link", name="Add token").click()
        page.get_by_label("Name").fill("crm-sync")
        page.get_by_label("profiles:read").check()
        page.get_by_label("orders:read").check()
        page.get_by_label("Expires after").select_option(label="30 days")
        if wide:
            shot(page, "add-token-1280", tmp_path)
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_role("heading", name="Token created: crm-sync")).to_be_visible()
        expect(page.locator("#token-warning")).to_contain_text("you won't be able to see it again")
        token = page.get_by_label("Your new API token").input_value()
        assert TOKEN.fullmatch(token)
        page.get_by_role("button", name="Copy").click()
        expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
        assert page.evaluate("() => navigator.clipboard.readText()") == token
        if wide:
            shot(page, "token-created-1280", tmp_path)
        # An API introspects it over HTTP: exactly the documented fields.
        active = introspect_at(dashboard.url, token)
        assert set(active) == {"active", "scope", "sub", "token_type", "exp", "iat", "iss"}
        assert active["active"] is True and active["scope"] == "profiles:read orders:read"
        assert active["token_type"] == "Bearer" and active["iss"] == dashboard.url
        assert re.fullmatch(r"api-token:[a-z2-9]{12}", str(active["sub"]))
        assert isinstance(active["exp"], int) and active["exp"] - active["iat"] == 30 * 86400

        # Reload: the browser posts the form again, and the token is gone from the page.
        page.reload()
        expect(page).to_have_url(f"{dashboard.url}/admin/?notice=shown_once")
        assert token not in page.content()
        row = page.get_by_role("row", name=re.compile("crm-sync"))
        expect(row).to_contain_text("active")
        expect(row).to_contain_text("profiles:read")
        if wide:
            shot(page, "list-1280", tmp_path)

        # Revoke, with a confirmation.
        row.get_by_role("link", name="Revoke crm-sync").click()
        expect(page.get_by_role("heading", name="Revoke “crm-sync”?")).to_be_visible()
        if wide:
            shot(page, "revoke-1280", tmp_path)
        page.get_by_role("button", name="Revoke token").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("The token is revoked"))
        expect(page.get_by_role("row", name=re.compile("crm-sync"))).to_contain_text("revoked")
        # Revoked through this server's dashboard: inactive at once, no cache in the way.
        assert introspect_at(dashboard.url, token) == {"active": False}
        if wide:
            shot(page, "list-revoked-1280", tmp_path)

        # A POST without its CSRF token: 403, and nothing is made.
        page.get_by_role("link", name="Add token").click()
        page.get_by_label("Name").fill("forged")
        page.get_by_label("profiles:write").check()
        page.locator("main form input[name=csrf]").evaluate("input => input.remove()")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("did not come from this dashboard")
        if wide:
            shot(page, "csrf-403-1280", tmp_path)
        page.goto(f"{dashboard.url}/admin/")
        expect(page.get_by_role("row", name=re.compile("forged"))).to_have_count(0)

        # Logout: the session is over, here and for the cookie it had.
        cookie = next(c for c in context.cookies() if c["name"] == "shapestoken_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_have_text("You are signed out.")
        page.goto(f"{dashboard.url}/admin/")
        expect(page).to_have_url(f"{dashboard.url}/admin/login")
        # The cookie from before logout, put back as it was.
        context.add_cookies(
            [
                {
                    "name": cookie["name"],
                    "value": cookie["value"],
                    "domain": cookie["domain"],
                    "path": cookie["path"],
                    "httpOnly": True,
                    "sameSite": "Strict",
                }
            ]
        )
        # The address as the docs print it, without the slash.
        page.goto(f"{dashboard.url}/admin")
        expect(page).to_have_url(f"{dashboard.url}/admin/login")
    finally:
        context.close()
    assert not errors.unexpected(), errors.seen


def test_the_phone_width_and_no_javascript(
    dashboard: Server, browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    wide = "sqlite" in request.node.callspec.id
    phone = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = phone.new_page()
    try:
        page.goto(f"{dashboard.url}/admin/login")
        no_horizontal_scroll(page)
        if wide:
            shot(page, "login-390", tmp_path)
        sign_in(page, dashboard)
        for name in ("pos-terminal-front-of-house", "crm-sync"):
            page.get_by_role("link", name="Add token").first.click()
            no_horizontal_scroll(page)
            if wide and name == "crm-sync":
                shot(page, "add-token-390", tmp_path)
            page.get_by_label("Name").fill(name)
            page.get_by_label("orders:read").check()
            page.get_by_label("Expires after").select_option(label="Never")
            page.get_by_role("button", name="Create token").click()
            # Without JavaScript the token is there to select; the Copy button stays hidden.
            assert TOKEN.fullmatch(page.get_by_label("Your new API token").input_value())
            expect(page.get_by_role("button", name="Copy")).to_be_hidden()
            no_horizontal_scroll(page)
            if wide and name == "crm-sync":
                shot(page, "token-created-390", tmp_path)
            page.get_by_role("link", name="Done: back to the list").click()
        no_horizontal_scroll(page)
        expect(page.get_by_role("row")).to_have_count(3)  # the header row and two tokens
        if wide:
            shot(page, "list-390", tmp_path)
        page.get_by_role("link", name="Revoke crm-sync").click()
        no_horizontal_scroll(page)
        if wide:
            shot(page, "revoke-390", tmp_path)
        page.get_by_role("button", name="Revoke token").click()
        no_horizontal_scroll(page)
        expect(page.get_by_role("row", name=re.compile("crm-sync"))).to_contain_text("revoked")
    finally:
        phone.close()


def add_administrator(server: Server, name: str, password: str) -> None:
    """``shapestoken admin add``, the password on stdin as a script would pipe it."""
    result = subprocess.run(
        [sys.executable, "-m", "service", "admin", "add", name],
        env=server.env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_named_administrator_adds_clients_and_finds_the_acts(
    dashboard: Server, browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    wide = "sqlite" in request.node.callspec.id
    password = "ana's long password"
    add_administrator(dashboard, "ana", password)
    for width, height in ((1280, 800), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        errors = PageErrors()
        errors.watch(context)
        page = context.new_page()
        suffix = f"{width}"
        client_id = f"web-{width}"
        try:
            sign_in(page, dashboard, password, name="ana")
            expect(page.locator(".who")).to_have_text("ana")
            page.get_by_role("link", name="Clients", exact=True).click()
            expect(page.get_by_role("heading", name="OAuth clients")).to_be_visible()
            # The config's gateway client is there, read-only.
            expect(page.get_by_role("row", name=re.compile(GATEWAY))).to_contain_text("config file")
            no_horizontal_scroll(page)
            if wide:
                shot(page, f"clients-{suffix}", tmp_path)

            # A public client with its browser origins: no secret.
            page.get_by_role("link", name="Add client").click()
            page.get_by_label("Client id").fill(client_id)
            page.get_by_label("Public: a browser app, no secret").check()
            page.get_by_label("Scopes").fill("catalog:read")
            page.get_by_label("Browser origins").fill("https://shop.example.org")
            no_horizontal_scroll(page)
            if wide:
                shot(page, f"add-client-{suffix}", tmp_path)
            page.get_by_role("button", name="Add client").click()
            expect(page.get_by_role("status")).to_contain_text("The client is added")
            expect(page.get_by_role("row", name=re.compile(client_id))).to_contain_text("public")
            # Its origin may now read the token endpoint's answers (CORS), on this replica.
            preflight = httpx.options(
                f"{dashboard.url}/oauth/token",
                headers={
                    "Origin": "https://shop.example.org",
                    "Access-Control-Request-Method": "POST",
                },
                timeout=10,
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == "https://shop.example.org"

            # A confidential client: its secret on this page only.
            page.get_by_role("link", name="Add client").click()
            page.get_by_label("Client id").fill(f"crm-{width}")
            page.get_by_label("Scopes").fill("profiles:read")
            page.get_by_role("button", name="Add client").click()
            expect(page.locator("#secret-warning")).to_contain_text("won't be able to see it again")
            secret = page.get_by_label("Client secret").input_value()
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
            no_horizontal_scroll(page)
            if wide:
                shot(page, f"client-secret-{suffix}", tmp_path)
            token = httpx.post(
                f"{dashboard.url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(f"crm-{width}", secret),
                timeout=10,
            )
            assert token.status_code == 200, token.text
            page.reload()  # the form again: no second client, and the secret is gone
            assert secret not in page.content()
            page.get_by_role("link", name=f"Edit crm-{width}").click()
            assert secret not in page.content()
            no_horizontal_scroll(page)
            if wide:
                shot(page, f"client-edit-{suffix}", tmp_path)

            for section in ("Keys", "Blocked customers"):
                page.get_by_role("link", name=section, exact=True).click()
                no_horizontal_scroll(page)
                if wide:
                    shot(page, f"{section.split()[0].lower()}-{suffix}", tmp_path)

            # The acts, under ana's name.
            page.get_by_role("link", name="Activity", exact=True).click()
            page.get_by_label("Action").select_option("client.create")
            page.get_by_role("button", name="Filter").click()
            row = page.get_by_role("row", name=re.compile(f"crm-{width}"))
            expect(row).to_contain_text("admin:ana")
            expect(row).to_contain_text("client.create")
            expect(page.get_by_role("row", name=re.compile("admin.sign_in"))).to_have_count(0)
            no_horizontal_scroll(page)
            if wide:
                shot(page, f"activity-{suffix}", tmp_path)
        finally:
            context.close()
        assert not errors.unexpected(), errors.seen
