"""shapestoken tokens | db | admin, on SQLite and on a real PostgreSQL (service/cli/)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters
from starlette.testclient import TestClient

from service.cli import main
from service.config import load_settings, require_config_path
from service.config.store import DatabaseURL, database_url
from service.signing.keys import KeyRing
from service.store import db
from service.store.apitokens import CACHE_TTL
from service.web.app import create_app
from service.wiring import build_components
from tests.conftest import SECRET, Clock
from tests.oauth import GATEWAY, GATEWAY_SECRET, GATEWAY_TOML, basic
from tests.servers import config_toml, server_env, shapestoken

SCOPES = '["profiles:read", "profiles:write", "orders:read"]'


def write_config(directory: Path, database: str | None) -> Path:
    extra = f'database = "{database}"\napi_scopes = {SCOPES}\n' if database else ""
    config = directory / "shapestoken.toml"
    config.write_text(
        config_toml("https://tokens.example.com", extra=extra, extra_shop=GATEWAY_TOML)
    )
    return config


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


def introspect(api: TestClient, token: str) -> dict[str, object]:
    """POST /oauth/introspect as the gateway: what an API learns about the token."""
    response = api.post(
        "/oauth/introspect", data={"token": token}, headers=basic(GATEWAY, GATEWAY_SECRET)
    )
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


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
    active = introspect(api, token)
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
    ]
    assert row.startswith(token_id[1]) and "crm-sync" in row and row.endswith("active")
    assert token not in row

    assert main(["tokens", "revoke", token_id[1]]) == 0
    assert f"revoked token {token_id[1]} (crm-sync)" in capsys.readouterr().out
    # The CLI is another process: a server that looked the token up answers from its
    # cache for at most CACHE_TTL seconds (the docs' staleness bound), then knows.
    assert introspect(api, token)["active"] is True
    clock.advance(CACHE_TTL)
    assert introspect(api, token) == {"active": False}
    assert main(["tokens", "revoke", token_id[1]]) == 0
    assert "already revoked" in capsys.readouterr().out
    assert main(["tokens", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # header only
    assert main(["tokens", "list", "--all"]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("revoked")  # the row is kept


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
