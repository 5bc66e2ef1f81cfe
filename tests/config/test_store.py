"""database, api_scopes, admin_password_hash, session_secret (service/config/store.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type

from service.config import Settings, load_settings, parse_settings
from service.errors import ConfigError
from tests.conftest import SECRET, admin_password_hash

ENV = {"ACME_ID_SECRET": SECRET, "SESSION_SECRET": "k" * 40, "DATABASE_URL": ""}
SCOPES = ["profiles:read", "profiles:write", "orders:read"]


def parse(
    tmp_path: Path = Path("/srv/app"), env: dict[str, str] | None = None, **keys: Any
) -> Settings:
    raw: dict[str, Any] = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": {"id_secrets": ["env:ACME_ID_SECRET"]}},
        **keys,
    }
    return parse_settings(raw, environ={**ENV, **(env or {})}, base_dir=tmp_path)


def test_without_database_there_is_no_store() -> None:
    store = parse().store
    assert store.database is None and not store.admin_enabled
    assert "no API tokens" in parse().summary()


def test_design_example(tmp_path: Path) -> None:
    config = tmp_path / "shapestoken.toml"
    config.write_text(
        f"""
issuer = "https://tokens.example.com"
database = "sqlite:///var/shapestoken.db"
api_scopes = ["profiles:read", "profiles:write", "orders:read"]
admin_password_hash = "{admin_password_hash()}"
session_secret = "env:SESSION_SECRET"
[shops."acme.myshopify.com"]
id_secrets = ["env:ACME_ID_SECRET"]
"""
    )
    store = load_settings(config, environ=ENV).store
    assert store.database is not None
    assert store.database.sqlite_path == tmp_path / "var/shapestoken.db"
    assert store.database.url.reveal().decode() == (
        f"sqlite+aiosqlite:///{tmp_path}/var/shapestoken.db"
    )
    assert store.api_scopes == tuple(SCOPES)
    assert store.admin_enabled and store.session_secret is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqlite:////var/lib/st.db", "sqlite+aiosqlite:////var/lib/st.db"),
        ("sqlite:///st.db", "sqlite+aiosqlite:////srv/app/st.db"),
        ("sqlite+aiosqlite:///data/st.db", "sqlite+aiosqlite:////srv/app/data/st.db"),
        (
            "postgresql://u:p%40ss@db.internal/tokens",
            "postgresql+asyncpg://u:p%40ss@db.internal/tokens",
        ),
        ("postgres://u:pw@db:6432/tokens", "postgresql+asyncpg://u:pw@db:6432/tokens"),
        (
            "postgresql://u:pw@db/tokens?sslmode=require",
            "postgresql+asyncpg://u:pw@db/tokens?ssl=require",
        ),
    ],
)
def test_database_urls(text: str, expected: str) -> None:
    store = parse(database=text, api_scopes=SCOPES).store
    assert store.database is not None
    assert store.database.url.reveal().decode() == expected


def test_the_database_password_is_masked() -> None:
    settings = parse(
        database="env:DATABASE_URL",
        api_scopes=SCOPES,
        env={"DATABASE_URL": "postgresql://app:hunter2-secret@db/tokens"},
    )
    assert settings.store.database is not None
    for text in (settings.summary(), str(settings.store.database), repr(settings)):
        assert "hunter2-secret" not in text
    assert "postgresql+asyncpg://app:***@db/tokens" in settings.summary()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"api_scopes": SCOPES}, "api_scopes: needs `database`"),
        ({"admin_password_hash": "x"}, "admin_password_hash: needs `database`"),
        ({"session_secret": "env:SESSION_SECRET"}, "session_secret: needs `database`"),
        (
            {"database": "sqlite:///st.db", "api_scopes": SCOPES, "session_secret": "x" * 32},
            "session_secret: only used with admin_password_hash",
        ),
        ({"database": "sqlite:///st.db"}, "api_scopes: required with `database`"),
        ({"database": "mysql://u@h/db", "api_scopes": SCOPES}, "database: expected"),
        ({"database": "sqlite://", "api_scopes": SCOPES}, "database: expected"),
        ({"database": "sqlite:///:memory:", "api_scopes": SCOPES}, "in-memory"),
        ({"database": "postgresql:///tokens", "api_scopes": SCOPES}, "no host"),
        ({"database": "postgresql://db", "api_scopes": SCOPES}, "no database name"),
        ({"database": "not a url", "api_scopes": SCOPES}, "database: expected"),
        ({"database": 5, "api_scopes": SCOPES}, "database: expected a non-empty string"),
        (
            {"database": "sqlite:///st.db", "api_scopes": []},
            "api_scopes: expected a non-empty list",
        ),
        (
            {"database": "sqlite:///st.db", "api_scopes": ["a b"]},
            "api_scopes: 'a b' is not a scope",
        ),
        ({"database": "sqlite:///st.db", "api_scopes": ['say"hi']}, "is not a scope"),
        ({"database": "sqlite:///st.db", "api_scopes": ["x" * 65]}, "is not a scope"),
        ({"database": "sqlite:///st.db", "api_scopes": ["a", "a"]}, "listed twice"),
        ({"database": "sqlite:///st.db", "api_scopes": [f"s{i}" for i in range(51)]}, "at most 50"),
        (
            {
                "database": "sqlite:///st.db",
                "api_scopes": SCOPES,
                "admin_password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            },
            "session_secret: required with admin_password_hash",
        ),
        (
            {
                "database": "sqlite:///st.db",
                "api_scopes": SCOPES,
                "admin_password_hash": "hunter2",
                "session_secret": "env:SESSION_SECRET",
            },
            "admin_password_hash: not an Argon2 hash",
        ),
        (
            {
                "database": "sqlite:///st.db",
                "api_scopes": SCOPES,
                "admin_password_hash": "",
                "session_secret": "env:SESSION_SECRET",
            },
            "admin_password_hash: expected a non-empty string",
        ),
        (
            {
                "database": "sqlite:///st.db",
                "api_scopes": SCOPES,
                "admin_password_hash": admin_password_hash(),
                "session_secret": "short",
            },
            "session_secret: secret is 5 bytes",
        ),
        (
            {"database": "env:MISSING_DATABASE_URL", "api_scopes": SCOPES},
            "MISSING_DATABASE_URL is not set",
        ),
        ({"databse": "sqlite:///st.db"}, "unknown config key databse"),
    ],
)
def test_bad_values_name_the_key(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse(**keys)


@pytest.mark.parametrize(
    ("hasher", "message"),
    [
        (
            PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.I),
            "must be Argon2id",
        ),
        (PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1), "too weak"),
    ],
)
def test_weak_or_wrong_argon2_hashes_are_refused(hasher: PasswordHasher, message: str) -> None:
    with pytest.raises(ConfigError, match=f"admin_password_hash: {message}"):
        parse(
            database="sqlite:///st.db",
            api_scopes=SCOPES,
            admin_password_hash=hasher.hash("correct horse battery"),
            session_secret="env:SESSION_SECRET",
        )


def test_the_password_hash_and_session_secret_never_show() -> None:
    settings = parse(
        database="sqlite:///st.db",
        api_scopes=SCOPES,
        admin_password_hash=admin_password_hash(),
        session_secret="env:SESSION_SECRET",
    )
    for text in (settings.summary(), repr(settings)):
        assert admin_password_hash() not in text and "k" * 40 not in text
    assert "/admin enabled" in settings.summary()
