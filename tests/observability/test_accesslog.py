"""Request lines: the same shape as ``logging`` would write, and the operator's switches."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from service.observability import logs
from service.observability.accesslog import ACCESS, AccessLog, access_log
from tests.conftest import SHOP, LogRecords, sign
from tests.examples import bash, example
from tests.servers import ROOT, config_toml, free_port, start_server

NOW = 1_800_000_000.375


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The service log, configured as a server does, captured."""
    captured = io.StringIO()
    yield captured
    logs.log.handlers.clear()
    access_log.enabled = True


def use(stream: io.StringIO, log_format: str, *, enabled: bool = True) -> logging.Handler:
    logs.configure(log_format, access_log=enabled)
    handler = logs.log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return handler


def fixed_clock(handler: logging.Handler, log_format: str) -> AccessLog:
    """An access log writing to the configured ``handler`` with its clock at NOW."""
    assert isinstance(handler, logging.StreamHandler)
    assert isinstance(handler.formatter, logs.TextFormatter | logs.JSONFormatter)
    lines = AccessLog(now=lambda: NOW)
    lines.write_to(handler, handler.formatter.stamps, json=log_format == "json")
    return lines


def through_logging(handler: logging.Handler, fields: dict[str, object]) -> str:
    """What ``logging`` writes for a request record with these fields at NOW."""
    record = logging.LogRecord(ACCESS.name, logging.INFO, "", 0, "request", None, None)
    record.created = NOW
    record.fields = fields
    return handler.format(record) + "\n"


FIELD = st.text(max_size=40)
CODE = st.sampled_from(["invalid_signature", "origin_not_allowed", "-", "server_error"])


@pytest.mark.parametrize("log_format", ["text", "json"])
@given(method=FIELD, path=FIELD, shop=FIELD, origin=FIELD, error=CODE, refused=st.booleans())
def test_a_line_is_what_logging_would_write(
    log_format: str,
    method: str,
    path: str,
    shop: str,
    origin: str,
    error: str,
    refused: bool,
) -> None:
    # Any caller-chosen text, hostile or not: byte for byte the formatter's line.
    stream = io.StringIO()
    handler = use(stream, log_format)
    lines = fixed_clock(handler, log_format)
    fields: dict[str, object] = {
        "method": method,
        "path": path,
        "status": 403 if refused else 200,
        "duration_ms": 0.42,
        "shop": shop,
        "request_id": "0123456789abcdef",
    }
    if refused:
        fields |= {"error": error, "origin": origin}
        lines.request(method, path, 403, 0.42, shop, "0123456789abcdef", error, origin)
    else:
        lines.request(method, path, 200, 0.42, shop, "0123456789abcdef")
    logs.log.handlers.clear()
    assert stream.getvalue() == through_logging(handler, fields)
    assert stream.getvalue().count("\n") == 1


def test_access_log_false_writes_no_request_line(client: TestClient, stream: io.StringIO) -> None:
    use(stream, "text", enabled=False)
    assert client.post(f"/v1/shops/{SHOP}/customer-token", json={}).status_code == 400
    assert stream.getvalue() == ""
    logs.log.warning("other lines stay")
    assert "other lines stay" in stream.getvalue()


def test_the_access_loggers_level_is_honoured(client: TestClient, stream: io.StringIO) -> None:
    use(stream, "json")
    ACCESS.setLevel(logging.WARNING)
    try:
        client.get("/healthz")
        assert stream.getvalue() == ""
    finally:
        ACCESS.setLevel(logging.NOTSET)
    client.get("/healthz")
    assert json.loads(stream.getvalue())["path"] == "/healthz"


def test_a_handler_of_the_operators_gets_the_records(
    client: TestClient, stream: io.StringIO
) -> None:
    use(stream, "text")
    records = LogRecords()
    ACCESS.addHandler(records)
    try:
        client.post(
            f"/v1/shops/{SHOP}/customer-token",
            json={"id": "42", "signature": sign("42")},
            headers={"X-Request-ID": "req-12345678"},
        )
    finally:
        ACCESS.removeHandler(records)
    (record,) = records.records
    assert record.name == "shapestoken.access" and record.getMessage() == "request"
    fields = records.fields(0)
    assert fields["status"] == 200 and fields["request_id"] == "req-12345678"
    assert fields["path"] == f"/v1/shops/{SHOP}/customer-token" and fields["shop"] == SHOP
    # Propagated to the service's own handler as well, in the usual shape.
    (line,) = stream.getvalue().splitlines()
    assert " INFO    request method=POST " in line and "request_id=req-12345678" in line


def test_a_filter_sees_every_request_record(client: TestClient, stream: io.StringIO) -> None:
    use(stream, "text")

    def only_refusals(record: logging.LogRecord) -> bool:
        return bool(record.__dict__["fields"]["status"] >= 400)

    logs.log.handlers[0].addFilter(only_refusals)
    client.get("/healthz")
    client.get("/nope")
    (line,) = stream.getvalue().splitlines()
    assert "path=/nope status=404" in line


def test_without_configure_lines_go_through_logging(
    client: TestClient, log_records: LogRecords
) -> None:
    # An app embedded in another program: its logging decides, as for any library.
    client.get("/healthz")
    requests = [r for r in log_records.records if r.name == "shapestoken.access"]
    assert [r.__dict__["fields"]["path"] for r in requests] == ["/healthz"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("extra", "options", "logged"),
    [
        ("", (), True),
        ("access_log = false", (), False),
        # Standard logging configuration, as uvicorn --log-config (or Granian's) applies it.
        ("", ("--log-config", "logging.json"), False),
    ],
)
def test_a_real_server_writes_or_skips_request_lines(
    tmp_path: Path, extra: str, options: tuple[str, ...], logged: bool
) -> None:
    # The operations guide's logging configuration, as pasted.
    (tmp_path / "logging.json").write_text(example("access-log-config"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # WEB_CONCURRENCY makes the service log a warning at start-up, which must show.
    server = start_server(
        tmp_path,
        config_toml(url, extra=extra),
        port=port,
        options=options,
        env={"WEB_CONCURRENCY": "2"},
    )
    try:
        for path in ("/healthz", "/nope"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"{url}{path}", timeout=5).close()
    finally:
        output = server.stop()
    lines = [line for line in output.splitlines() if " request method=" in line]
    if logged:
        # wait_ready's /healthz, then the two above.
        assert [line.split(" path=")[1].split()[0] for line in lines][-2:] == ["/healthz", "/nope"]
    else:
        assert lines == []
    # Other lines of the service stay on, whatever the access log does.
    assert 'WARNING state = "memory" with 2 workers' in output


def test_the_readme_measures_a_request_line_as_pasted() -> None:
    # From the repository root, as the docs' commands run; timeit's own report.
    result = bash(example("access-log-cost"), cwd=ROOT)
    assert re.fullmatch(r"\d+ loops?, best of 5: [\d.]+ [nmu]?sec per loop\n", result.stdout)
