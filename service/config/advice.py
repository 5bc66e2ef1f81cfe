"""Warnings about a configuration that is valid but probably not what was meant.

Errors stop start-up; these are logged at start-up and printed by
``check-config``, because a deployment may have its reasons (a test shop, a
single replica) and the operator decides.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from service.config import values
from service.support.secret import Secret

if TYPE_CHECKING:
    from service.config.settings import Settings

#: The JWKS may be cached 300 s, and a running process re-reads its keys within
#: 60 s: a shorter activation delay lets a new key sign before verifiers know it.
SAFE_ACTIVATION_DELAY = 300 + 60


def config_warnings(settings: Settings) -> list[str]:
    """Every warning about ``settings``, in a stable order."""
    return [*_reused_secrets(settings), *_short_activation_delay(settings)]


def _reused_secrets(settings: Settings) -> list[str]:
    """One secret in two places: shops, App Proxies, OAuth clients, the session secret.

    Clients keep only SHA-256 digests, so every secret is compared by its digest: a
    client hash equal to the digest of a shop's secret means that secret (which a
    theme holds, readable by its developers) also authenticates as the client.
    """
    places: dict[bytes, list[str]] = {}
    for shop in settings.shops.values():
        where = values.key_path("shops", shop.domain)
        for i, secret in enumerate(shop.id_secrets):
            places.setdefault(_digest(secret), []).append(f"{where}.id_secrets[{i}]")
        if shop.app_proxy_secret is not None:
            places.setdefault(_digest(shop.app_proxy_secret), []).append(
                f"{where}.app_proxy_secret"
            )
    for client in settings.clients.values():
        for i, digest in enumerate(client.secret_hashes):
            key = values.key_path("clients", client.client_id, "secret_hashes", i)
            places.setdefault(digest, []).append(key)
    if settings.store.session_secret is not None:
        # Whoever holds the session secret can forge a dashboard session.
        places.setdefault(_digest(settings.store.session_secret), []).append("session_secret")
    warnings = []
    for names in places.values():
        if len(names) < 2:
            continue
        if all(name.startswith("shops.") for name in names):
            warnings.append(
                f"one secret is used for {' and '.join(names)}: whoever can read it (any "
                "developer of a theme that holds it) signs for all of them. Give every shop "
                "its own id secret, and keep the Shopify app's secret out of the theme."
            )
        else:
            warnings.append(
                f"one secret is used for {' and '.join(names)}: whoever holds it (a theme's "
                "developers, for a shop's secret) can act as all of them: sign customer ids, "
                "authenticate as the client, forge a dashboard session. Give each its own "
                "random secret (`shapestoken clients create` makes a client's)."
            )
    return warnings


def _digest(secret: Secret) -> bytes:
    return hashlib.sha256(secret.reveal()).digest()


def _short_activation_delay(settings: Settings) -> list[str]:
    delay = settings.key_activation_delay
    if delay >= SAFE_ACTIVATION_DELAY:
        return []
    return [
        f"key_activation_delay = {delay}: a rotated-in key may sign before other replicas "
        f"(which re-read keys within 60 s) and cached JWKS (up to 300 s) know it, so APIs "
        f"may refuse its tokens for a while; {SAFE_ACTIVATION_DELAY} or more avoids that"
    ]
