"""What the benchmark sends: one shop's config and a new, validly signed customer per request.

The shop's id secret is new in every run; servers read it from ``SHOP_ID_SECRET``
(:data:`SECRET_ENV`), so the service, the naive peer and the bodies agree on it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from pathlib import Path

SHOP = "bench.myshopify.com"
ISSUER = "https://tokens.bench.example"
ENDPOINT = f"/v1/shops/{SHOP}/customer-token"
SECRET_ENV = "SHOP_ID_SECRET"
SECRET = secrets.token_hex(32)
#: First customer id handed out; 13 digits, like real Shopify ids.
FIRST_CUSTOMER = 7_000_000_000_000

#: All load comes from one address: ``per_ip`` is raised far above what this machine
#: can send, so that no request is a 429, while the limiter still runs on every one.
#: ``per_customer`` keeps its default (30/minute): every customer is new.
RAISED_PER_IP = 'per_ip = "1000000/second"'


def config_text(*, state: str = "memory", raised: bool = True, max_entries: int = 100_000) -> str:
    """The service's config: ``state`` is ``memory`` or a ``redis://`` URL."""
    per_ip = RAISED_PER_IP if raised else "# per_ip: the default, 120/minute"
    return f"""\
issuer = "{ISSUER}"
token_ttl = 900
signing_key_dir = "keys"
state = "{state}"

[rate_limits]
{per_ip}
max_entries = {max_entries}

[shops."{SHOP}"]
id_secrets = ["env:{SECRET_ENV}"]
allowed_origins = ["https://{SHOP}"]
"""


def customer_bodies(first: int, count: int) -> Iterator[str]:
    """JSON bodies for customers ``first, first + 1, ...``, each validly signed.

    The signature is what the theme's Liquid renders: the lowercase hex
    HMAC-SHA256 of the id's ASCII digits, keyed with the shop's id secret.
    """
    keyed = hmac.new(SECRET.encode("ascii"), digestmod=hashlib.sha256)
    for customer in range(first, first + count):
        customer_id = str(customer)
        mac = keyed.copy()
        mac.update(customer_id.encode("ascii"))
        yield f'{{"id":"{customer_id}","signature":"{mac.hexdigest()}"}}'


def write_bodies(path: Path, first: int, count: int) -> Path:
    """One body per line, for ``post.lua``."""
    with path.open("w", encoding="ascii") as handle:
        handle.writelines(f"{body}\n" for body in customer_bodies(first, count))
    return path
