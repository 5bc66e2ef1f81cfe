"""shapestoken tokens | db | admin, on SQLite and on a real PostgreSQL (service/cli/)."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import Connection
from starlette.testclient import TestClient

from service.cli import main
from service.config import load_settings, require_config_path
from service.config.store import DatabaseURL, database_url
from service.signing.keys import KeyRing
from service.store import db
from service.store.apitokens import CACHE_TTL
from service.store.schema import api_tokens
from service.store.stk import DEFAULT_EXPIRY, parse_duration
from service.web.admin.forms import NewToken
from service.web.app import create_app
from service.wiring import build_components
from tests.conftest import SECRET, Clock
from tests.helpers import write_config
from tests.oauth_clients import answer
from tests.servers import server_env, shapestoken

SCOPES = '["profiles:read", "profiles:write", "orders:read"]'


@pytest.fixture
def configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: DatabaseURL
) -> DatabaseURL:
    monkeypatch.setenv(
        "SHAPESTOKEN_CONFIG", str(write_config(tmp_path, database.url.reveal().decode()))
    )
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    return database


@pytest.fixture
def api(configured: DatabaseURL, keyring: KeyRing, clock: Clock) -> Iterator[TestClient]:
    """The service on the CLI's config, as an API reaches it; its lookup cache runs on ``clock``."""
    settings = load_settings(require_config_path())
    components = build_components(settings, keyring=keyring, monotonic=clock)
    with TestClient(
        create_app(settings, components=components), base_url=settings.issuer
    ) as client:
        yield client


