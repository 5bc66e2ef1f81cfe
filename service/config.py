"""Settings and the shop registry, read once at start-up from one TOML file.

This is the only module that reads the environment. Any string of the form
``env:NAME`` is replaced by the variable ``NAME``; a missing variable, an unknown
key or a short secret is a :class:`ConfigError` naming it, because a typo must
never silently turn a security setting off.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from service.errors import ConfigError
from service.secret import MIN_SECRET_BYTES, Secret

CONFIG_ENV = "SHAPESTOKEN_CONFIG"
KEYS_ENV = "SHAPESTOKEN_SIGNING_KEYS"
DEFAULT_CONFIG = Path("shapestoken.toml")

ALGORITHMS = ("ES256", "EdDSA", "RS256")
MIN_TTL, MAX_TTL = 60, 3600
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,98}\.myshopify\.com", re.ASCII)
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

_TOP_KEYS = {
    "issuer",
    "token_ttl",
    "signing_key_dir",
    "signing_alg",
    "state",
    "log_format",
    "rate_limits",
    "shops",
}
_RATE_KEYS = {"per_customer", "per_ip", "max_entries"}
_SHOP_KEYS = {
    "id_secrets",
    "allowed_origins",
    "audience",
    "scope",
    "token_ttl",
    "signature_max_age",
    "require_timestamp",
    "app_proxy_secret",
}


@dataclass(frozen=True)
class Rate:
    """``limit`` events per ``period`` seconds, e.g. ``Rate.parse("30/minute")``."""

    limit: int
    period: int

    @classmethod
    def parse(cls, text: str, *, key: str) -> Rate:
        match = re.fullmatch(r"\s*([1-9][0-9]*)\s*/\s*([a-z]+)\s*", text)
        if not match or match[2] not in PERIODS:
            raise ConfigError(f"{key}: expected '<count>/<second|minute|hour|day>', got {text!r}")
        return cls(int(match[1]), PERIODS[match[2]])

    def __str__(self) -> str:
        unit = next(name for name, secs in PERIODS.items() if secs == self.period)
        return f"{self.limit}/{unit}"


@dataclass(frozen=True)
class RateLimits:
    per_customer: Rate = Rate(30, 60)
    per_ip: Rate = Rate(120, 60)
    #: Keys tracked per limiter; memory stays bounded by this, not by traffic.
    max_entries: int = 100_000


@dataclass(frozen=True)
class ShopConfig:
    domain: str
    id_secrets: tuple[Secret, ...]
    allowed_origins: frozenset[str]
    audience: str
    scope: str = "customer"
    token_ttl: int = 900
    signature_max_age: int | None = None
    require_timestamp: bool = False
    app_proxy_secret: Secret | None = None


@dataclass(frozen=True)
class Settings:
    issuer: str
    shops: Mapping[str, ShopConfig]
    token_ttl: int = 900
    signing_key_dir: Path = Path("var/keys")
    #: PEM private keys from SHAPESTOKEN_SIGNING_KEYS; when set, the directory is not read.
    signing_keys_pem: Secret | None = None
    signing_alg: str = "ES256"
    state: str = "memory"
    log_format: str = "text"
    rate_limits: RateLimits = field(default_factory=RateLimits)
    development: bool = False
    source: str = "<defaults>"

    @property
    def max_token_ttl(self) -> int:
        return max([self.token_ttl, *(shop.token_ttl for shop in self.shops.values())])

    def summary(self) -> str:
        """A human summary with every secret masked, for ``check-config``."""
        keys = KEYS_ENV if self.signing_keys_pem is not None else str(self.signing_key_dir)
        lines = [
            f"config:       {self.source}",
            f"issuer:       {self.issuer}",
            f"signing:      {self.signing_alg}, keys from {keys}",
            f"token_ttl:    {self.token_ttl}s",
            f"state:        {self.state}",
            f"rate limits:  {self.rate_limits.per_customer} per customer, "
            f"{self.rate_limits.per_ip} per IP, {self.rate_limits.max_entries} keys tracked",
        ]
        for shop in self.shops.values():
            lines += [
                f"shop {shop.domain}:",
                f"  id_secrets:      {len(shop.id_secrets)} x {shop.id_secrets[0]}",
                f"  allowed_origins: {', '.join(sorted(shop.allowed_origins)) or '(none)'}",
                f"  audience:        {shop.audience}",
                f"  scope:           {shop.scope}",
                f"  token_ttl:       {shop.token_ttl}s",
            ]
            if shop.signature_max_age is not None:
                lines.append(
                    f"  timestamps:      max age {shop.signature_max_age}s, "
                    f"{'required' if shop.require_timestamp else 'optional'}"
                )
            if shop.app_proxy_secret is not None:
                lines.append(f"  app proxy:       secret {shop.app_proxy_secret}")
        return "\n".join(lines)


def config_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The config file to use: ``$SHAPESTOKEN_CONFIG``, else ``./shapestoken.toml`` if present."""
    if value := environ.get(CONFIG_ENV):
        return Path(value)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate the TOML file at ``path``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_settings(raw, environ=environ, base_dir=path.parent, source=str(path))


