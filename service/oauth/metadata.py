"""The authorization server metadata document (RFC 8414 §2).

Built once from the issuer and the clients; every URL is absolute, under the
issuer, which is also the service's public base URL.
"""

from __future__ import annotations

from service.config.clients import GRANT_TYPES
from service.oauth.registry import ClientRegistry
from service.signing.dpop import ALGORITHMS as DPOP_ALGORITHMS

TOKEN_PATH = "/oauth/token"
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
JWKS_PATH = "/.well-known/jwks.json"
#: How a client may authenticate at the token endpoint (RFC 7591 §2 names).
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
#: Introspection needs a confidential client.
SECRET_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
#: Revocation also takes a public client's id alone (RFC 7009 §2.1), for its own tokens.
REVOCATION_AUTH_METHODS = TOKEN_AUTH_METHODS


def authorization_server_metadata(issuer: str, registry: ClientRegistry) -> dict[str, object]:
    """The RFC 8414 document for ``issuer``."""
    return {
        "issuer": issuer,
        "token_endpoint": issuer + TOKEN_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "introspection_endpoint": issuer + INTROSPECTION_PATH,
        "revocation_endpoint": issuer + REVOCATION_PATH,
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": SECRET_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": REVOCATION_AUTH_METHODS,
        # There is no authorization endpoint, so no response type (RFC 8414 §2).
        "response_types_supported": [],
        "scopes_supported": registry.scopes(),
        # RFC 9449 §5.1: the DPoP proof algorithms the token endpoint accepts.
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
    }
