"""``[rate_limits]``: how often a customer, a client or an address may ask."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config import values
from service.errors import ConfigError

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


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

    @property
    def interval(self) -> float:
        """Seconds between two events at the steady rate."""
        return self.period / self.limit

    def __str__(self) -> str:
        unit = next(name for name, secs in PERIODS.items() if secs == self.period)
        return f"{self.limit}/{unit}"


@dataclass(frozen=True)
class RateLimits:
    #: Token mints per (shop, customer), counted only after a valid proof.
    per_customer: Rate = Rate(30, 60)
    #: OAuth token requests per client_id.
    per_client: Rate = Rate(60, 60)
    #: Requests per client address.
    per_ip: Rate = Rate(120, 60)
    #: Dashboard sign-in attempts per client address (fixed: not a config key).
    admin_login: Rate = field(default=Rate(10, 60), metadata=values.NOT_A_KEY)
    #: Keys tracked per limiter in memory; memory stays bounded by this, not by traffic.
    max_entries: int = 100_000

    def rates(self) -> dict[str, Rate]:
        """Every limiter by name, as the state backend counts them."""
        return {
            "per_customer": self.per_customer,
            "per_client": self.per_client,
            "per_ip": self.per_ip,
            "admin_login": self.admin_login,
        }


#: The keys of the [rate_limits] table.
KEYS = values.config_keys(RateLimits)


def parse_rate_limits(raw: object) -> RateLimits:
    """The ``[rate_limits]`` table; each key left out keeps its :class:`RateLimits` default."""
    table: Mapping[str, Any] = values.table(raw, "rate_limits")
    values.check_keys(table, KEYS, "rate_limits.")
    defaults = RateLimits()

    def rate(name: str) -> Rate:
        key = f"rate_limits.{name}"
        text = values.string(table.get(name, str(getattr(defaults, name))), key)
        return Rate.parse(text, key=key)

    return RateLimits(
        per_customer=rate("per_customer"),
        per_client=rate("per_client"),
        per_ip=rate("per_ip"),
        max_entries=values.integer(
            table.get("max_entries", defaults.max_entries), "rate_limits.max_entries", 100, 10**7
        ),
    )
