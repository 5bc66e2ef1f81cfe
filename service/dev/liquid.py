"""A Liquid environment with the two Shopify filters the snippet uses.

The development demo renders the real snippet with it, so what a newcomer sees
at ``/demo`` is what a theme renders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from liquid import CachingFileSystemLoader, Environment

from service.support.assets import asset_dir


def hmac_sha256(value: object, key: object) -> str:
    """Shopify's ``hmac_sha256``: lowercase hex HMAC-SHA256 of the input, keyed by the argument."""
    return hmac.new(str(key).encode(), str(value).encode(), hashlib.sha256).hexdigest()


def to_json(value: Any) -> str:
    """Shopify's ``json``, which escapes ``<``, ``>`` and ``&`` so it is safe in a script tag."""
    text = json.dumps(value, ensure_ascii=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def shopify_environment() -> Environment:
    search_path = [asset_dir("liquid_snippets"), Path(__file__).parent / "templates"]
    env = Environment(loader=CachingFileSystemLoader(search_path, ext=".liquid"))
    env.filters["hmac_sha256"] = hmac_sha256
    env.filters["json"] = to_json
    return env
