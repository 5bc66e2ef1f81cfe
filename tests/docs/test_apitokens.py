"""The backends guide's "API tokens" steps, run as pasted against a real server.

The section is followed in its order: the config gets ``database`` and
``api_scopes`` and ``shapestoken db upgrade`` makes the schema; the password
hash and the session secret are exported as shown (the password on stdin);
the dashboard signs in with that password; the CLI makes a token; the curl
an API would run introspects it (with the ``api-gateway`` client that "Register a
client" makes) and gets the fields the guide shows; the revoke command,
given the token's id, ends it. Only the issuer (and the example id) are
replaced.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, SECRET
from tests.examples import bash, blocks, example, json_documents, run_create, section, tool_env
from tests.servers import Server, config_toml, free_port, start_server

pytestmark = pytest.mark.e2e

#: The id in the guide's examples, replaced by the real one.
EXAMPLE_ID = "8u5sn4ghjmz5"
TOKEN = re.compile(r"stk_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}")


def gateway_command() -> str:
    """The guide's `clients create` line for the API that introspects."""
    (body,) = [
        body
        for lang, body in blocks(section("Register a client", "guides/backends.md"))
        if lang == "sh" and body.startswith("shapestoken clients create api-gateway")
    ]
    return body


def sign_in(url: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, follow_redirects=False, timeout=10)
    page = browser.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf, page.text
    signed_in = browser.post("/admin/login", data={"csrf": csrf[1], "password": ADMIN_PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/"
    return browser


def introspect(server: Server, env: dict[str, str]) -> dict[str, object]:
    """The guide's introspection curl, as pasted, against ``server``."""
    output = bash(example("introspect-api-token", service=server.url), env=env)
    (answer,) = json_documents(output.stdout)
    return answer


def test_the_api_tokens_section_works_as_pasted(tmp_path: Path) -> None:
    gateway_secret, gateway_lines = run_create(gateway_command(), tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "shapestoken.toml"
    shell = tool_env(SHAPESTOKEN_CONFIG=str(config), SHOP_ID_SECRET=SECRET)

    # 1. A database and the scopes, then the schema (twice: the second does nothing).
    config.write_text(
        config_toml(url, extra=example("api-tokens-config"), extra_shop=gateway_lines)
    )
    upgrade = example("db-upgrade")
    assert "migrated from an empty database" in bash(upgrade, cwd=tmp_path, env=shell).stdout
    assert "already at revision" in bash(upgrade, cwd=tmp_path, env=shell).stdout
    assert (tmp_path / "var" / "shapestoken.db").is_file()  # relative to the config file

    # 2. The dashboard password and the session secret, exported as shown.
    exports = example("admin-password")
    shown = 'printf "%s\\n" "$SHAPESTOKEN_ADMIN_PASSWORD_HASH" "$SHAPESTOKEN_SESSION_SECRET"'
    exported = bash(f"{exports}\n{shown}", env=shell, stdin=ADMIN_PASSWORD + "\n")
    password_hash, session_secret = exported.stdout.splitlines()
    assert password_hash.startswith("$argon2id$") and len(session_secret) >= 32
    admin = {
        "SHAPESTOKEN_ADMIN_PASSWORD_HASH": password_hash,
        "SHAPESTOKEN_SESSION_SECRET": session_secret,
    }
    extra = example("api-tokens-config") + example("admin-config")
    configured = config_toml(url, extra=extra, extra_shop=gateway_lines)
    server = start_server(tmp_path, configured, env=admin, port=port)
    logs = []
    try:
        # 3. The dashboard signs in with that password.
        dashboard = sign_in(server.url)

        # From the command line: the token alone on stdout, then the list.
        session = {**shell, **admin, "GATEWAY_SECRET": gateway_secret}
        made = bash(f'{example("tokens-create")}printf "%s\\n" "$TOKEN"', env=session)
        *listing, token = made.stdout.splitlines()
        assert TOKEN.fullmatch(token) and token not in made.stderr
        header, row = listing
        assert header.split()[:2] == ["ID", "NAME"] and row.split()[1] == "crm-sync"
        token_id = row.split()[0]
        assert token_id in dashboard.get("/admin/").text

        # How an API checks one: the curl as pasted, and the fields the guide shows.
        answer = introspect(server, {**session, "TOKEN": token})
        assert set(answer) == set(json.loads(example("introspect-api-token-answer")))
        assert answer["active"] is True and answer["token_type"] == "Bearer"
        assert answer["sub"] == f"api-token:{token_id}" and answer["scope"] == "profiles:read"
        assert answer["iss"] == server.url
        assert answer["exp"] == answer["iat"] + 90 * 86400  # type: ignore[operator]

        # Revoking from the command line, with the token's id.
        revoked = bash(example("tokens-revoke").replace(EXAMPLE_ID, token_id), env=session)
        assert f"revoked token {token_id}" in revoked.stdout
        assert "badge revoked" in dashboard.get("/admin/").text
        dashboard.close()
    finally:
        logs.append(server.stop())
    # A process that has not cached the token (here the next one) knows at once.
    server = start_server(tmp_path, configured, env=admin, port=port, generate_key=False)
    try:
        assert introspect(server, {**session, "TOKEN": token}) == {"active": False}
    finally:
        logs.append(server.stop())
    for log in logs:
        assert token not in log and token[4:47] not in log and gateway_secret not in log
        assert "Traceback" not in log
