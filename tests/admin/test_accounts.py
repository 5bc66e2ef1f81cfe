"""Named administrators: the CLI (admin add|list|remove), sign-in by name, and the audit."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.cli import main
from service.config.store import DatabaseURL
from service.signing.keys import KeyRing
from service.store import db
from service.store.audit import AuditEvent, AuditLog
from service.web.app import create_app
from service.wiring import build_components
from tests.conftest import ADMIN_PASSWORD, ISSUER, Clock, make_settings
from tests.dashboard import add_token, csrf_of
from tests.databases import sqlite_database
from tests.helpers import store_config, write_config
from tests.oauth_clients import CLIENTS

PASSWORD = "a long enough password"


def events(database: DatabaseURL, action: str | None = None) -> list[AuditEvent]:
    async def read() -> list[AuditEvent]:
        engine = db.create_engine(database)
        try:
            return await AuditLog(engine).page(limit=500, action=action)
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture
def database(tmp_path: Path) -> DatabaseURL:
    database = sqlite_database(tmp_path)
    db.prepare(database, migrate=True)
    return database


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: DatabaseURL) -> DatabaseURL:
    config = write_config(tmp_path, database.url.reveal().decode())
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(config))
    monkeypatch.setenv("SHOP_ID_SECRET", "s" * 40)
    return database


def add(monkeypatch: pytest.MonkeyPatch, name: str, password: str = PASSWORD) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["admin", "add", name])


def test_the_cli_adds_lists_and_removes_administrators(
    cli: DatabaseURL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(monkeypatch, "ana") == 0
    assert "added administrator ana" in capsys.readouterr().out
    assert main(["admin", "list"]) == 0
    assert capsys.readouterr().out.startswith("ana\t")
    assert add(monkeypatch, "ana") == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["admin", "remove", "ana"]) == 0
    assert main(["admin", "remove", "ana"]) == 1
    assert [(e.action, e.actor, e.target) for e in events(cli)] == [
        ("admin.remove", "cli", "ana"),
        ("admin.add", "cli", "ana"),
    ]
    assert PASSWORD not in json.dumps([dict(e.details) for e in events(cli)])


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("Ana", PASSWORD, "name: 1 to 64"),
        ("a" * 65, PASSWORD, "name: 1 to 64"),
        ("admin", PASSWORD, "admin_password_hash"),
        ("ana", "too short", "at least 12"),
    ],
)
def test_a_bad_name_or_password_is_refused(
    cli: DatabaseURL,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    password: str,
    message: str,
) -> None:
    assert add(monkeypatch, name, password) == 2
    assert message in capsys.readouterr().err
    assert events(cli) == []


def test_cli_token_acts_are_audited_as_cli(
    cli: DatabaseURL, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "create", "--name", "ops", "--scope", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    (created,) = events(cli)
    assert (created.actor, created.action) == ("cli", "token.create")
    assert created.details == {"name": "ops", "scopes": ["admin"]}
    assert main(["tokens", "revoke", created.target]) == 0
    revoked = events(cli)[0]
    assert (revoked.action, revoked.target) == ("token.revoke", created.target)
    assert token not in json.dumps([dict(e.details) for e in events(cli)])


@pytest.fixture
def dashboard(database: DatabaseURL, keyring: KeyRing, clock: Clock) -> Iterator[TestClient]:
    settings = make_settings(store=store_config(database), clients=CLIENTS)
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    app = create_app(settings, components=components)
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, name: str, password: str) -> Any:
    page = client.get("/admin/login")
    data = {"csrf": csrf_of(page.text), "name": name, "password": password}
    return client.post("/admin/login", data=data)


def add_directly(database: DatabaseURL, name: str) -> None:
    from service.admin.accounts import Accounts
    from service.store.admins import Admins

    async def go() -> None:
        engine = db.create_engine(database)
        try:
            await Accounts(Admins(engine)).add(name, PASSWORD, "cli")
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_an_administrator_signs_in_by_name_and_acts_under_it(
    dashboard: TestClient, database: DatabaseURL
) -> None:
    add_directly(database, "ana")
    wrong = sign_in(dashboard, "ana", "not the password")
    assert wrong.status_code == 422 and "Wrong name or password." in wrong.text
    nobody = sign_in(dashboard, "nobody", PASSWORD)
    assert nobody.status_code == 422
    assert sign_in(dashboard, "ana", PASSWORD).status_code == 303
    assert add_token(dashboard).status_code == 200
    acts = [(e.action, e.actor, e.target) for e in events(database)]
    assert acts[:4] == [
        ("token.create", "admin:ana", acts[0][2]),
        ("admin.sign_in", "admin:ana", "ana"),
        ("admin.sign_in_failed", "admin:nobody", "nobody"),
        ("admin.sign_in_failed", "admin:ana", "ana"),
    ]
    dumped = json.dumps([dict(e.details) for e in events(database)])
    assert PASSWORD not in dumped and "not the password" not in dumped


def test_an_empty_name_is_the_configs_admin(dashboard: TestClient, database: DatabaseURL) -> None:
    assert sign_in(dashboard, "", ADMIN_PASSWORD).status_code == 303
    (event,) = events(database, "admin.sign_in")
    assert (event.actor, event.target) == ("admin:admin", "admin")


def test_removing_an_administrator_ends_their_session(
    dashboard: TestClient, database: DatabaseURL
) -> None:
    add_directly(database, "ana")
    assert sign_in(dashboard, "ana", PASSWORD).status_code == 303
    assert dashboard.get("/admin/").status_code == 200

    from service.store.admins import Admins

    event = events(database)[0]

    async def remove() -> None:
        engine = db.create_engine(database)
        try:
            await Admins(engine).remove("ana", event)
        finally:
            await engine.dispose()

    asyncio.run(remove())
    response = dashboard.get("/admin/")
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
