"""GET /.well-known/oauth-authorization-server (RFC 8414)."""

from __future__ import annotations

from service.oauth.metadata import authorization_server_metadata
from service.oauth.registry import ClientRegistry
from tests.conftest import ISSUER, ClientFactory
from tests.oauth_clients import CLIENTS


def test_the_document_over_http(client_factory: ClientFactory) -> None:
    client = client_factory(clients=CLIENTS)
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.json() == {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/oauth/token",
        "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
        "introspection_endpoint": f"{ISSUER}/oauth/introspect",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "grant_types_supported": ["client_credentials", "implicit"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        # A public client revokes its own tokens with its id alone (RFC 7009 §2.1).
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "response_types_supported": [],
        "scopes_supported": ["catalog:read", "profiles:read", "profiles:write", "tokens:check"],
        "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA"],
    }


def test_every_url_is_absolute_under_the_issuer() -> None:
    # RFC 8414 §2: the issuer has no trailing slash here, so the joins are exact.
    document = authorization_server_metadata("https://tokens.example.com/base", ClientRegistry({}))
    for name, value in document.items():
        if name.endswith(("_endpoint", "_uri")):
            assert isinstance(value, str) and value.startswith("https://tokens.example.com/base/")
    assert document["scopes_supported"] == []