def test_the_whole_lifecycle(
    api: TestClient, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert f"migrated from an empty database to {db.head()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"already at revision {db.head()}" in capsys.readouterr().out

    argv = ["tokens", "create", "--name", "crm-sync", "--scope", "profiles:read"]
    assert main([*argv, "--scope", "orders:read", "--expires", "90d"]) == 0
    out, err = capsys.readouterr()
    token = out.removesuffix("\n")
    assert re.fullmatch(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}", token)  # the token alone
    token_id = re.search(
        r"created API token ([a-z0-9]{12}) \(crm-sync; profiles:read orders:read", err
    )
    assert token_id is not None and "shown once" in err and token not in err
    active = answer(api, token)
    assert active["active"] is True and active["sub"] == f"api-token:{token_id[1]}"
    assert active["scope"] == "profiles:read orders:read" and "exp" in active
    assert active["iss"] == "https://tokens.example.com"

    assert main(["tokens", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "ID",
        "NAME",
        "SCOPES",
        "CREATED",
        "EXPIRES",
        "LAST",
        "USED",
        "STATUS",
        "REVOKED",
    ]
    assert row.startswith(token_id[1]) and "crm-sync" in row and row.endswith("active  -")
    assert token not in row

    assert main(["tokens", "revoke", token_id[1]]) == 0
    revoked = capsys.readouterr().out
    assert f"revoked token {token_id[1]} (crm-sync)" in revoked
    # Without Redis nothing tells the servers: their caches expire within CACHE_TTL.
    assert f"refused everywhere within {CACHE_TTL} s" in revoked
    # The CLI is another process: a server that looked the token up answers from its
    # cache for at most CACHE_TTL seconds (the docs' staleness bound), then knows.
    assert answer(api, token)["active"] is True
    clock.advance(CACHE_TTL)
    assert answer(api, token) == {"active": False}
    assert main(["tokens", "revoke", token_id[1]]) == 0
    assert "already revoked" in capsys.readouterr().out
    assert main(["tokens", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # header only
    assert main(["tokens", "list", "--all"]) == 0
    row = capsys.readouterr().out.splitlines()[1]  # the row is kept, saying when and by whom
    assert re.search(r"  revoked  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ by cli$", row), row


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tokens", "create", "--name", "", "--scope", "profiles:read"], "--name: required"),
        (
            ["tokens", "create", "--name", "x" * 101, "--scope", "profiles:read"],
            "--name: at most 100",
        ),
        (["tokens", "create", "--name", "a\nb", "--scope", "profiles:read"], "--name: no control"),
        (
            ["tokens", "create", "--name", "crm", "--scope", "superuser"],
            "--scope: unknown scope 'superuser'",
        ),
        (
            ["tokens", "create", "--name", "crm", "--scope", "profiles:read", "--expires", "soon"],
            "--expires: expected a duration",
        ),
        (
            ["tokens", "create", "--name", "crm", "--scope", "profiles:read", "--expires", "0d"],
            "--expires: expected a duration",
        ),
        (
            ["tokens", "create", "--name", "crm", "--scope", "profiles:read", "--expires", "20y"],
            "--expires: at most ten years",
        ),
        (["tokens", "revoke", "abcdefghjkmn"], "id: no token abcdefghjkmn"),
        (["tokens", "revoke", "../../etc"], "id: '../../etc' is not a token id"),
    ],
)
def test_bad_input_names_the_field(
    configured: DatabaseURL,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""
    assert main(["tokens", "list", "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # nothing was stored


def expiry_in_days(err: str) -> float | None:
    """Days from now to the expiry `tokens create` printed; None for `never`."""
    match = re.search(r"expires (\S+)\)\.", err)
    assert match is not None, err
    if match[1] == "never":
        return None
    return (
        datetime.fromisoformat(match[1].replace("Z", "+00:00")).timestamp() - time.time()
    ) / 86400


def test_a_new_token_expires_in_90_days_unless_told_never(
    configured: DatabaseURL, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    argv = ["tokens", "create", "--name", "crm", "--scope", "profiles:read"]
    assert main(argv) == 0
    days = expiry_in_days(capsys.readouterr().err)
    assert days is not None and 89.9 < days <= 90
    assert main([*argv, "--expires", "never"]) == 0
    assert expiry_in_days(capsys.readouterr().err) is None
    # One default for the command line and the dashboard's form.
    assert NewToken().expires == DEFAULT_EXPIRY
    assert NewToken().expires_in == parse_duration("90d")


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = db.alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def test_db_upgrade_adds_revoked_by_and_keeps_the_tokens(
    configured: DatabaseURL, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database made by the previous version: at 0002, one token revoked, one active.
    now = datetime.now(UTC).replace(microsecond=0)
    rows: list[dict[str, Any]] = [
        {"id": "revkdbefre22", "revoked_at": now},
        {"id": "activenw2345", "revoked_at": None},
    ]

    async def made_by_the_previous_version() -> None:
        engine = db.create_engine(configured)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_upgrade_to, "0002")
                for i, row in enumerate(rows):
                    await connection.execute(
                        api_tokens.insert().values(
                            name=row["id"][:3],
                            sha256=f"{i:064x}",
                            scopes="profiles:read",
                            created_at=now,
                            created_by="cli",
                            **row,
                        )
                    )
        finally:
            await engine.dispose()

    asyncio.run(made_by_the_previous_version())
    assert main(["tokens", "list"]) == 2  # behind its migrations: refused
    assert f"needs {db.head()}: run `shapestoken db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert f"migrated from 0002 to {db.head()}" in capsys.readouterr().out
    assert main(["tokens", "revoke", "activenw2345"]) == 0
    capsys.readouterr()
    assert main(["tokens", "list", "--all"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(listed) == {"revkdbefre22", "activenw2345"}
    # Revoked before revoked_by was kept: nobody is made up.
    assert listed["revkdbefre22"].endswith(" by unknown")
    assert listed["activenw2345"].endswith(" by cli")


def test_tokens_refuse_a_database_behind_its_migrations(
    configured: DatabaseURL, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "list"]) == 2
    assert "run `shapestoken db upgrade`" in capsys.readouterr().err


def test_without_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(write_config(tmp_path, None)))
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    # A Procfile `release: shapestoken db upgrade` must not break such a deployment.
    assert main(["db", "upgrade"]) == 0
    assert "no database configured: nothing to migrate" in capsys.readouterr().err
    assert main(["tokens", "list"]) == 2
    assert "database: not configured" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "shapestoken.toml"]


def test_an_unreachable_database_is_exit_1_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.servers import free_port

    url = f"postgresql://app:pw-secret-1@127.0.0.1:{free_port()}/tokens"
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(write_config(tmp_path, url)))
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database" in err and "pw-secret-1" not in err


def test_create_prints_the_token_alone_on_stdout_for_command_substitution(tmp_path: Path) -> None:
    database = database_url("sqlite:///st.db", tmp_path)
    env = server_env(write_config(tmp_path, database.url.reveal().decode()))
    assert shapestoken("db", "upgrade", env=env).returncode == 0
    result = shapestoken("tokens", "create", "--name", "pos", "--scope", "orders:read", env=env)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}\n", result.stdout)
    assert "created API token" in result.stderr and result.stdout.strip() not in result.stderr


def test_admin_set_password_reads_stdin_and_prints_argon2id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHAPESTOKEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # it reads no config and writes nothing
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["admin", "set-password"]) == 0
    out, err = capsys.readouterr()
    hashed = out.strip()
    assert hashed.startswith("$argon2id$") and extract_parameters(hashed).memory_cost == 65536
    assert PasswordHasher().verify(hashed, "a long enough password")
    assert "admin_password_hash" in err and "a long enough password" not in out + err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("\n", "password: at least 12"),
        ("short\n", "password: at least 12"),
        ("x" * 2000, "password: at most 1024"),
    ],
)
def test_admin_set_password_refuses_weak_passwords(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str, message: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["admin", "set-password"]) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""
