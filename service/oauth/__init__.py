"""OAuth 2.0 without HTTP: clients, grants, scopes, introspection, revocation, metadata."""
