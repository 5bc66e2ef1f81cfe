"""The API-token format and the rules for new tokens (service/store/stk.py)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.store.stk import (
    BASE62,
    TOKEN_LENGTH,
    ApiToken,
    TokenInputError,
    _checksum,
    check_name,
    check_scopes,
    is_id,
    is_well_formed,
    new_id,
    new_token,
    parse_duration,
    token_hash,
    utc,
)

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SCOPES = ("profiles:read", "profiles:write", "orders:read")


def test_the_design_format() -> None:
    token = new_token()
    assert len(token) == TOKEN_LENGTH == 54
    assert token.startswith("stk_") and token[47] == "_"
    body = token[4:47]
    assert len(base64.urlsafe_b64decode(body + "=")) == 32  # 256 random bits
    assert all(char in BASE62 for char in token[48:])
    assert is_well_formed(token)


def test_tokens_are_new_every_time() -> None:
    assert len({new_token() for _ in range(200)}) == 200


def test_a_known_token_and_its_checksum() -> None:
    # zlib.crc32(b"stk_" + 43 * b"A") == 2280858625, "2UMFWL" in base62 (0-9A-Za-z).
    assert is_well_formed("stk_" + "A" * 43 + "_2UMFWL")
    assert not is_well_formed("stk_" + "A" * 43 + "_2UMFWM")


def _token_from(random_bytes: bytes) -> str:
    """The token new_token() would make from these 32 bytes, so examples replay exactly."""
    head = "stk_" + base64.urlsafe_b64encode(random_bytes).rstrip(b"=").decode("ascii")
    return f"{head}_{_checksum(head)}"


@given(st.binary(min_size=32, max_size=32), st.data())
def test_any_single_changed_character_is_refused(random_bytes: bytes, data: st.DataObject) -> None:
    token = _token_from(random_bytes)
    assert is_well_formed(token)
    index = data.draw(st.integers(0, len(token) - 1))
    # A shift of 1..63 places around the alphabet is never the same character, so
    # the draw needs no filter and replays identically.
    shift = data.draw(st.integers(1, len(TOKEN_CHARS) - 1))
    replacement = TOKEN_CHARS[(TOKEN_CHARS.index(token[index]) + shift) % len(TOKEN_CHARS)]
    assert not is_well_formed(token[:index] + replacement + token[index + 1 :])


@given(st.text(max_size=80))
def test_arbitrary_text_is_refused(text: str) -> None:
    assert not is_well_formed(text)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t + "0",
        lambda t: " " + t[1:],
        lambda t: "STK_" + t[4:],
        lambda t: "sk__" + t[4:],
        lambda t: t[:47] + "-" + t[48:],
        lambda t: t.replace("_", "/", 1),
    ],
)
def test_near_misses_are_refused(mangle: object) -> None:
    assert callable(mangle)
    assert not is_well_formed(mangle(new_token()))


def test_a_non_canonical_last_character_is_refused() -> None:
    # 43 characters hold 258 bits; a last character with the spare bits set decodes
    # to the same bytes, so only the canonical spelling is a token.
    head = "stk_" + "A" * 42 + "B"
    assert not is_well_formed(f"{head}_{_checksum(head)}")


def test_the_store_keeps_sha256() -> None:
    token = new_token()
    assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()


def test_ids() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_id(i) and len(i) == 12 for i in ids)
    assert not is_id("ABCDEFGHIJKL") and not is_id("abc") and not is_id("l0l0l0l0l0l0")


def record(**changes: object) -> ApiToken:
    values: dict[str, object] = {
        "id": "abcdefghjkmn",
        "name": "crm-sync",
        "scopes": ("profiles:read",),
        "created_at": utc(1_800_000_000),
        "created_by": "cli:ops",
    }
    values.update(changes)
    return ApiToken(**values)  # type: ignore[arg-type]


def test_status_and_introspection() -> None:
    now = utc(1_800_000_100)
    assert record().status(now) == "active"
    assert record(expires_at=utc(1_800_000_100)).status(now) == "expired"
    assert record(revoked_at=utc(1_800_000_050)).status(now) == "revoked"
    assert record(scopes=("a", "b")).introspection("https://t.example") == {
        "scope": "a b",
        "sub": "api-token:abcdefghjkmn",
        "token_type": "Bearer",
        "iat": 1_800_000_000,
        "iss": "https://t.example",
    }
    assert record(expires_at=utc(1_800_086_400)).introspection("https://t")["exp"] == 1_800_086_400


def test_utc_is_aware_and_whole_seconds() -> None:
    assert utc(1_800_000_000.9) == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12h", 43200),
        ("90d", 90 * 86400),
        ("6w", 42 * 86400),
        ("1y", 365 * 86400),
        (" 7d ", 604800),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "90", "d", "0d", "-1d", "1.5d", "90 d", "3m", "90D", "11y", "١d"]
)
def test_bad_durations_name_the_field(text: str) -> None:
    with pytest.raises(TokenInputError) as caught:
        parse_duration(text)
    assert caught.value.field == "expires"


def test_names() -> None:
    assert check_name("  crm sync  ") == "crm sync"
    assert check_name("x" * 100) == "x" * 100
    for bad in ("", "   ", "x" * 101, "crm\nsync", "tab\there", "\x00"):
        with pytest.raises(TokenInputError) as caught:
            check_name(bad)
        assert caught.value.field == "name"


def test_scopes() -> None:
    assert check_scopes(["orders:read", "profiles:read"], SCOPES) == (
        "profiles:read",
        "orders:read",
    )
    assert check_scopes(["orders:read", "orders:read"], SCOPES) == ("orders:read",)
    for bad in ([], ["admin"], ["profiles:read", "x" * 1000], ["profiles:read "]):
        with pytest.raises(TokenInputError) as caught:
            check_scopes(bad, SCOPES)
        assert caught.value.field == "scope"
        assert "x" * 100 not in str(caught.value)
