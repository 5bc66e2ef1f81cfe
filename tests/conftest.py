from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from service.config import Rate, RateLimits, Settings, ShopConfig
from service.customers.signatures import CustomerSigner
from service.observability import logs
from service.signing import keys
from service.support.secret import Secret
from service.web.app import create_app
from service.wiring import build_components

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

    from service.config.store import DatabaseURL
    from tests.databases import Postgres
    from tests.redis_server import RedisServer
    from tests.storefront import PageErrors, Traffic

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

ISSUER = "https://tokens.example.com"
SHOP = "acme.myshopify.com"
ORIGIN = "https://www.acme.com"
SECRET = "s" * 40
OLD_SECRET = "o" * 40
AUDIENCE = "https://api.acme.example"
ADMIN_PASSWORD = "correct horse battery staple"


@functools.cache
def admin_password_hash() -> str:
    """An Argon2id hash of ADMIN_PASSWORD at OWASP's minimum cost (fast enough for tests)."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(ADMIN_PASSWORD)


class Clock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sign(customer_id: str, secret: str = SECRET, ts: int | None = None) -> str:
    return CustomerSigner([Secret(secret)]).sign(customer_id, ts)


def make_shop(**overrides: Any) -> ShopConfig:
    values: dict[str, Any] = {
        "domain": SHOP,
        "id_secrets": (Secret(SECRET), Secret(OLD_SECRET)),
        "allowed_origins": frozenset({ORIGIN, f"https://{SHOP}"}),
        "audience": AUDIENCE,
        "scope": "customer",
        "token_ttl": 600,
    }
    values.update(overrides)
    return ShopConfig(**values)


def make_settings(tmp_path: Path | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "shops": {SHOP: make_shop()},
        "rate_limits": RateLimits(per_customer=Rate(30, 60), per_ip=Rate(1000, 60)),
    }
    if tmp_path is not None:
        values["signing_key_dir"] = tmp_path / "keys"
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def es256_key() -> keys.SigningKey:
    return keys.generate("ES256")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keyring(es256_key: keys.SigningKey, clock: Clock) -> keys.KeyRing:
    return keys.KeyRing([es256_key], window=3900, now=clock)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_factory(keyring: keys.KeyRing, clock: Clock) -> Iterator[ClientFactory]:
    """Builds a TestClient for an app made from ``make_settings(**overrides)``."""
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        settings = make_settings(**overrides)
        components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
        client = functools.partial(TestClient, raise_server_exceptions=False)(
            create_app(settings, components=components), base_url=ISSUER
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory()


T = TypeVar("T")


class Run(Protocol):
    """Runs a coroutine on the test's one event loop (Redis connections belong to a loop)."""

    def __call__(self, coroutine: Coroutine[Any, Any, T], /) -> T: ...


@pytest.fixture
def run() -> Iterator[Run]:
    with asyncio.Runner() as runner:
        yield runner.run


class LogRecords(logging.Handler):
    """The service log's records, kept for a test to read."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def fields(self, index: int) -> dict[str, Any]:
        """The structured fields (``extra={"fields": ...}``) of one record."""
        fields: dict[str, Any] = self.records[index].__dict__.get("fields", {})
        return fields


@pytest.fixture
def log_records() -> Iterator[LogRecords]:
    handler = LogRecords()
    logs.log.addHandler(handler)
    level = logs.log.level
    logs.log.setLevel(logging.DEBUG)
    yield handler
    logs.log.removeHandler(handler)
    logs.log.setLevel(level)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session; tests keep apart by key prefix."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


# -- databases (tests/databases.py): SQLite files and real PostgreSQL databases -------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The test PostgreSQL server; every database made on it is dropped at the end."""
    from tests.databases import DEFAULT_PG, PG_ENV, Postgres

    server = Postgres(os.environ.get(PG_ENV) or DEFAULT_PG)
    server.check()
    yield server
    server.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseURL:
    """An empty database of each kind, made for this test."""
    from tests.databases import sqlite_database

    if request.param == "sqlite":
        return sqlite_database(tmp_path)
    server: Postgres = request.getfixturevalue("postgres")
    return server.url(server.create())


# -- real-browser tests (tests/test_browser*.py); Playwright is imported only by them ------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The system Chromium, headless, one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.storefront import CHROMIUM_ARGS, chromium_executable

    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The service's log lines (text format) written while the test runs."""
    stream = io.StringIO()
    logs.configure("text")
    handler = logs.log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    logs.log.handlers.clear()


@pytest.fixture
def page_errors() -> PageErrors:
    """The page errors of the test's browser context; ``allow`` the ones it expects."""
    from tests.storefront import PageErrors

    return PageErrors()


@pytest.fixture
def context(browser: Browser, page_errors: PageErrors) -> Iterator[BrowserContext]:
    """A fresh browser context per test: its own localStorage, cookies and Web Locks.

    Fails the test on any uncaught page error or console error it did not allow.
    """
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page_errors.watch(context)
    yield context
    context.close()
    unexpected = page_errors.unexpected()
    assert not unexpected, f"page errors: {unexpected}"


@pytest.fixture
def traffic(context: BrowserContext) -> Traffic:
    from tests.storefront import Traffic

    seen = Traffic()
    context.on("request", seen.record)
    context.on(
        "response",
        lambda response: seen.responses.append(
            (response.request.method, response.url, response.status)
        ),
    )
    return seen
