"""Warnings about a configuration that is valid but probably not what was meant.

Errors stop start-up; these are logged at start-up and printed by
``check-config``, because a deployment may have its reasons (a test shop, a
single replica) and the operator decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.secret import Secret

if TYPE_CHECKING:
    from service.config import Settings

#: The JWKS may be cached 300 s, and a running process re-reads its keys within
#: 60 s: a shorter activation delay lets a new key sign before verifiers know it.
SAFE_ACTIVATION_DELAY = 300 + 60


def config_warnings(settings: Settings) -> list[str]:
    """Every warning about ``settings``, in a stable order."""
    return [*_reused_secrets(settings), *_short_activation_delay(settings)]


def _reused_secrets(settings: Settings) -> list[str]:
    places: dict[Secret, list[str]] = {}
    for shop in settings.shops.values():
        where = f'shops."{shop.domain}"'
        for i, secret in enumerate(shop.id_secrets):
            places.setdefault(secret, []).append(f"{where}.id_secrets[{i}]")
        if shop.app_proxy_secret is not None:
            places.setdefault(shop.app_proxy_secret, []).append(f"{where}.app_proxy_secret")
    warnings = []
    for names in places.values():
        if len(names) > 1:
            warnings.append(
                f"one secret is used for {' and '.join(names)}: whoever can read it (any "
                "developer of a theme that holds it) signs for all of them. Give every shop "
                "its own id secret, and keep the Shopify app's secret out of the theme."
            )
    return warnings


def _short_activation_delay(settings: Settings) -> list[str]:
    delay = settings.key_activation_delay
    if delay >= SAFE_ACTIVATION_DELAY:
        return []
    return [
        f"key_activation_delay = {delay}: a rotated-in key may sign before other replicas "
        f"(which re-read keys within 60 s) and cached JWKS (up to 300 s) know it, so APIs "
        f"may refuse its tokens for a while; {SAFE_ACTIVATION_DELAY} or more avoids that"
    ]
