"""A throw-away deployment: config file, id secret and signing key in a temp dir.

The config is a real one, read by the real loader: the shop's id secret comes
from the environment (``env:``), and the key is made by ``shapestoken keys
generate``. Rate limits are raised far above any load this machine can make,
because the benchmark measures minting, not 429s.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SHOP = "bench.myshopify.com"
SECRET_ENV = "BENCH_ID_SECRET"
ENDPOINT = f"/v1/shops/{SHOP}/customer-token"
#: First customer ID handed out; 13 digits, like real Shopify IDs.
FIRST_CUSTOMER = 7_000_000_000_000

CONFIG_TEMPLATE = """\
issuer = "https://tokens.bench.example"
token_ttl = 900
signing_key_dir = "keys"
signing_alg = "{alg}"

[rate_limits]
{rate_comment}
per_customer = "{per_customer}"
per_ip = "{per_ip}"
max_entries = {max_entries}

[shops."{shop}"]
id_secrets = ["env:{secret_env}"]
allowed_origins = ["https://{shop}"]
"""


@dataclass(frozen=True)
class Workspace:
    """A config, a key and an id secret under ``root``."""

    root: Path
    config: Path
    secret: str = field(repr=False)

    def env(self) -> dict[str, str]:
        """The environment a server process needs: config path and the secret."""
        env = {**os.environ, "SHAPESTOKEN_CONFIG": str(self.config), SECRET_ENV: self.secret}
        env.pop("SHAPESTOKEN_SIGNING_KEYS", None)
        return env

    def server_environ(self) -> dict[str, str]:
        """Just the variables the config refers to (for an in-process loader)."""
        return {SECRET_ENV: self.secret}


#: Throughput runs: far above what one machine can send. A limited request would
#: be a 429, and the benchmark measures minting; every customer is new anyway,
#: and all load comes from one address.
UNLIMITED = ("1000000/second", "1000000000/second")
#: The service's defaults. Every customer and address is seen once per minute,
#: so nothing is limited, and entries live 60 s: the caches fill to max_entries.
DEFAULT_RATES = ("30/minute", "120/minute")


def config_text(
    *,
    alg: str = "ES256",
    rates: tuple[str, str] = UNLIMITED,
    max_entries: int = 100_000,
) -> str:
    comment = (
        "# Raised far above the load: the benchmark measures minting, never 429s."
        if rates == UNLIMITED
        else "# The service defaults; every customer and client address is new."
    )
    return CONFIG_TEMPLATE.format(
        alg=alg,
        rate_comment=comment,
        per_customer=rates[0],
        per_ip=rates[1],
        max_entries=max_entries,
        shop=SHOP,
        secret_env=SECRET_ENV,
    )


def create(
    root: Path,
    *,
    alg: str = "ES256",
    rates: tuple[str, str] = UNLIMITED,
    max_entries: int = 100_000,
) -> Workspace:
    """Write the config, pick a fresh secret, and generate the signing key."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "shapestoken.toml"
    config.write_text(config_text(alg=alg, rates=rates, max_entries=max_entries), encoding="utf-8")
    workspace = Workspace(root, config, secrets.token_hex(32))
    subprocess.run(
        [*shapestoken_command(), "keys", "generate"],
        env=workspace.env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return workspace


def shapestoken_command() -> list[str]:
    """The installed ``shapestoken`` console script, else ``python -m service``."""
    script = Path(sys.executable).with_name("shapestoken")
    return [str(script)] if script.exists() else [sys.executable, "-m", "service"]


def customer_bodies(secret: str, first: int, count: int) -> Iterator[str]:
    """``count`` JSON bodies for customers ``first, first + 1, ...``, each validly signed.

    The signature is what the theme's Liquid renders: the lowercase hex
    HMAC-SHA256 of the ID's ASCII digits, keyed with the shop's id secret.
    """
    keyed = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    for customer in range(first, first + count):
        customer_id = str(customer)
        mac = keyed.copy()
        mac.update(customer_id.encode("ascii"))
        yield f'{{"id":"{customer_id}","signature":"{mac.hexdigest()}"}}'


def write_bodies(path: Path, secret: str, first: int, count: int) -> Path:
    """One body per line, for the wrk script (and the Python load generator)."""
    with path.open("w", encoding="ascii") as handle:
        for body in customer_bodies(secret, first, count):
            handle.write(body)
            handle.write("\n")
    return path


class CustomerIds:
    """Hands out ranges of customer IDs that no earlier request in this run used."""

    def __init__(self, first: int = FIRST_CUSTOMER) -> None:
        self.next = first

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first
