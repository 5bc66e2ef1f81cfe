"""``state``: memory, or a validated Redis URL whose credentials never show."""

from __future__ import annotations

import pytest

from service.config import RedisURL, parse_settings
from service.config.state import parse_state
from service.errors import ConfigError
from tests.conftest import SECRET

PASSWORD = "pa55-w0rd-that-must-never-show"


def settings_with(state: object, environ: dict[str, str] | None = None) -> object:
    raw = {
        "issuer": "https://tokens.example.com",
        "state": state,
        "shops": {"acme.myshopify.com": {"id_secrets": [SECRET]}},
    }
    return parse_settings(raw, environ=environ or {}).state


def test_memory_is_the_default() -> None:
    raw = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": {"id_secrets": [SECRET]}},
    }
    assert parse_settings(raw, environ={}).state == "memory"
    assert parse_state("memory") == "memory"


@pytest.mark.parametrize(
    ("url", "tls", "host", "port", "db"),
    [
        ("redis://127.0.0.1:6379/0", False, "127.0.0.1", 6379, 0),
        ("redis://cache.internal", False, "cache.internal", 6379, 0),
        ("redis://cache.internal/", False, "cache.internal", 6379, 0),
        ("redis://cache.internal:6380/15", False, "cache.internal", 6380, 15),
        ("rediss://cache.example.com:6380/2", True, "cache.example.com", 6380, 2),
        ("redis://[::1]:6379/0", False, "::1", 6379, 0),
    ],
)
def test_redis_urls(url: str, tls: bool, host: str, port: int, db: int) -> None:
    target = parse_state(url)
    assert isinstance(target, RedisURL)
    assert (target.tls, target.host, target.port, target.db) == (tls, host, port, db)
    assert target.reveal() == url
    assert not target.credentials


def test_credentials_are_kept_but_never_shown() -> None:
    url = f"rediss://default:{PASSWORD}@cache.example.com:6380/0"
    target = settings_with("env:REDIS_URL", {"REDIS_URL": url})
    assert isinstance(target, RedisURL)
    assert target.reveal() == url and target.credentials
    assert str(target) == "rediss://**********@cache.example.com:6380/0"
    assert PASSWORD not in repr(target) and PASSWORD not in str(target)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis", 'state: expected "memory" or "redis://host:6379/0"'),
        ("Memory", "state: expected"),
        ("http://cache:6379/0", "got 'http://cache:6379/0'"),
        ("redis:/cache", "state: expected"),
        ("unix:///run/redis.sock", "state: expected"),
        ("redis://", "names no host"),
        ("redis://:6379/0", "names no host"),
        ("redis://cache:port/0", "bad port"),
        ("redis://cache:70000/0", "bad port"),
        ("redis://cache/zero", "must be a number"),
        ("redis://cache/01", "must be a number"),
        ("redis://cache/0/1", "must be a number"),
        ("redis://cache/0?socket_timeout=30", "query or fragment"),
        ("redis://cache/0#x", "query or fragment"),
        (6379, "state: expected a non-empty string"),
        ("", "state"),
    ],
)
def test_bad_state_values_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match="^state") as refused:
        settings_with(value)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{PASSWORD}@cache:port/0",
        f"rediss://:{PASSWORD}@cache/zero",
        f"redis://:{PASSWORD}@/0",
        f"redis://cache/0?password={PASSWORD}",
        f"redis://cache/0?x=1#{PASSWORD}",
        f"htp://:{PASSWORD}@cache/0",
        f"{PASSWORD}@cache",
    ],
)
def test_errors_never_show_a_password(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings_with(url)
    assert PASSWORD not in str(refused.value)


def test_the_summary_masks_the_password() -> None:
    raw = {
        "issuer": "https://tokens.example.com",
        "state": f"redis://:{PASSWORD}@cache:6379/1",
        "shops": {"acme.myshopify.com": {"id_secrets": [SECRET]}},
    }
    settings = parse_settings(raw, environ={})
    assert "state:        redis://**********@cache:6379/1" in settings.summary()
    assert PASSWORD not in settings.summary() and PASSWORD not in repr(settings)


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="state: environment variable REDIS_URL is not set"):
        settings_with("env:REDIS_URL")
