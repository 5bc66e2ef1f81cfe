"""Checks of single config values; each error names the key it is about.

Every section of the config (shops, clients, rate limits...) validates its
values with these, so a bad value reads the same wherever it is.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

from service.errors import ConfigError
from service.support.secret import MIN_SECRET_BYTES, Secret

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+", re.ASCII)
#: Shopify customer IDs: ASCII digits, no sign, no leading zero, at most 20 digits.
CUSTOMER_ID = re.compile(r"[1-9][0-9]{0,19}", re.ASCII)
#: A shop is named by its Shopify domain.
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,98}\.myshopify\.com", re.ASCII)
#: DPoP (RFC 9449) per shop and per client: ignore proofs, bind when one comes, or insist.
DPoPMode = Literal["off", "optional", "required"]
DPOP_MODES: tuple[DPoPMode, ...] = get_args(DPoPMode)


#: TOML's bare keys (TOML 1.0, "Keys"); any other key is written quoted.
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def key_path(*parts: str | int) -> str:
    """A key's path as TOML writes it, e.g. ``shops."acme.myshopify.com".id_secrets[0]``.

    Strings are keys, quoted unless bare; integers are array indexes. Every message
    about a config value names its key this way.
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        text += f".{key}" if text else key
    return text


def resolve_env(value: Any, environ: Mapping[str, str]) -> Any:
    """Replace every ``env:NAME`` string in a parsed TOML tree by the variable's value.

    Every missing variable is named at once, each with its key, so a deployment
    learns in one run all it has left to set.
    """
    missing: list[tuple[str, str]] = []

    def resolve(item: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(item, str) and item.startswith("env:"):
            name = item[4:]
            if name not in environ:
                missing.append((key_path(*path) or "config", name))
                return item
            return environ[name]
        if isinstance(item, Mapping):
            return {key: resolve(child, (*path, key)) for key, child in item.items()}
        if isinstance(item, list):
            return [resolve(child, (*path, i)) for i, child in enumerate(item)]
        return item

    resolved = resolve(value, ())
    if len(missing) == 1:
        ((key, name),) = missing
        raise ConfigError(f"{key}: environment variable {name} is not set")
    if missing:
        listed = "; ".join(f"{name} (for {key})" for key, name in missing)
        raise ConfigError(f"{len(missing)} environment variables are not set: {listed}")
    return resolved


#: Metadata of a settings field that is not a config key (derived, or read from elsewhere).
NOT_A_KEY = {"config_key": False}


def config_keys(section: type) -> frozenset[str]:
    """The keys of a config section: its dataclass's field names, less :data:`NOT_A_KEY` ones.

    Each key is written once, as a field; the parser refuses every other name.
    """
    fields = dataclasses.fields(section)
    return frozenset(f.name for f in fields if f.metadata.get("config_key", True))


def check_keys(table: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """Refuse unknown keys: a typo must not silently turn a setting off."""
    unknown = sorted(set(table).difference(allowed))
    if unknown:
        raise ConfigError(
            f"unknown config key {where}{unknown[0]} (allowed: {', '.join(sorted(allowed))})"
        )


def table(value: object, key: str) -> Mapping[str, Any]:
    """``value`` if it is a TOML table."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a table")
    return value


def secret(value: object, key: str) -> Secret:
    """A shared secret of at least :data:`~service.support.secret.MIN_SECRET_BYTES` bytes."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a secret string or 'env:NAME'")
    result = Secret(value)
    if len(result) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{key}: secret is {len(result)} bytes; at least {MIN_SECRET_BYTES} are required"
        )
    return result


def issuer(value: object) -> str:
    """The issuer URL without a trailing slash: https, or http for a local host only."""
    if value is None:
        raise ConfigError('issuer: required, e.g. issuer = "https://tokens.example.com"')
    text = string(value, "issuer").rstrip("/")
    parts = urlsplit(text)
    local = parts.hostname in LOCAL_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigError("issuer: must be an https:// URL (http only for localhost)")
    if not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("issuer: must be a URL with a host and no query or fragment")
    return text


def origin(value: object, key: str) -> str:
    """A browser origin, normalised as browsers send it in ``Origin``."""
    text = string(value, key)
    if "*" in text:
        # A browser's Origin is one exact origin; a pattern would never match it.
        raise ConfigError(
            f"{key}: {text!r}: wildcards are not supported; list each origin, "
            "e.g. https://www.acme.com"
        )
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


def origins(value: object, key: str) -> frozenset[str]:
    """A list of browser origins, each normalised by :func:`origin`; may be empty."""
    items = string_list(value, key, allow_empty=True)
    return frozenset(origin(item, f"{key}[{i}]") for i, item in enumerate(items))


def integer(value: object, key: str, low: int, high: int) -> int:
    """An integer (not a boolean) from ``low`` to ``high``, both included."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}: expected an integer from {low} to {high}, got {value!r}")
    return value


def boolean(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false")
    return value


def string(value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string")
    return value


def choice(value: object, choices: tuple[str, ...], key: str) -> str:
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def dpop(value: object, key: str) -> DPoPMode:
    """A ``dpop`` setting: one of :data:`DPOP_MODES`."""
    return cast(DPoPMode, choice(value, DPOP_MODES, key))


def string_list(value: object, key: str, *, allow_empty: bool = False) -> list[str]:
    """A list of non-empty strings; empty only with ``allow_empty``."""
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ConfigError(f"{key}: expected a {'' if allow_empty else 'non-empty '}list")
    return [string(item, f"{key}[{i}]") for i, item in enumerate(value)]


def networks(value: str, key: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (CIDR); ``*`` is refused.

    Trusting every peer would let any client name its own address in
    X-Forwarded-For, and with it choose its per-IP rate-limit bucket.
    """
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    for item in items:
        if item == "*":
            raise ConfigError(
                f"{key}: '*' would let any client choose its own address (and per-IP "
                "bucket); list the load balancer's addresses or networks, e.g. 10.0.0.0/8"
            )
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{key}: {item!r} is not an IP address or network") from exc
    return items
