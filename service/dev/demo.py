"""``GET /demo``: a storefront page that runs the real snippet and script, step by step.

Development mode only. The snippet is rendered by the Liquid engine with the demo
shop's secret, exactly as a theme would render it, and put in the page's ``<head>``;
the page then shows what that produced: the rendered Liquid, the request
``shapes-token.js`` sent and the response, the ``localStorage`` entry decoded, a
call to ``/v1/me`` with the token, and its DPoP binding: the token's ``cnf``, the
key that no script can read out, and the token copied out failing without it. A
guest gets an anonymous token of the demo shop's public client instead.
``?customer=<id>|guest`` and ``?mode=`` pick the view; anything else is refused on
the page itself, with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service.config import Settings
from service.customers.signatures import parse_customer_id
from service.dev.liquid import shopify_environment
from service.dev.settings import DEMO_CUSTOMER, DEMO_SHOP
from service.errors import InvalidRequest
from service.oauth.metadata import TOKEN_PATH

MODES = ("signed", "timestamped")
GUEST = "guest"
SCRIPT_SRC = "/static/js/shapes-token.js"
KEY_PREFIX = "shapes:omneo:shapestoken:"
ANONYMOUS_KEY = KEY_PREFIX + "anonymous"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class View:
    """One way to look at the page: a customer (signed or timestamped) or a guest."""

    customer: str | None
    mode: str = "signed"

    @property
    def href(self) -> str:
        query: dict[str, str] = {}
        if self.customer is None:
            query["customer"] = GUEST
        elif self.customer != DEMO_CUSTOMER:
            query["customer"] = self.customer
        if self.mode != "signed":
            query["mode"] = self.mode
        return "/demo" + (f"?{urlencode(query)}" if query else "")

    @property
    def label(self) -> str:
        if self.customer is None:
            return "Guest"
        return f"Customer {self.customer}" + (", timestamped" if self.mode != "signed" else "")


def parse_view(customer: str | None, mode: str | None) -> View:
    """The view a query asks for; :class:`InvalidRequest` saying what is wrong."""
    mode = mode or "signed"
    if mode not in MODES:
        raise InvalidRequest(f"?mode= must be one of: {', '.join(MODES)}.")
    if customer == GUEST:
        return View(None)
    if customer is None:
        return View(DEMO_CUSTOMER, mode)
    try:
        return View(parse_customer_id(customer), mode)
    except InvalidRequest:
        raise InvalidRequest(
            f"?customer= must be a Shopify customer ID (1 to 20 digits, no leading zero, "
            f"such as {DEMO_CUSTOMER}) or {GUEST}."
        ) from None


class DemoPage:
    def __init__(self, settings: Settings) -> None:
        # The demo shop's secret plays the shop metafield `omneo.id_secret`, with a
        # definition (typed), so the snippet reads it with `.value`.
        secret = settings.shops[DEMO_SHOP].id_secrets[0].reveal().decode()
        self.metafields = {"omneo": {"id_secret": {"value": secret}}}
        self.endpoint = f"{settings.issuer}/v1/shops/{DEMO_SHOP}/customer-token"
        # The snippet's default guest_endpoint: the endpoint's origin + /oauth/token.
        self.guest_endpoint = settings.issuer + TOKEN_PATH
        self.guest_client = settings.shops[DEMO_SHOP].guest_client
        self.environment = shopify_environment()
        self.template = self.environment.get_template("demo")

    def render_line(self, view: View) -> str:
        guest = f", guest_client: '{self.guest_client}'" if self.guest_client else ""
        return (
            f"{{% render 'shapes-token', endpoint: '{self.endpoint}', mode: '{view.mode}', "
            f"script_src: '{SCRIPT_SRC}'{guest} %}}"
        )

    async def page(self, request: Request) -> Response:
        params = request.query_params
        try:
            view = parse_view(params.get("customer"), params.get("mode"))
        except InvalidRequest as exc:
            # Refused on the page, where the person who typed the URL is looking.
            page = self.template.render(error=exc.description, views=self.views(None))
            return HTMLResponse(page, status_code=400, headers=NO_STORE)
        line = self.render_line(view)
        snippet = self.environment.from_string(line).render(
            customer=None if view.customer is None else {"id": int(view.customer)},
            shop={"metafields": self.metafields},
        )
        page = self.template.render(
            views=self.views(view),
            # Liquid reads mappings, not attributes.
            view={"customer": view.customer, "mode": view.mode, "label": view.label},
            render_line=line,
            snippet=snippet.strip(),
            endpoint=self.endpoint if view.customer else self.guest_endpoint,
            guest_client=self.guest_client,
            key_prefix=KEY_PREFIX,
            storage_key=ANONYMOUS_KEY if view.customer is None else KEY_PREFIX + view.customer,
        )
        return HTMLResponse(page, headers=NO_STORE)

    @staticmethod
    def views(current: View | None) -> list[dict[str, object]]:
        """The navigation: the demo customer, timestamped, a guest, and any other customer."""
        views = [View(DEMO_CUSTOMER), View(DEMO_CUSTOMER, "timestamped"), View(None)]
        if current is not None and current not in views:
            views.insert(0, current)
        return [
            {"href": item.href, "label": item.label, "current": item == current} for item in views
        ]
