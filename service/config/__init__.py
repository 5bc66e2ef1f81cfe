"""TOML -> frozen Settings, read once at start-up, every rule checked and named when broken."""

from __future__ import annotations

from service.config.clients import ClientConfig
from service.config.limits import Rate, RateLimits
from service.config.settings import (
    CONFIG_ENV,
    KEYS_ENV,
    Settings,
    config_path,
    load_settings,
    parse_settings,
    require_config_path,
)
from service.config.shops import ShopConfig
from service.config.state import RedisURL
from service.config.store import StoreConfig
from service.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "KEYS_ENV",
    "ClientConfig",
    "ConfigError",
    "Rate",
    "RateLimits",
    "RedisURL",
    "Settings",
    "ShopConfig",
    "StoreConfig",
    "config_path",
    "load_settings",
    "parse_settings",
    "require_config_path",
]
