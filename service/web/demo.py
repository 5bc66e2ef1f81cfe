"""``GET /demo``: a storefront page that runs the real snippet and script.

Development mode only. The page is rendered by the Liquid snippet with the demo
shop's secret, exactly as a theme would render it, then loads
``/static/js/shapes-token.js``; its button calls ``/v1/me`` with the token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from service.config import Settings
from service.dev import DEMO_CUSTOMER, DEMO_SHOP
from service.errors import InvalidRequest
from service.liquid import shopify_environment

MODES = ("signed", "timestamped")


class DemoPage:
    def __init__(self, settings: Settings) -> None:
        # The demo shop's secret plays the shop metafield `omneo.id_secret`.
        self.secret = settings.shops[DEMO_SHOP].id_secrets[0].reveal().decode()
        self.endpoint = f"{settings.issuer}/v1/shops/{DEMO_SHOP}/customer-token"
        self.template = shopify_environment().get_template("demo")

    async def page(self, request: Request) -> Response:
        mode = request.query_params.get("mode", "signed")
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of: {', '.join(MODES)}")
        guest = request.query_params.get("customer") == "guest"
        page = self.template.render(
            endpoint=self.endpoint,
            mode=mode,
            demo_customer=DEMO_CUSTOMER,
            customer=None if guest else {"id": int(DEMO_CUSTOMER)},
            shop={"metafields": {"omneo": {"id_secret": self.secret}}},
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})
