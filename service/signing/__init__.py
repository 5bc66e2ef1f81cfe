"""Signing keys, their files and reloading, and the JWT access tokens they sign and verify."""