def parse_settings(
    raw: Mapping[str, Any],
    *,
    environ: Mapping[str, str] = os.environ,
    base_dir: Path = Path("."),
    source: str = "<dict>",
) -> Settings:
    """Validate an already-parsed config mapping (the TOML file's contents)."""
    raw = _resolve_env(raw, environ, "")
    _check_keys(raw, _TOP_KEYS, "")
    issuer = _issuer(raw.get("issuer"))
    token_ttl = _ttl(raw.get("token_ttl", 900), "token_ttl")
    alg = _choice(raw.get("signing_alg", "ES256"), ALGORITHMS, "signing_alg")
    state = _string(raw.get("state", "memory"), "state")
    if state != "memory":
        raise ConfigError(f"state: only 'memory' is supported by this version, got {state!r}")
    log_format = _choice(raw.get("log_format", "text"), ("text", "json"), "log_format")
    key_dir = base_dir / _string(raw.get("signing_key_dir", "var/keys"), "signing_key_dir")
    keys_pem = environ.get(KEYS_ENV)

    shops_raw = raw.get("shops", {})
    if not isinstance(shops_raw, Mapping) or not shops_raw:
        raise ConfigError('shops: configure at least one [shops."<name>.myshopify.com"] table')
    shops = {
        domain: _shop(domain, table, issuer=issuer, default_ttl=token_ttl)
        for domain, table in shops_raw.items()
    }
    return Settings(
        issuer=issuer,
        shops=shops,
        token_ttl=token_ttl,
        signing_key_dir=key_dir,
        signing_keys_pem=Secret(keys_pem) if keys_pem else None,
        signing_alg=alg,
        state=state,
        log_format=log_format,
        rate_limits=_rate_limits(raw.get("rate_limits", {})),
        source=source,
    )


def _shop(domain: str, table: object, *, issuer: str, default_ttl: int) -> ShopConfig:
    where = f'shops."{domain}"'
    if not SHOP_DOMAIN.fullmatch(domain):
        raise ConfigError(f"{where}: a shop is named by its <name>.myshopify.com domain")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table")
    _check_keys(table, _SHOP_KEYS, f"{where}.")
    secrets = table.get("id_secrets")
    if not isinstance(secrets, list) or not secrets:
        raise ConfigError(f"{where}.id_secrets: list at least one secret, newest first")
    max_age = table.get("signature_max_age")
    if max_age is not None:
        max_age = _int(max_age, f"{where}.signature_max_age", 60, 7 * 86400)
    require_ts = table.get("require_timestamp", False)
    if not isinstance(require_ts, bool):
        raise ConfigError(f"{where}.require_timestamp: expected true or false")
    if require_ts and max_age is None:
        raise ConfigError(f"{where}.require_timestamp needs signature_max_age")
    proxy = table.get("app_proxy_secret")
    return ShopConfig(
        domain=domain,
        id_secrets=tuple(
            _secret(value, f"{where}.id_secrets[{i}]") for i, value in enumerate(secrets)
        ),
        allowed_origins=frozenset(
            _origin(value, f"{where}.allowed_origins")
            for value in _list(table.get("allowed_origins", []), f"{where}.allowed_origins")
        ),
        audience=_string(table.get("audience", issuer), f"{where}.audience"),
        scope=_string(table.get("scope", "customer"), f"{where}.scope"),
        token_ttl=_ttl(table.get("token_ttl", default_ttl), f"{where}.token_ttl"),
        signature_max_age=max_age,
        require_timestamp=require_ts,
        app_proxy_secret=None if proxy is None else _secret(proxy, f"{where}.app_proxy_secret"),
    )


def _rate_limits(table: object) -> RateLimits:
    if not isinstance(table, Mapping):
        raise ConfigError("rate_limits: expected a table")
    _check_keys(table, _RATE_KEYS, "rate_limits.")
    defaults = RateLimits()
    return RateLimits(
        per_customer=Rate.parse(
            _string(table.get("per_customer", str(defaults.per_customer)), "rate_limits"),
            key="rate_limits.per_customer",
        ),
        per_ip=Rate.parse(
            _string(table.get("per_ip", str(defaults.per_ip)), "rate_limits"),
            key="rate_limits.per_ip",
        ),
        max_entries=_int(
            table.get("max_entries", defaults.max_entries),
            "rate_limits.max_entries",
            100,
            10_000_000,
        ),
    )


def _resolve_env(value: Any, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in environ:
            raise ConfigError(f"{where or 'config'}: environment variable {name} is not set")
        return environ[name]
    if isinstance(value, Mapping):
        return {
            key: _resolve_env(item, environ, f"{where}.{key}" if where else key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_resolve_env(item, environ, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown config key {where}{unknown[0]} (allowed: {', '.join(sorted(allowed))})"
        )


def _secret(value: object, key: str) -> Secret:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a secret string or 'env:NAME'")
    secret = Secret(value)
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{key}: secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are required"
        )
    return secret


def _issuer(value: object) -> str:
    if value is None:
        raise ConfigError('issuer: required, e.g. issuer = "https://tokens.example.com"')
    issuer = _string(value, "issuer").rstrip("/")
    parts = urlsplit(issuer)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigError("issuer: must be an https:// URL (http only for localhost)")
    if not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("issuer: must be a URL with a host and no query or fragment")
    return issuer


def _origin(value: object, key: str) -> str:
    text = _string(value, key)
    parts = urlsplit(text)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ConfigError(f"{key}: {text!r} is not an origin like https://shop.example.com")
    # Browsers send the origin lowercased without a trailing slash or default port.
    default_port = {"https": 443, "http": 80}[parts.scheme]
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    return f"{parts.scheme}://{parts.hostname}{port}"


def _ttl(value: object, key: str) -> int:
    return _int(value, key, MIN_TTL, MAX_TTL)


def _int(value: object, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}: expected an integer from {low} to {high}, got {value!r}")
    return value


def _string(value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string")
    return value


def _choice(value: object, choices: tuple[str, ...], key: str) -> str:
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _list(value: object, key: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list")
    return value
