"""The configuration reference lists every key the config accepts, and no other."""

from __future__ import annotations

import re

from service.config.clients import KEYS as CLIENT_KEYS
from service.config.limits import KEYS as LIMIT_KEYS
from service.config.settings import TOP_KEYS
from service.config.shops import KEYS as SHOP_KEYS
from service.config.store import KEYS as STORE_KEYS
from tests.examples import section

PAGE = "reference/config.md"

#: Each table of the reference, and the keys the code accepts there.
TABLES = {
    "Top-level keys": set(TOP_KEYS) - set(STORE_KEYS),
    "Database and dashboard": set(STORE_KEYS),
    "Rate limits": set(LIMIT_KEYS),
    "Shops": set(SHOP_KEYS),
    "Clients": set(CLIENT_KEYS),
}


def documented(title: str) -> set[str]:
    """The keys in the first column of the table under the heading ``title``."""
    return set(re.findall(r"^\| `([a-z_]+)` \|", section(title, PAGE), re.MULTILINE))


def test_the_reference_lists_every_config_key() -> None:
    for title, keys in TABLES.items():
        assert documented(title) == keys, title
