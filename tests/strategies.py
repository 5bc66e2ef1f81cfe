"""Hypothesis strategies for the signature and token core."""

from __future__ import annotations

from hypothesis import strategies as st

from service.support.secret import MIN_SECRET_BYTES

customer_ids = st.integers(min_value=1, max_value=10**20 - 1).map(str)
secrets = st.binary(min_size=MIN_SECRET_BYTES, max_size=128)
hex_chars = st.sampled_from("0123456789abcdef")
timestamps = st.integers(min_value=0, max_value=4_000_000_000)
ttls = st.integers(min_value=60, max_value=3600)
scopes = st.from_regex(r"[a-z][a-z:_]{0,20}( [a-z][a-z:_]{0,20}){0,3}", fullmatch=True)
shops = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}\.myshopify\.com", fullmatch=True)
client_ids = st.from_regex(r"[A-Za-z0-9._-]{3,64}", fullmatch=True)
kinds = st.sampled_from(["customer", "client_credentials", "implicit"])
scope_names = st.from_regex(r"[a-z][a-z:_.]{0,15}", fullmatch=True)
