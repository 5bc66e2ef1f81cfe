"""``/openapi.json`` describes every public route, and a fuzzer finds no server error."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from service.config.store import database_url
from service.customers.signatures import parse_customer_id
from service.errors import InvalidRequest
from service.signing.keys import KeyRing
from service.store import db
from service.web.app import create_app
from service.web.openapi.document import document
from service.wiring import build_components
from tests.conftest import ISSUER, SECRET, SHOP, Clock, make_settings, sign
from tests.helpers import make_token, migrated, store_config
from tests.oauth_clients import CLIENTS as OAUTH_CLIENTS
from tests.servers import Server, config_toml, free_port, start_procfile

#: Methods the router adds by itself (HEAD with every GET).
IMPLICIT = {"HEAD"}


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route):
            routes |= {
                (route.path, method) for method in (route.methods or ()) if method not in IMPLICIT
            }
        elif isinstance(route, Mount):
            routes.add((f"{route.path}/{{path}}", "GET"))
    return routes


def documented(client: TestClient) -> set[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return {
        (path, method.upper())
        for path, item in paths.items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete", "options")
    }


#: Pages for people, not API: the dashboard (HTML, a session, CSRF) and the demo.
PAGES = ("/admin", "/demo")
#: The admin API is JSON for scripts, and documented.
ADMIN_API = "/admin/api/"


def test_every_route_is_documented_and_every_entry_is_a_route(client: TestClient) -> None:
    # A new endpoint without an entry (or an entry left behind) fails here.
    assert documented(client) == app_routes(client)


def test_with_every_part_on_every_route_but_the_pages_is_documented(
    tmp_path: Path, keyring: KeyRing, clock: Clock
) -> None:
    # OAuth clients, API tokens and the dashboard on: a route that exists only when
    # something is configured needs an entry too. (/demo is development mode's page.)
    settings = make_settings(store=store_config(migrated(tmp_path)), clients=OAUTH_CLIENTS)
    components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
    with TestClient(create_app(settings, components=components), base_url=ISSUER) as client:
        routes = app_routes(client)
        pages = {
            route
            for route in routes
            if route[0].startswith(PAGES) and not route[0].startswith(ADMIN_API)
        }
        assert ("/admin/{path}", "GET") in pages  # the dashboard really is on
        assert ("/admin/api/v1/clients", "POST") in routes  # and the admin API
        assert documented(client) == routes - pages


def test_the_document_is_openapi_3_1_with_this_issuer(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0" and body["servers"] == [{"url": "https://tokens.example.com"}]
    shop = body["paths"]["/v1/shops/{shop}/customer-token"]["parameters"][0]
    assert shop["schema"]["enum"] == [SHOP]
    assert SECRET not in response.text


def test_every_429_and_503_declares_its_retry_after(client: TestClient) -> None:
    # The service sends Retry-After with both (a limit's wait; 1 s for an outage).
    paths = client.get("/openapi.json").json()["paths"]
    declared = {
        (path, method, status): response.get("headers", {}).get("Retry-After", {})
        for path, item in paths.items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for status, response in operation["responses"].items()
        if status in ("429", "503")
    }
    assert {status for _, _, status in declared} == {"429", "503"}
    assert all(header.get("required") is True for header in declared.values()), declared


def id_validator() -> jsonschema_rs.Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's) for the document's customer ``id``."""
    schema = document(ISSUER, [SHOP])["components"]["schemas"]["CustomerProof"]
    return jsonschema_rs.Draft202012Validator(schema["properties"]["id"])


def service_takes(value: object) -> bool:
    try:
        parse_customer_id(value)
    except InvalidRequest:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (1, True),
        ("1", True),
        (10**20 - 1, True),
        ("9" * 20, True),
        (0, False),  # the schema took 0: `pattern` holds for strings only
        ("0", False),
        (-1, False),
        ("01", False),
        ("+1", False),
        (10**20, False),
        ("1" * 21, False),
        (True, False),
        (1.5, False),
    ],
)
def test_the_customer_id_schema_is_the_services_rule(value: object, valid: bool) -> None:
    assert id_validator().is_valid(value) is valid
    assert service_takes(value) is valid


@given(
    st.one_of(
        st.integers(min_value=-(10**21), max_value=10**21),
        st.text(alphabet="0123456789+- ", max_size=22),
    )
)
def test_the_customer_id_schema_takes_exactly_what_the_service_takes(value: object) -> None:
    assert id_validator().is_valid(value) is service_takes(value)


