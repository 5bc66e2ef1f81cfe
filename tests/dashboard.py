"""The dashboard driven as a browser would, through a TestClient: sign in, forms, CSRF."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match[1]


def sign_in(client: TestClient, password: str = ADMIN_PASSWORD) -> httpx.Response:
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"csrf": csrf_of(page.text), "password": password})


def new_token_form(client: TestClient) -> dict[str, str]:
    page = client.get("/admin/tokens/new")
    assert page.status_code == 200
    nonce = re.search(r'name="form" value="([^"]+)"', page.text)
    assert nonce
    return {"csrf": csrf_of(page.text), "form": nonce[1]}


def add_token(client: TestClient, **fields: Any) -> httpx.Response:
    data: dict[str, Any] = {
        **new_token_form(client),
        "name": "crm-sync",
        "scope": ["profiles:read"],
        "expires": "90d",
    }
    data.update(fields)
    return client.post("/admin/tokens/new", data=data)
