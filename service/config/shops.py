"""``[shops."<name>.myshopify.com"]``: each shop's secrets, origins and token shape."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config import values
from service.errors import ConfigError
from service.support.secret import Secret

MIN_TTL, MAX_TTL = 60, 3600
#: Oldest timestamped signature a shop may accept: 60 s to 7 days.
MIN_SIGNATURE_AGE, MAX_SIGNATURE_AGE = 60, 7 * 86400


@dataclass(frozen=True)
class ShopConfig:
    domain: str = field(metadata=values.NOT_A_KEY)
    id_secrets: tuple[Secret, ...]
    allowed_origins: frozenset[str]
    audience: str
    scope: str = "customer"
    token_ttl: int = 900
    signature_max_age: int | None = None
    require_timestamp: bool = False
    app_proxy_secret: Secret | None = None
    #: The public client whose implicit tokens the shop's guests get (docs: theme guide, "Guests").
    guest_client: str | None = None
    #: DPoP (RFC 9449) at the customer-token endpoint: off, optional or required.
    dpop: values.DPoPMode = "off"

    @property
    def signed_ids(self) -> bool:
        """Whether the theme may sign customer ids (false: App Proxy only)."""
        return bool(self.id_secrets)

    def summary(self) -> list[str]:
        """Lines for ``check-config``, secrets masked."""
        secrets = (
            f"{len(self.id_secrets)} x {self.id_secrets[0]}"
            if self.id_secrets
            else "none (App Proxy only: signed ids answer 403 signed_ids_disabled)"
        )
        lines = [
            f"shop {self.domain}:",
            f"  id_secrets:      {secrets}",
            f"  allowed_origins: {', '.join(sorted(self.allowed_origins)) or '(none)'}",
            f"  audience:        {self.audience}",
            f"  scope:           {self.scope}",
            f"  token_ttl:       {self.token_ttl}s",
        ]
        if self.signature_max_age is not None:
            required = "required" if self.require_timestamp else "optional"
            lines.append(f"  timestamps:      max age {self.signature_max_age}s, {required}")
        if self.app_proxy_secret is not None:
            lines.append(f"  app proxy:       secret {self.app_proxy_secret}")
        if self.guest_client is not None:
            lines.append(f"  guest_client:    {self.guest_client}")
        lines.append(f"  dpop:            {self.dpop}")
        return lines


#: The keys of a [shops."<domain>"] table.
KEYS = values.config_keys(ShopConfig)


def token_ttl(value: object, key: str) -> int:
    """A customer token lifetime in seconds, from :data:`MIN_TTL` to :data:`MAX_TTL`."""
    return values.integer(value, key, MIN_TTL, MAX_TTL)


def parse_shops(raw: object, *, issuer: str, default_ttl: int) -> dict[str, ShopConfig]:
    """Every ``[shops."<domain>"]`` table; at least one, each with its own audience."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError('shops: configure at least one [shops."<name>.myshopify.com"] table')
    shops = {
        domain: parse_shop(domain, table, issuer=issuer, default_ttl=default_ttl)
        for domain, table in raw.items()
    }
    check_audiences(shops.values(), issuer=issuer)
    return shops


def check_audiences(shops: Iterable[ShopConfig], *, issuer: str) -> None:
    """Refuse two shops with one audience.

    A shop's theme signs any customer id it likes, so whoever holds one shop's id
    secret can mint a token for any id; with a shared ``aud``, another shop's API
    would accept it (RFC 8725 §3.9: one audience per relying party). OAuth clients
    may share a shop's audience: their tokens are of another kind (``token_use``,
    no ``shop``, a ``sub`` that is never digits only), which that API checks anyway.
    """
    seen: dict[str, str] = {}
    for shop in shops:
        other = seen.setdefault(shop.audience, shop.domain)
        if other != shop.domain:
            default = " (the issuer, their default)" if shop.audience == issuer else ""
            raise ConfigError(
                f"{values.key_path('shops', other)} and {values.key_path('shops', shop.domain)} "
                f"share the audience {shop.audience!r}{default}: a token minted for one "
                "shop would pass the other's API. Give each shop its own `audience`, the URL "
                "of the API that "
                f'serves it, e.g. audience = "https://api.{shop.domain.split(".")[0]}.example"'
            )


def parse_shop(domain: str, raw: object, *, issuer: str, default_ttl: int) -> ShopConfig:
    """One shop's table; ``default_ttl`` is the top-level ``token_ttl``."""
    where = values.key_path("shops", domain)
    if not values.SHOP_DOMAIN.fullmatch(domain):
        raise ConfigError(f"{where}: a shop is named by its <name>.myshopify.com domain")
    table: Mapping[str, Any] = values.table(raw, where)
    values.check_keys(table, KEYS, f"{where}.")
    proxy = table.get("app_proxy_secret")
    secrets = table.get("id_secrets", [] if proxy is not None else None)
    # An App-Proxy-only shop leaves id_secrets out: plain signatures never expire,
    # so a shop that moved to the App Proxy must be able to refuse them.
    if not isinstance(secrets, list) or (not secrets and proxy is None):
        raise ConfigError(
            f"{where}.id_secrets: list at least one secret, newest first "
            "(only a shop with app_proxy_secret may leave it out)"
        )
    if not secrets and ("signature_max_age" in table or "require_timestamp" in table):
        raise ConfigError(
            f"{where}: signature_max_age and require_timestamp need id_secrets "
            "(this shop takes App Proxy requests only)"
        )
    max_age = table.get("signature_max_age")
    if max_age is not None:
        max_age = values.integer(
            max_age, f"{where}.signature_max_age", MIN_SIGNATURE_AGE, MAX_SIGNATURE_AGE
        )
    require_ts = values.boolean(table.get("require_timestamp", False), f"{where}.require_timestamp")
    if require_ts and max_age is None:
        raise ConfigError(f"{where}.require_timestamp needs signature_max_age")
    guest = table.get("guest_client")
    return ShopConfig(
        domain=domain,
        id_secrets=tuple(
            values.secret(value, f"{where}.id_secrets[{i}]") for i, value in enumerate(secrets)
        ),
        allowed_origins=values.origins(
            table.get("allowed_origins", []), f"{where}.allowed_origins"
        ),
        audience=values.string(table.get("audience", issuer), f"{where}.audience"),
        scope=values.string(table.get("scope", "customer"), f"{where}.scope"),
        token_ttl=token_ttl(table.get("token_ttl", default_ttl), f"{where}.token_ttl"),
        signature_max_age=max_age,
        require_timestamp=require_ts,
        app_proxy_secret=None
        if proxy is None
        else values.secret(proxy, f"{where}.app_proxy_secret"),
        guest_client=None if guest is None else values.string(guest, f"{where}.guest_client"),
        dpop=values.dpop(table.get("dpop", "off"), f"{where}.dpop"),
    )
