"""A stand-in for a Shopify theme: the real Liquid engine and the real snippet.

Shopify's ``hmac_sha256`` and ``json`` filters are written here again, on purpose
independently of ``service/dev/liquid.py``: a test that rendered the snippet with the
service's own filters could not notice the two agreeing on the same mistake.
"""

from __future__ import annotations

import hmac
import html
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from liquid import CachingFileSystemLoader, Environment
from liquid.filter import with_environment

SNIPPETS = Path(__file__).resolve().parent.parent / "liquid_snippets"
SNIPPET = SNIPPETS / "shapes-token.liquid"
RENDER = (
    "{% render 'shapes-token', endpoint: endpoint, mode: mode, script_src: script_src, "
    "api_origins: api_origins, guest_client: guest_client, guest_endpoint: guest_endpoint, "
    "dpop: dpop %}"
)
CONFIG_ID = "shapes-token-config"

# Shopify's `json` filter escapes these so its output is safe inside a <script> tag.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def hmac_sha256(value: object, key: object) -> str:
    """Shopify's ``hmac_sha256``: lowercase hex HMAC-SHA256 of the input, keyed by the argument."""
    return hmac.digest(str(key).encode("utf-8"), str(value).encode("utf-8"), "sha256").hex()


def shopify_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).translate(_SCRIPT_SAFE)


def frozen_date(date: Any, now: float) -> Any:
    """The ``date`` filter with ``'now'`` (and ``'today'``) read as the Unix time ``now``.

    A page rendered at ``now``, as a cached or copied page would be: the real filter
    still formats the value, only the clock is moved.
    """

    @with_environment
    def frozen(value: object, fmt: object, *, environment: Any) -> Any:
        if value in ("now", "today"):
            # Naive local time, as the real filter's datetime.now(): '%s' gives `now` back.
            value = datetime.fromtimestamp(now)
        return date(value, fmt, environment=environment)

    return frozen


def script_tag(url: object, **attributes: object) -> str:
    """Shopify's ``script_tag``: a classic script; ``defer: true`` adds a boolean attribute."""
    extra = "".join(f" {name}" for name, value in attributes.items() if value is True)
    return f'<script src="{html.escape(str(url))}" type="text/javascript"{extra}></script>'


def environment(*, now: float | None = None, assets: str | None = None) -> Any:
    """The Liquid environment of a theme; ``assets`` is where ``asset_url`` points."""
    env = Environment(loader=CachingFileSystemLoader(SNIPPETS, ext=".liquid"))
    env.filters["hmac_sha256"] = hmac_sha256
    env.filters["json"] = shopify_json
    env.filters["script_tag"] = script_tag
    if assets is not None:
        env.filters["asset_url"] = lambda name: f"{assets}/{name}"
    if now is not None:
        env.filters["date"] = frozen_date(env.filters["date"], now)
    return env


def theme_context(
    customer_id: int | str | None, secret: str | None, metafield: str = "typed"
) -> dict[str, object]:
    """The Shopify objects the snippet reads: ``customer`` and the shop's metafield.

    ``metafield`` is how Shopify gives ``omneo.id_secret``: ``typed`` (it has a
    definition: a metafield object, read with ``.value``) or ``legacy`` (an old
    untyped one: the value itself).
    """
    value: object = {"value": secret, "type": "single_line_text_field"}
    if metafield == "legacy":
        value = secret
    omneo = {} if secret is None else {"id_secret": value}
    return {
        "customer": None if customer_id is None else {"id": customer_id},
        "shop": {"metafields": {"omneo": omneo}},
    }


def render_snippet(
    *,
    customer_id: int | str | None,
    secret: str | None,
    endpoint: str | None = None,
    mode: str | None = None,
    script_src: str | None = None,
    api_origins: str | None = None,
    guest_client: str | None = None,
    guest_endpoint: str | None = None,
    dpop: bool | str | None = None,
    source: str = RENDER,
    now: float | None = None,
    metafield: str = "typed",
    assets: str | None = None,
) -> str:
    """Render ``source`` (by default a ``{% render 'shapes-token' %}`` line) as a theme does.

    ``now`` renders the page as of that Unix time instead of the real clock.
    """
    template = environment(now=now, assets=assets).from_string(source)
    text: str = template.render(
        endpoint=endpoint,
        mode=mode,
        script_src=script_src,
        api_origins=api_origins,
        guest_client=guest_client,
        guest_endpoint=guest_endpoint,
        dpop=dpop,
        **theme_context(customer_id, secret, metafield),
    )
    return text


class Scripts(HTMLParser):
    """Every ``<script>`` of a page, as a browser's tokenizer splits them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def scripts(html: str) -> list[tuple[dict[str, str | None], str]]:
    parser = Scripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


def read_config(html: str) -> dict[str, Any]:
    """The JSON of the page's one ``#shapes-token-config`` tag."""
    (text,) = [
        text
        for attrs, text in scripts(html)
        if attrs.get("id") == CONFIG_ID and attrs.get("type") == "application/json"
    ]
    config: dict[str, Any] = json.loads(text)
    return config


def usage_line() -> str:
    """The ``{% render %}`` line under ``Usage:`` in the snippet's header comment."""
    source = SNIPPET.read_text(encoding="utf-8")
    match = re.search(r"^\s*Usage:\s*\n\s*(\{%-?\s*render .*?%\})\s*$", source, re.MULTILINE)
    assert match, "the header comment has no `Usage:` render line"
    return match.group(1)
