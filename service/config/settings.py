"""The top-level settings: read once at start-up from one TOML file, every rule checked.

The config package is the only code that reads the environment. Any string of the form
``env:NAME`` is replaced by the variable ``NAME``; a missing variable, an unknown
key or a short secret is a :class:`ConfigError` naming it, because a typo must
never silently turn a security setting off. Each section has its own module:
:mod:`~service.config.shops`, :mod:`~service.config.clients` (OAuth clients),
:mod:`~service.config.limits`, :mod:`~service.config.state` and
:mod:`~service.config.store` (the database and the dashboard); single values
are checked by :mod:`~service.config.values`, and :mod:`~service.config.advice`
warns about valid settings that are probably a mistake.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.config import values
from service.config.clients import ClientConfig, parse_clients
from service.config.limits import RateLimits, parse_rate_limits
from service.config.shops import ShopConfig, parse_shops, token_ttl
from service.config.state import RedisURL, parse_state
from service.config.store import StoreConfig, parse_store
from service.errors import ConfigError
from service.support.secret import Secret

CONFIG_ENV = "SHAPESTOKEN_CONFIG"
KEYS_ENV = "SHAPESTOKEN_SIGNING_KEYS"
FORWARDED_ENV = "FORWARDED_ALLOW_IPS"
DEFAULT_CONFIG = Path("shapestoken.toml")

ALGORITHMS = ("ES256", "EdDSA", "RS256")


@dataclass(frozen=True)
class Settings:
    issuer: str
    shops: Mapping[str, ShopConfig]
    token_ttl: int = 900
    signing_key_dir: Path = Path("var/keys")
    #: PEM private keys from SHAPESTOKEN_SIGNING_KEYS; when set, the directory is not read.
    signing_keys_pem: Secret | None = field(default=None, metadata=values.NOT_A_KEY)
    signing_alg: str = "ES256"
    #: Seconds from a rotated-in key's creation until it signs (it is published at once).
    key_activation_delay: int = 900
    #: "memory", or the Redis every replica shares.
    state: str | RedisURL = "memory"
    log_format: str = "text"
    #: One line per request (service.observability.accesslog); false turns request lines off.
    access_log: bool = True
    rate_limits: RateLimits = field(default_factory=RateLimits)
    #: Seconds a request body may take to arrive whole (a slow body holds a connection).
    body_timeout: int = 10
    #: API tokens and the dashboard: its keys (database, api_scopes, ...) are top-level.
    store: StoreConfig = field(default_factory=StoreConfig, metadata=values.NOT_A_KEY)
    #: Proxies trusted for X-Forwarded-For / -Proto (addresses or networks), from
    #: FORWARDED_ALLOW_IPS; the client address is taken from the last untrusted hop.
    forwarded_allow_ips: tuple[str, ...] = field(default=("127.0.0.1",), metadata=values.NOT_A_KEY)
    development: bool = field(default=False, metadata=values.NOT_A_KEY)
    source: str = field(default="<defaults>", metadata=values.NOT_A_KEY)
    clients: Mapping[str, ClientConfig] = field(default_factory=dict)

    @property
    def max_token_ttl(self) -> int:
        """The longest lifetime of any token this configuration mints.

        It sizes every window that must outlive tokens: the JWKS publish window
        of a retired key, revocations, the cut-off after an unblock.
        """
        return max(
            [
                self.token_ttl,
                *(shop.token_ttl for shop in self.shops.values()),
                *(client.token_ttl for client in self.clients.values()),
            ]
        )

    def summary(self) -> str:
        """A human summary with every secret masked, for ``check-config``."""
        keys = KEYS_ENV if self.signing_keys_pem is not None else str(self.signing_key_dir)
        limits = self.rate_limits
        lines = [
            f"config:       {self.source}",
            f"issuer:       {self.issuer}",
            f"signing:      {self.signing_alg}, keys from {keys}, "
            f"new keys sign {self.key_activation_delay}s after creation",
            f"token_ttl:    {self.token_ttl}s",
            f"state:        {self.state}",
            f"proxies:      {', '.join(self.forwarded_allow_ips) or '(none)'} trusted for "
            "X-Forwarded-For",
            f"rate limits:  {limits.per_customer} per customer, {limits.per_client} per client, "
            f"{limits.per_ip} per IP, {limits.max_entries} keys tracked",
        ]
        lines += self.store.summary()
        for shop in self.shops.values():
            lines += shop.summary()
        for client in self.clients.values():
            lines += client.summary()
        return "\n".join(lines)


#: What a config file leaves out: the dataclass's defaults, read from one place.
_DEFAULTS = Settings(issuer="", shops={})
#: Every top-level key: the fields of Settings and of StoreConfig (whose keys are top-level).
TOP_KEYS = values.config_keys(Settings) | values.config_keys(StoreConfig)


def config_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The config file to use: ``$SHAPESTOKEN_CONFIG``, else ``./shapestoken.toml`` if present."""
    if value := environ.get(CONFIG_ENV):
        return Path(value)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def require_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """:func:`config_path`, or a :class:`ConfigError` saying that no config was found."""
    path = config_path(environ)
    if path is None:
        raise ConfigError(
            f"no config found: set {CONFIG_ENV} or add ./shapestoken.toml "
            "(only `shapestoken serve` runs without one, in development mode)"
        )
    return path


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
    raw = values.resolve_env(raw, environ)
    values.check_keys(raw, TOP_KEYS, "")
    issuer = values.issuer(raw.get("issuer"))
    ttl = token_ttl(raw.get("token_ttl", _DEFAULTS.token_ttl), "token_ttl")
    keys_pem = environ.get(KEYS_ENV)
    if keys_pem and not keys_pem.isascii():
        # PEM is ASCII; typographic quotes or a BOM from a copy-paste are not. The
        # content is never shown: it is a private key.
        raise ConfigError(
            f"{KEYS_ENV}: holds non-ASCII characters; it must be PEM private keys, "
            "as printed by `shapestoken keys generate --print`"
        )
    shops = parse_shops(raw.get("shops", {}), issuer=issuer, default_ttl=ttl)
    clients = parse_clients(raw.get("clients", {}), issuer=issuer)
    check_guest_clients(shops, clients)
    return Settings(
        issuer=issuer,
        shops=shops,
        token_ttl=ttl,
        signing_key_dir=base_dir
        / values.string(
            raw.get("signing_key_dir", str(_DEFAULTS.signing_key_dir)), "signing_key_dir"
        ),
        signing_keys_pem=Secret(keys_pem) if keys_pem else None,
        signing_alg=values.choice(
            raw.get("signing_alg", _DEFAULTS.signing_alg), ALGORITHMS, "signing_alg"
        ),
        key_activation_delay=values.integer(
            raw.get("key_activation_delay", _DEFAULTS.key_activation_delay),
            "key_activation_delay",
            0,
            86400,
        ),
        state=parse_state(raw.get("state", _DEFAULTS.state)),
        log_format=values.choice(
            raw.get("log_format", _DEFAULTS.log_format), ("text", "json"), "log_format"
        ),
        access_log=values.boolean(raw.get("access_log", _DEFAULTS.access_log), "access_log"),
        body_timeout=values.integer(
            raw.get("body_timeout", _DEFAULTS.body_timeout), "body_timeout", 1, 60
        ),
        rate_limits=parse_rate_limits(raw.get("rate_limits", {})),
        store=parse_store(raw, base_dir=base_dir),
        forwarded_allow_ips=values.networks(
            environ.get(FORWARDED_ENV, ",".join(_DEFAULTS.forwarded_allow_ips)), FORWARDED_ENV
        ),
        source=source,
        clients=clients,
    )


