"""Fixtures of the dashboard tests: an app with a database and the dashboard on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.signing.keys import KeyRing
from service.web.app import create_app
from service.wiring import build_components
from tests.conftest import ISSUER, Clock, make_settings
from tests.helpers import migrated, store_config
from tests.oauth_clients import CLIENTS


@pytest.fixture
def make_client(tmp_path: Path, keyring: KeyRing, clock: Clock) -> Iterator[Any]:
    clients: list[TestClient] = []
    database = migrated(tmp_path)

    def factory(issuer: str = ISSUER, admin: bool = True) -> TestClient:
        settings = make_settings(
            issuer=issuer, store=store_config(database, admin=admin), clients=CLIENTS
        )
        components = build_components(settings, keyring=keyring, now=clock, monotonic=clock)
        client = TestClient(
            create_app(settings, components=components), base_url=issuer, follow_redirects=False
        )
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)