#: The fuzz server's clients: a confidential one that may introspect, a public one.
BACKEND, BACKEND_SECRET = "fuzz-backend", "fuzz-secret-" + "b" * 40
WEB = "fuzz-web"
CLIENTS = f"""
[clients."{BACKEND}"]
secret_hashes = ["sha256:{hashlib.sha256(BACKEND_SECRET.encode()).hexdigest()}"]
scopes = ["profiles:read", "profiles:write"]
introspect = true

[clients."{WEB}"]
scopes = ["catalog:read"]
allowed_origins = ["https://www.acme.com"]
dpop = "optional"
"""
#: Every route the fuzzer must get past authentication on (a 200 in /metrics after it).
AUTHENTICATED = [
    ("POST", "/v1/shops/{shop}/customer-token"),
    ("GET", "/v1/me"),
    ("POST", "/oauth/token"),
    ("POST", "/v1/oauth:token"),
    ("POST", "/oauth/access_token"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/revoke"),
    ("GET", "/admin/api/v1/clients"),
    ("GET", "/admin/api/v1/audit"),
]
#: The admin API is on: a database, and an API token with the scope admin for the fuzzer.
DATABASE = 'database = "sqlite:///fuzz.db"\napi_scopes = ["profiles:read"]\n'


@pytest.fixture(scope="module")
def fuzz_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fuzz server's directory, with its database migrated."""
    directory = tmp_path_factory.mktemp("fuzz")
    db.prepare(database_url("sqlite:///fuzz.db", directory), migrate=True)
    return directory


@pytest.fixture(scope="module")
def fuzz_admin_token(fuzz_directory: Path) -> str:
    return make_token(database_url("sqlite:///fuzz.db", fuzz_directory), ["admin"])


@pytest.fixture(scope="module")
def fuzz_server(fuzz_directory: Path) -> Iterator[Server]:
    port = free_port()
    directory = fuzz_directory
    text = config_toml(
        f"http://127.0.0.1:{port}",
        origins=["https://www.acme.com"],
        # DPoP on: the fuzzer's DPoP headers meet the proof checks.
        extra_shop='app_proxy_secret = "' + "p" * 40 + '"\ndpop = "optional"',
        extra=DATABASE,
    ).replace('per_ip = "10000/minute"', 'per_ip = "100000000/minute"')
    text = text.replace('per_client = "1000/minute"', 'per_client = "100000000/minute"')
    server = start_procfile(directory, text + CLIENTS, port=port)
    yield server
    log = server.stop()
    assert "Traceback" not in log


def post(server: Server, path: str, fields: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(fields).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def customer_token(server: Server, customer_id: str) -> str:
    path = f"/v1/shops/{SHOP}/customer-token"
    token: str = post(server, path, {"id": customer_id, "signature": sign(customer_id)})[
        "access_token"
    ]
    return token


@dataclass(frozen=True)
class Credentials:
    """What the fuzzer authenticates with: tokens from the real server, client secrets."""

    me: str  # /v1/me's bearer, never among the tokens the fuzzer may revoke
    tokens: list[str]  # to introspect and revoke: customer, client and implicit tokens
    admin: str  # an API token with the scope admin, for the admin API

    @classmethod
    def get(cls, server: Server, admin: str) -> Credentials:
        secret = {"client_id": BACKEND, "client_secret": BACKEND_SECRET}
        client = post(server, "/oauth/token", {"grant_type": "client_credentials", **secret})
        implicit = post(server, "/oauth/token", {"grant_type": "implicit", "client_id": WEB})
        return cls(
            me=customer_token(server, "42"),
            tokens=[customer_token(server, "43"), client["access_token"], implicit["access_token"]],
            admin=admin,
        )


def basic_pass(credentials: Credentials) -> str:
    """Everything: Basic on the OAuth endpoints, the bearer on /v1/me, real tokens in bodies."""
    return f"""
[auth.openapi.bearer]
bearer = "{credentials.me}"

[auth.openapi.adminToken]
bearer = "{credentials.admin}"

[auth.openapi.clientBasic]
username = "{BACKEND}"
password = "{BACKEND_SECRET}"

[dictionaries.clients]
values = ["{BACKEND}"]
[dictionaries.tokens]
values = {json.dumps(credentials.tokens)}

[parameters]
"body.client_id" = {{ dictionary = "clients", probability = 0.9 }}
"body.token" = {{ dictionary = "tokens", probability = 1.0 }}
"""


def body_pass(credentials: Credentials) -> str:
    """The token paths with credentials in the body: the confidential client's, or the
    public client's id alone (Basic stays off, or the body's would never be read)."""
    return f"""
[generation]
with-security-parameters = false

[dictionaries.clients]
values = ["{BACKEND}", "{WEB}"]
[dictionaries.secrets]
values = ["{BACKEND_SECRET}"]

[parameters]
"body.client_id" = {{ dictionary = "clients", probability = 0.9 }}
"body.client_secret" = {{ dictionary = "secrets", probability = 0.7 }}
"""


def schemathesis(server: Server, directory: Path, config: str, *args: str) -> str:
    """Run the fuzzer with ``config`` against ``server``; its output, or a failed assertion."""
    path = directory / "schemathesis.toml"
    # No cache, and no sign-up: the token endpoint is not a login to find tokens with.
    path.write_text(f"[cache]\nenabled = false\n\n[auth]\nauto-signup = false\n{config}")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(path),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--max-examples",
            "100",
            "--seed",
            "20261127",
            # One worker: the same seed then makes the same requests every run.
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--report",
            "junit",
            "--report-dir",
            str(directory),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,  # bounded: a few minutes at most
        check=False,
        cwd=directory,  # anything it writes stays out of the checkout
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"Test cases:\s+\d+ generated, \d+ passed", result.stdout), result.stdout
    return result.stdout


def route_counts(server: Server) -> dict[tuple[str, str, str], int]:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for match in re.finditer(
        r'shapestoken_requests_total\{method="(\w+)",route="([^"]+)",status="(\d+)"\} (\d+)',
        text,
    ):
        method, route, status, count = match.groups()
        counts[(method, route, status)] = int(count)
    return counts


@pytest.mark.e2e
def test_schemathesis_finds_no_server_error_and_no_undocumented_response(
    fuzz_server: Server, fuzz_admin_token: str, tmp_path: Path
) -> None:
    credentials = Credentials.get(fuzz_server, fuzz_admin_token)
    (tmp_path / "basic").mkdir()
    (tmp_path / "body").mkdir()
    schemathesis(fuzz_server, tmp_path / "basic", basic_pass(credentials))
    body = body_pass(credentials)
    schemathesis(fuzz_server, tmp_path / "body", body, "--include-path-regex", "token$")
    # The credentials worked: every authenticated route answered some requests in full.
    counts = route_counts(fuzz_server)
    for method, route in AUTHENTICATED:
        assert counts.get((method, route, "200"), 0) > 0, (method, route, counts)
    assert not [key for key in counts if key[2].startswith("5")], counts
