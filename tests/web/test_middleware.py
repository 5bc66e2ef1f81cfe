"""The edges of the app every route shares: static files, WebSockets, slashes,
disconnects and the metrics' labels. Each error is JSON, whatever the request."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from tests.conftest import SHOP, ClientFactory
from tests.helpers import assert_error

SCRIPT = "/static/js/shapes-token.js"


@pytest.fixture
def static_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "js"
    (directory / ".git").mkdir(parents=True)
    (directory / "app.js").write_text("export const ok = true\n")
    (directory / ".env").write_text("SECRET=1\n")
    (directory / ".app.js.swp").write_text("swap\n")
    (directory / ".git" / "config").write_text("[core]\n")
    monkeypatch.setattr("service.web.app.asset_dir", lambda name: directory)
    return directory


@pytest.mark.parametrize("path", [".env", ".app.js.swp", ".git/config", "%2Eenv"])
def test_dotfiles_under_static_are_never_served(
    static_dir: Path, client_factory: ClientFactory, path: str
) -> None:
    client = client_factory()
    assert client.get("/static/js/app.js").status_code == 200
    response = client.get(f"/static/js/{path}")
    body = assert_error(response, 404, "not_found")
    assert "SECRET" not in str(body) and "[core]" not in response.text


@pytest.mark.parametrize(
    "range_header",
    ["bytes=abc", "bytes=999999-", "bytes=5-1", "bytes=0-1,2-3,4-5", "items=0-1", "bytes=0-10"],
)
def test_range_is_ignored_on_static_files(client: TestClient, range_header: str) -> None:
    whole = client.get(SCRIPT)
    response = client.get(SCRIPT, headers={"Range": range_header})
    # Never a plain-text 400/416, nor a multipart 206: the whole script, as without Range.
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == whole.content
    assert "accept-ranges" not in response.headers  # nor does it offer ranges


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz/"),
        ("GET", "/.well-known/jwks.json/"),
        ("POST", f"/v1/shops/{SHOP}/customer-token/"),
        ("GET", "/v1/me/"),
    ],
)
def test_a_trailing_slash_is_a_json_404_not_a_redirect(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, follow_redirects=False)
    assert_error(response, 404, "not_found")
    assert "location" not in response.headers


@pytest.mark.parametrize("path", ["/v1/me", "/healthz", "/nowhere?signature=abc"])
def test_a_websocket_handshake_is_refused_with_json(client: TestClient, path: str) -> None:
    with pytest.raises(WebSocketDenialResponse) as info:
        with client.websocket_connect(path):
            pass  # pragma: no cover (the handshake never succeeds)
    assert_error(info.value, 404, "not_found")


def test_unknown_methods_are_counted_as_other(client: TestClient) -> None:
    # With the h11 parser any token is a method: a label per method would let a
    # client create series without bound.
    for method in ("FOO", "BREW", "X" * 40):
        assert_error(client.request(method, "/healthz"), 405, "method_not_allowed")
    client.request("PATCH", "/healthz")
    text = client.get("/metrics").text
    assert 'shapestoken_requests_total{method="OTHER",route="/healthz",status="405"} 3' in text
    assert 'method="PATCH",route="/healthz",status="405"} 1' in text
    assert "FOO" not in text and "BREW" not in text and "X" * 40 not in text