def check_guest_clients(
    shops: Mapping[str, ShopConfig], clients: Mapping[str, ClientConfig]
) -> None:
    """Each shop's ``guest_client`` is a public client that serves the shop's storefront.

    Its id is in every guest page, so it must hold no secret; and every origin the
    storefront is served from must be one of its ``allowed_origins``, or a guest page
    there gets 403 instead of a token.
    """
    for shop in shops.values():
        if shop.guest_client is None:
            continue
        key = values.key_path("shops", shop.domain, "guest_client")
        client = clients.get(shop.guest_client)
        where = f"[{values.key_path('clients', shop.guest_client)}]"
        if client is None:
            raise ConfigError(f"{key}: no {where} is configured; add a public client")
        if client.confidential:
            raise ConfigError(
                f"{key}: {where} has secret_hashes; a guest client must be public, since "
                "its id is in every guest page"
            )
        if "implicit" not in client.grant_types:
            raise ConfigError(f"{key}: {where} must have the implicit grant")
        if not client.allowed_origins:
            raise ConfigError(f"{key}: {where} has no allowed_origins; list the storefront's")
        missing = sorted(shop.allowed_origins - client.allowed_origins)
        if missing:
            raise ConfigError(
                f"{key}: {values.key_path('clients', shop.guest_client, 'allowed_origins')} "
                f"lacks {', '.join(missing)}, where the "
                "shop's storefront is served (its allowed_origins)"
            )
