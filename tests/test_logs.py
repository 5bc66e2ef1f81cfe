from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from service import logs
from tests.conftest import SECRET, SHOP, sign


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
