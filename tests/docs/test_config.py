"""The configuration reference lists every key the config accepts, and no other, and its
complete example loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from service.config.clients import KEYS as CLIENT_KEYS
from service.config.limits import KEYS as LIMIT_KEYS
from service.config.settings import TOP_KEYS, load_settings
from service.config.shops import KEYS as SHOP_KEYS
from service.config.store import KEYS as STORE_KEYS
from tests.conftest import admin_password_hash
from tests.examples import SERVICE, example, section

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


def test_the_complete_example_loads_and_sets_every_key(tmp_path: Path) -> None:
    text = example("complete-config")
    path = tmp_path / "shapestoken.toml"
    path.write_text(text)
    # Each variable it names, set as the reference says (an id secret of 32+ bytes, a
    # password hash from `shapestoken admin set-password`).
    environ = {name: "s" * 40 for name in re.findall(r'"env:([A-Z0-9_]+)"', text)}
    environ["SHAPESTOKEN_ADMIN_PASSWORD_HASH"] = admin_password_hash()
    settings = load_settings(path, environ)  # refuses any key it does not know
    assert settings.issuer == SERVICE and settings.store.admin_enabled
    assert set(settings.shops) == {"acme.myshopify.com"}
    assert set(settings.clients) == {"crm-sync", "storefront-web"}

    # "Every key, set": each key the code accepts appears in the example.
    raw = tomllib.loads(text)
    assert set(raw) == set(TOP_KEYS)
    assert set(raw["rate_limits"]) == set(LIMIT_KEYS)
    assert set(raw["shops"]["acme.myshopify.com"]) == set(SHOP_KEYS)
    assert set().union(*raw["clients"].values()) == set(CLIENT_KEYS)
