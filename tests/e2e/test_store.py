"""Real server processes with a database: the start-up check, the release step, development mode."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection

from service.config.store import DatabaseURL
from service.store import db
from tests.conftest import SECRET
from tests.servers import (
    ROOT,
    config_toml,
    free_port,
    server_env,
    shapestoken,
    start_dev_server,
    start_server,
)

pytestmark = pytest.mark.e2e

SCOPES = '["profiles:read", "orders:read"]'


def store_config(url: str, database: DatabaseURL | None) -> str:
    extra = (
        ""
        if database is None
        else (f'database = "{database.url.reveal().decode()}"\napi_scopes = {SCOPES}\n')
    )
    return config_toml(url, extra=extra)


def migrate_to(database: DatabaseURL, revision: str) -> None:
    def upgrade(connection: Connection) -> None:
        config = db.alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async def run() -> None:
        engine = db.create_engine(database)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(upgrade)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_server_refuses_a_database_behind_its_migrations(
    tmp_path: Path, database: DatabaseURL
) -> None:
    migrate_to(database, "0001")  # a deploy that skipped the upgrade
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, store_config(url, database), port=port, wait=False)
    assert server.process.wait(timeout=60) != 0
    output = server.output()
    assert (
        f"shapestoken: the database is at revision 0001 but this version needs {db.head()}: "
        "run `shapestoken db upgrade`" in output
    )
    assert "Traceback" not in output
    # `shapestoken serve` refuses the same way, with exit status 2.
    refused = shapestoken("serve", "--port", str(port), env=server.env)
    assert refused.returncode == 2 and "run `shapestoken db upgrade`" in refused.stderr

    upgraded = shapestoken("db", "upgrade", env=server.env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"migrated from 0001 to {db.head()}" in upgraded.stdout
    assert database.display in upgraded.stdout
    started = start_server(tmp_path, store_config(url, database), port=port, generate_key=False)
    started.stop()


def test_the_procfile_release_line(tmp_path: Path) -> None:
    (release,) = [
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("release:")
    ]
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"

    def run(config_text: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "shapestoken.toml"
        config.write_text(config_text)
        env = server_env(config, {"PATH": path})
        return subprocess.run(
            ["bash", "-c", f"exec {release}"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # No database: the same release step passes and touches nothing.
    plain = run(store_config("https://tokens.example.com", None))
    assert plain.returncode == 0 and "nothing to migrate" in plain.stderr
    # A database: it is created, then the step is a no-op.
    from tests.databases import sqlite_database

    database = sqlite_database(tmp_path / "var")
    first = run(store_config("https://tokens.example.com", database))
    assert first.returncode == 0, first.stderr
    assert f"migrated from an empty database to {db.head()}" in first.stdout
    again = run(store_config("https://tokens.example.com", database))
    assert f"already at revision {db.head()}" in again.stdout


def test_development_mode_migrates_by_itself_and_prints_the_dashboard(tmp_path: Path) -> None:
    server = start_dev_server(tmp_path)
    output = server.stop()
    state = tmp_path / ".shapestoken"
    password = (state / "admin-password").read_text().strip()
    assert (state / "admin-password").stat().st_mode & 0o777 == 0o600
    assert (state / "session-secret").stat().st_mode & 0o777 == 0o600
    assert f"Admin dashboard: {server.url}/admin  password: {password}" in output
    with sqlite3.connect(state / "shapestoken.db") as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == db.head()
    assert SECRET not in output
