from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from service.cli import main
from service.config import Settings, parse_settings
from service.observability import logs
from service.signing import keyfiles, keys
from service.web.app import app_from_environment, create_app
from service.wiring import build_components, log_startup, startup_summary
from tests.conftest import ORIGIN, SECRET, SHOP, Clock, admin_password_hash, make_settings, sign
from tests.examples import example
from tests.servers import (
    Server,
    config_toml,
    free_port,
    server_env,
    shapestoken,
    start_procfile,
    wait_ready,
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logs.log.handlers.clear()


def use(stream: io.StringIO, log_format: str) -> None:
    logs.configure(log_format)
    handler = logs.log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def test_one_text_line_per_request(client: TestClient, captured: io.StringIO) -> None:
    use(captured, "text")
    signature = sign("42")
    client.post(
        f"/v1/shops/{SHOP}/customer-token?signature={signature}",
        json={"id": "42", "signature": signature},
        headers={"X-Request-ID": "req-12345678"},
    )
    (line,) = captured.getvalue().splitlines()
    assert " INFO    request method=POST " in line
    assert f"path=/v1/shops/{SHOP}/customer-token status=200 " in line
    assert f"shop={SHOP} request_id=req-12345678" in line
    assert "duration_ms=" in line
    # Never the query string, the body, the token or a secret.
    assert signature not in line and "eyJ" not in line and SECRET not in line


def test_json_lines(client: TestClient, captured: io.StringIO) -> None:
    use(captured, "json")
    client.get("/healthz")
    entry = json.loads(captured.getvalue())
    assert entry["message"] == "request" and entry["level"] == "info"
    assert entry["method"] == "GET" and entry["path"] == "/healthz" and entry["status"] == 200
    assert entry["shop"] == "-" and len(entry["request_id"]) == 16
    assert entry["time"].endswith("+00:00")


def test_a_hostile_path_cannot_forge_a_line(client: TestClient, captured: io.StringIO) -> None:
    use(captured, "text")
    client.get("/x%0A2026-01-01 INFO request status=200 x")
    (line,) = captured.getvalue().splitlines()
    assert 'path="/x\\n2026-01-01 INFO request status=200 x"' in line
    assert "status=404" in line


def test_unhandled_errors_are_logged_with_their_traceback(captured: io.StringIO) -> None:
    use(captured, "text")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        logs.log.error("unhandled error", exc_info=exc)
    text = captured.getvalue()
    assert "ERROR   unhandled error" in text and "RuntimeError: boom" in text


def test_the_time_is_formatted_per_record() -> None:
    formatter = logs.TextFormatter()
    first = logging.LogRecord("x", logging.INFO, "", 0, "m", None, None)
    first.created, first.msecs = 1_800_000_000.25, 250.0
    second = logging.LogRecord("x", logging.INFO, "", 0, "m", None, None)
    second.created, second.msecs = 1_800_000_001.5, 500.0
    a, b = formatter.formatTime(first), formatter.formatTime(second)
    assert a.endswith(",250") and b.endswith(",500") and a[:19] != b[:19]


def test_a_refused_preflight_logs_its_error_and_origin(
    client: TestClient, captured: io.StringIO
) -> None:
    use(captured, "text")
    response = client.options(
        f"/v1/shops/{SHOP}/customer-token",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    # CORS stays strict: the refusal carries no Access-Control-Allow-Origin.
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    (line,) = captured.getvalue().splitlines()
    assert "method=OPTIONS " in line and "status=403 " in line
    assert line.endswith(" error=origin_not_allowed origin=https://evil.example")


def test_every_refusal_logs_its_error_code_and_origin(
    client: TestClient, captured: io.StringIO
) -> None:
    use(captured, "json")
    signature = sign("43")
    client.post(
        f"/v1/shops/{SHOP}/customer-token",
        json={"id": "42", "signature": signature},
        headers={"Origin": ORIGIN},
    )
    client.post("/v1/shops/other.myshopify.com/customer-token", json={})
    client.post(
        f"/v1/shops/{SHOP}/customer-token", content=b"x", headers={"Content-Type": "text/x"}
    )
    client.get("/v1/me")
    client.get("/nope")
    entries = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(e["status"], e["error"], e["origin"]) for e in entries] == [
        (401, "invalid_signature", ORIGIN),
        (404, "unknown_shop", "-"),
        (415, "unsupported_media_type", "-"),
        (401, "invalid_token", "-"),
        (404, "not_found", "-"),
    ]
    assert signature not in captured.getvalue() and SECRET not in captured.getvalue()


def test_a_success_logs_neither_error_nor_origin(client: TestClient, captured: io.StringIO) -> None:
    use(captured, "json")
    response = client.post(
        f"/v1/shops/{SHOP}/customer-token",
        json={"id": "42", "signature": sign("42")},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 200
    entry = json.loads(captured.getvalue())
    assert "error" not in entry and "origin" not in entry


def test_a_hostile_origin_cannot_forge_a_line_or_grow_it(
    client: TestClient, captured: io.StringIO
) -> None:
    use(captured, "text")
    client.options(
        f"/v1/shops/{SHOP}/customer-token",
        headers={"Origin": "https://x.example status=200 " + "a" * 5000},
    )
    (line,) = captured.getvalue().splitlines()
    assert ' origin="https://x.example status=200 aaa' in line
    assert len(line) < 600


def test_an_unhandled_error_logs_server_error(
    captured: io.StringIO, keyring: keys.KeyRing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)

    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(components.state, "check", broken)
    use(captured, "text")
    with TestClient(
        create_app(settings, components=components), raise_server_exceptions=False
    ) as app:
        response = app.post(
            f"/v1/shops/{SHOP}/customer-token",
            json={"id": "42", "signature": sign("42")},
            headers={"Origin": ORIGIN},
        )
    assert response.status_code == 500 and response.json()["error"] == "server_error"
    request_line = next(line for line in captured.getvalue().splitlines() if " request " in line)
    assert request_line.endswith(f" error=server_error origin={ORIGIN}")


@pytest.mark.e2e
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_shapestoken_serve_writes_the_servers_own_lines_in_the_format_too(
    tmp_path: Path, log_format: str
) -> None:
    port = free_port()
    config = tmp_path / "shapestoken.toml"
    config.write_text(config_toml(f"http://127.0.0.1:{port}", extra=f'log_format = "{log_format}"'))
    env = server_env(config)
    assert shapestoken("keys", "generate", env=env).returncode == 0
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, config, env, log)
    try:
        wait_ready(server)
    finally:
        output = server.stop()
    lines = output.splitlines()
    assert any("Started server process" in line for line in lines)  # uvicorn's own
    assert any("request" in line and "/healthz" in line for line in lines)  # the service's
    if log_format == "json":
        entries = [json.loads(line) for line in lines]  # every line, uvicorn's included
        assert all({"time", "level", "message"} <= set(entry) for entry in entries)
    else:
        # "<date> <time> <LEVEL> ...", never uvicorn's "INFO:     ..." prefix.
        assert all(
            re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", line) for line in lines
        )


@pytest.mark.e2e
def test_granian_writes_json_lines_with_the_readme_config(tmp_path: Path) -> None:
    # The operations guide's GRANIAN_LOG_CONFIG, as pasted, under the Procfile's command.
    (tmp_path / "logging.json").write_text(example("server-log-config"))
    port = free_port()
    server = start_procfile(
        tmp_path,
        config_toml(f"http://127.0.0.1:{port}", extra='log_format = "json"'),
        port=port,
        env={"GRANIAN_LOG_CONFIG": str(tmp_path / "logging.json")},
    )
    output = server.stop()
    entries = [json.loads(line) for line in output.splitlines()]  # every line
    messages = [entry["message"] for entry in entries]
    assert any(message.startswith("Starting granian") for message in messages)  # Granian's
    assert "request" in messages  # the service's: wait_ready's /healthz


#: Every secret the start-up line must not show, by where it sits in the config.
STARTUP_SECRETS = {
    "id secret": SECRET,
    "app proxy secret": "app-proxy-secret-" + "q" * 30,
    "redis password": "redis-password-" + "r" * 20,
    "database password": "db-password-" + "d" * 20,
    "session secret": "session-secret-" + "s" * 30,
}


def startup_settings(tmp_path: Path) -> Settings:
    client_secret = hashlib.sha256(b"crm-secret-" + b"c" * 40).hexdigest()
    return parse_settings(
        {
            "issuer": "https://tokens.example.com",
            "state": f"redis://:{STARTUP_SECRETS['redis password']}@redis.internal:6380/2",
            "database": (
                f"postgresql://svc:{STARTUP_SECRETS['database password']}@db.internal/tokens"
            ),
            "api_scopes": ["profiles:read"],
            "admin_password_hash": admin_password_hash(),
            "session_secret": STARTUP_SECRETS["session secret"],
            "shops": {
                SHOP: {
                    "id_secrets": [SECRET],
                    "app_proxy_secret": STARTUP_SECRETS["app proxy secret"],
                    "allowed_origins": [ORIGIN],
                },
                "bolt.myshopify.com": {"id_secrets": ["b" * 32], "audience": "https://bolt"},
            },
            "clients": {
                "crm-sync": {"secret_hashes": [f"sha256:{client_secret}"], "scopes": ["a"]},
                "storefront-web": {"scopes": ["b"], "allowed_origins": [ORIGIN]},
            },
        },
        environ={},
        base_dir=tmp_path,
        source=str(tmp_path / "shapestoken.toml"),
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_start_up_line_counts_what_was_loaded_and_shows_no_secret(
    tmp_path: Path, captured: io.StringIO, log_format: str
) -> None:
    settings = startup_settings(tmp_path)
    first, second = keys.generate("ES256", created=1), keys.generate("ES256", created=2)
    ring = keys.KeyRing([second, first], window=3900, activation_delay=0)
    assert startup_summary(settings, ring) == {
        "config": str(tmp_path / "shapestoken.toml"),
        "shops": 2,
        "app_proxy_shops": 1,
        "clients": 2,
        "confidential_clients": 1,
        "public_clients": 1,
        "keys": 2,
        "signing_kid": second.kid,
        "signing_alg": "ES256",
        "keys_from": str(tmp_path / "var/keys"),
        "state": "redis",
        "state_at": "redis.internal:6380/2",
        "database": "postgresql",
        "database_at": "db.internal",
        "admin": "on",
    }
    use(captured, log_format)
    log_startup(settings, ring)
    (line,) = captured.getvalue().splitlines()
    assert "configuration loaded" in line and second.kid in line
    for name, secret in STARTUP_SECRETS.items():
        assert secret not in line, name
    assert settings.store.admin_password_hash is not None
    assert settings.store.admin_password_hash.reveal().decode() not in line
    assert "svc" not in line  # nor the database user


def test_a_server_process_logs_the_start_up_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "shapestoken.toml"
    config.write_text(config_toml("https://tokens.example.com"))
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(config))
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    monkeypatch.delenv("SHAPESTOKEN_SIGNING_KEYS", raising=False)
    key = keyfiles.write_new_key(tmp_path / "keys", "ES256")
    try:
        app_from_environment()  # the ASGI entry of every server (service.asgi)
        lines = [line for line in capsys.readouterr().err.splitlines() if "configuration" in line]
        assert len(lines) == 1, lines
        assert "shops=1 " in lines[0] and f"signing_kid={key.kid} " in lines[0]
        assert "state=memory database=none" in lines[0] and SECRET not in lines[0]

        # `shapestoken serve` with a config and one worker builds the app itself.
        served: list[object] = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
        assert main(["serve", "--port", str(free_port())]) == 0
        assert len(served) == 1
        lines = [line for line in capsys.readouterr().err.splitlines() if "configuration" in line]
        assert len(lines) == 1 and f"signing_kid={key.kid} " in lines[0], lines
    finally:
        logs.log.handlers.clear()
