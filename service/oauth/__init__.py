"""The OAuth 2.0 rules of the service, without HTTP.

Python's OAuth server libraries are synchronous, so this layer is the
service's own: small, async where it touches shared state, and exact to the
RFCs each module names.

- :mod:`~service.oauth.params`: request parameters (RFC 6749 §3.1, §3.2)
- :mod:`~service.oauth.credentials`: client authentication methods (RFC 6749 §2.3)
- :mod:`~service.oauth.clients`: the client registry, secrets by SHA-256 in constant time
- :mod:`~service.oauth.grants`: client credentials and implicit tokens (RFC 6749 §4.4, §5.1)
- :mod:`~service.oauth.scopes`: scope (RFC 6749 §3.3) and audience (RFC 8707)
- :mod:`~service.oauth.introspection`: RFC 7662
- :mod:`~service.oauth.revocation`: RFC 7009
- :mod:`~service.oauth.metadata`: RFC 8414
- :mod:`~service.oauth.errors`: the error codes (RFC 6749 §5.2)
- :mod:`~service.oauth.server`: all of it together, for the HTTP layer
"""
