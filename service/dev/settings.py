"""The embedded development default: a demo shop that works with no config.

Everything it needs (an id secret, an ES256 key, an SQLite database for API
tokens, the dashboard's password and session secret) is created once under
``./.shapestoken/`` with mode 0600 and reused on the next start, so tokens and
signatures survive restarts. It only ever binds a loopback address.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from service.config import ClientConfig, Settings, ShopConfig, StoreConfig
from service.config.settings import check_guest_clients
from service.config.store import database_url
from service.customers.signatures import CustomerSigner
from service.signing import keyfiles
from service.support.secret import Secret

STATE_DIR = Path(".shapestoken")
DEMO_SHOP = "demo.myshopify.com"
DEMO_CUSTOMER = "1001"
#: The demo shop's public client: guests get its anonymous (implicit) tokens.
DEMO_GUEST_CLIENT = "storefront-web"
DEV_SCOPES = ("profiles:read", "profiles:write", "orders:read")
ADMIN_PASSWORD_FILE = "admin-password"


def development_settings(port: int, *, state_dir: Path = STATE_DIR) -> Settings:
    """The demo shop's settings for ``port``, creating its secrets and key on first use."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = _read_or_create(state_dir / "demo-id-secret", lambda: secrets.token_urlsafe(32))
    key_dir = state_dir / "keys"
    if not keyfiles.load_dir(key_dir):
        keyfiles.write_new_key(key_dir, "ES256")
    base = f"http://127.0.0.1:{port}"
    origins = frozenset({base, f"http://localhost:{port}"})
    shop = ShopConfig(
        domain=DEMO_SHOP,
        id_secrets=(Secret(secret),),
        allowed_origins=origins,
        audience=base,
        scope="customer",
        token_ttl=900,
        signature_max_age=86400,
        guest_client=DEMO_GUEST_CLIENT,
        # The demo's own API (/v1/me) verifies DPoP, so its tokens are bound when the
        # browser can (docs/guides/theme.md, "DPoP").
        dpop="optional",
    )
    guests = ClientConfig(
        client_id=DEMO_GUEST_CLIENT,
        secret_hashes=(),
        scopes=("catalog:read",),
        audiences=(base,),
        grant_types=frozenset({"implicit"}),
        token_ttl=900,
        allowed_origins=origins,
        dpop="optional",
    )
    shops, clients = {DEMO_SHOP: shop}, {DEMO_GUEST_CLIENT: guests}
    check_guest_clients(shops, clients)  # built here, checked as a config file would be
    return Settings(
        issuer=base,
        shops=shops,
        clients=clients,
        signing_key_dir=key_dir,
        store=_development_store(state_dir),
        development=True,
        source=f"embedded development default ({state_dir}/)",
    )


def _development_store(state_dir: Path) -> StoreConfig:
    """API tokens in ./.shapestoken/shapestoken.db and a dashboard that signs in at once."""
    from argon2 import PasswordHasher

    password = _read_or_create(state_dir / ADMIN_PASSWORD_FILE, lambda: secrets.token_urlsafe(16))
    session_secret = _read_or_create(
        state_dir / "session-secret", lambda: secrets.token_urlsafe(32)
    )
    return StoreConfig(
        database=database_url("sqlite:///shapestoken.db", state_dir),
        api_scopes=DEV_SCOPES,
        admin_password_hash=Secret(PasswordHasher().hash(password)),
        session_secret=Secret(session_secret),
    )


def banner(settings: Settings, *, state_dir: Path = STATE_DIR) -> list[str]:
    """The loud start-up lines: what this is, and a curl that works as pasted."""
    shop = settings.shops[DEMO_SHOP]
    signature = CustomerSigner(shop.id_secrets).sign(DEMO_CUSTOMER)
    url = f"{settings.issuer}/v1/shops/{DEMO_SHOP}/customer-token"
    rule = "=" * 72
    return [
        rule,
        "DEVELOPMENT MODE: no config file (set SHAPESTOKEN_CONFIG or add ./shapestoken.toml).",
        f"Demo shop {DEMO_SHOP}; its secret and signing key are in {STATE_DIR}/.",
        "Not for production. Try it:",
        f"  curl -s -X POST {url} -H 'Content-Type: application/json' "
        f'-d \'{{"id": "{DEMO_CUSTOMER}", "signature": "{signature}"}}\'',
        f"Demo storefront: {settings.issuer}/demo",
        f"Admin dashboard: {settings.issuer}/admin  password: {_admin_password(state_dir)} "
        f"(in {state_dir}/{ADMIN_PASSWORD_FILE})",
        rule,
    ]


def _admin_password(state_dir: Path) -> str:
    return (state_dir / ADMIN_PASSWORD_FILE).read_text(encoding="utf-8").strip()


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value
