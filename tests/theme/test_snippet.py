"""The storefront snippet, rendered by the real Liquid engine as a Shopify theme renders it."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from starlette.testclient import TestClient

from tests.conftest import AUDIENCE, ISSUER, SECRET, SHOP, ClientFactory, Clock, make_shop
from tests.examples import example
from tests.shopify_theme import (
    CONFIG_ID,
    SNIPPET,
    hmac_sha256,
    read_config,
    render_snippet,
    scripts,
    usage_line,
)

ENDPOINT = f"{ISSUER}/v1/shops/{SHOP}/customer-token"
CUSTOMER = 12345678901234  # Shopify's `customer.id` is a number
HOSTILE = "</script><script>alert(1)</script>"
#: What the config tag holds besides the customer's proof, when no option is given.
DEFAULTS = {"apiOrigins": None, "guestClientId": None, "guestEndpoint": None, "dpop": None}


@pytest.fixture(autouse=True)
def real_time(clock: Clock) -> None:
    # `'now' | date: '%s'` in the snippet reads the real clock; the service must agree.
    clock.now = time.time()


def mint(client: TestClient, config: dict[str, object]) -> dict[str, object]:
    body = {name: config[name] for name in ("signature", "ts") if config[name] is not None}
    response = client.post(
        f"/v1/shops/{SHOP}/customer-token", json={"id": config["customerId"], **body}
    )
    assert response.status_code == 200, response.text
    claims: dict[str, object] = jwt.decode(
        response.json()["access_token"],
        jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json()).keys[0],
        algorithms=["ES256"],
        audience=AUDIENCE,
        issuer=ISSUER,
    )
    return claims


def test_a_customer_page_renders_the_config_tag_with_exactly_the_documented_fields() -> None:
    html = render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT)
    assert read_config(html) == {
        "customerId": str(CUSTOMER),
        "signature": hmac_sha256(CUSTOMER, SECRET),
        "ts": None,
        "endpoint": ENDPOINT,
        "mode": "signed",
        **DEFAULTS,
    }


def test_the_customer_id_is_a_json_string_even_though_liquid_has_a_number() -> None:
    config = read_config(render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT))
    # A JSON number this large would lose digits in JavaScript past 2**53.
    assert isinstance(config["customerId"], str)
    assert config["customerId"] == "12345678901234"


def test_the_rendered_signature_is_accepted_by_the_service(client: TestClient) -> None:
    config = read_config(render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT))
    claims = mint(client, config)
    assert claims["sub"] == str(CUSTOMER)
    assert claims["shop"] == SHOP


def test_a_guest_page_renders_a_null_customer_and_no_signature() -> None:
    html = render_snippet(customer_id=None, secret=SECRET, endpoint=ENDPOINT)
    assert read_config(html) == {
        "customerId": None,
        "signature": None,
        "ts": None,
        "endpoint": ENDPOINT,
        "mode": "signed",
        **DEFAULTS,
    }
    assert SECRET not in html


def test_timestamped_mode_signs_the_id_and_the_render_time(
    client_factory: ClientFactory,
) -> None:
    before = int(time.time())
    config = read_config(
        render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT, mode="timestamped")
    )
    after = int(time.time())
    assert config["mode"] == "timestamped"
    ts = config["ts"]
    assert isinstance(ts, str) and ts.isdigit()
    assert before <= int(ts) <= after
    assert config["signature"] == hmac_sha256(f"{CUSTOMER}:{ts}", SECRET)
    assert config["signature"] != hmac_sha256(CUSTOMER, SECRET)

    client = client_factory(shops={SHOP: make_shop(signature_max_age=86400)})
    assert mint(client, config)["sub"] == str(CUSTOMER)


def test_app_proxy_mode_renders_no_signature_and_no_secret() -> None:
    html = render_snippet(customer_id=CUSTOMER, secret=SECRET, mode="app-proxy")
    assert read_config(html) == {
        "customerId": str(CUSTOMER),
        "signature": None,
        "ts": None,
        "endpoint": "/apps/shapes/customer-token",
        "mode": "app-proxy",
        **DEFAULTS,
    }
    assert SECRET not in html
    assert hmac_sha256(CUSTOMER, SECRET) not in html


@pytest.mark.parametrize("mode", [None, "signed", "timestamped", "app-proxy"])
def test_the_secret_never_reaches_the_page(mode: str | None) -> None:
    html = render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT, mode=mode)
    assert SECRET not in html


def test_an_endpoint_cannot_break_out_of_the_config_tag() -> None:
    endpoint = f"https://tokens.example.com/{HOSTILE}?a=1&b=2"
    html = render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=endpoint)
    # Parsed as a browser's tokenizer splits it: the placeholder and one config script.
    placeholder, config = scripts(html)
    assert placeholder[0] == {}
    assert config[0] == {"type": "application/json", "id": CONFIG_ID}
    assert json.loads(config[1])["endpoint"] == endpoint
    assert "<" not in config[1] and ">" not in config[1] and "&" not in config[1]


def test_a_script_src_cannot_break_out_of_its_attribute() -> None:
    script_src = f'https://tokens.example.com/static/js/shapes-token.js?a=1&b="{HOSTILE}'
    html = render_snippet(
        customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT, script_src=script_src
    )
    placeholder, config, script = scripts(html)
    assert config[0]["id"] == CONFIG_ID
    assert script == ({"src": script_src, "defer": None}, "")


def test_the_header_comment_documents_accepts_and_a_usage_line_that_renders() -> None:
    source = SNIPPET.read_text(encoding="utf-8")
    header = source.split("{% endcomment %}", 1)[0]
    assert header.startswith("{% comment %}")
    accepts = header.split("Accepts:", 1)[1].split("Usage:", 1)[0]
    for parameter in (
        "endpoint",
        "script_src",
        "mode",
        "api_origins",
        "guest_client",
        "guest_endpoint",
        "dpop",
    ):
        assert f"- {parameter}: {{" in accepts, parameter

    line = usage_line()
    html = render_snippet(customer_id=CUSTOMER, secret=SECRET, source=line)
    endpoint = line.split("endpoint: '", 1)[1].split("'", 1)[0]
    assert read_config(html)["endpoint"] == endpoint
    assert read_config(html)["signature"] == hmac_sha256(CUSTOMER, SECRET)


@pytest.mark.parametrize(
    "customer_id, mode",
    [(CUSTOMER, None), (CUSTOMER, "timestamped"), (CUSTOMER, "app-proxy"), (None, None)],
)
def test_the_ready_placeholder_comes_first_and_is_plain_javascript(
    customer_id: int | None, mode: str | None
) -> None:
    html = render_snippet(
        customer_id=customer_id, secret=SECRET, endpoint=ENDPOINT, mode=mode, script_src="/s.js"
    )
    (placeholder, _), (config, _), (script, _) = scripts(html)
    # An inline classic script before the config and before shapes-token.js itself.
    assert html.lstrip().startswith("<script>")
    assert placeholder == {} and config["id"] == CONFIG_ID and script["src"] == "/s.js"
    text = scripts(html)[0][1]
    assert "window.ShapesToken = window.ShapesToken ||" in text
    assert "ready" in text and "settle" in text


@pytest.mark.parametrize("metafield", ["typed", "legacy"])
def test_the_secret_is_read_from_a_typed_or_an_old_untyped_metafield(metafield: str) -> None:
    html = render_snippet(
        customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT, metafield=metafield
    )
    assert read_config(html)["signature"] == hmac_sha256(CUSTOMER, SECRET)


def test_a_missing_metafield_renders_no_signature_rather_than_one_made_with_no_key() -> None:
    html = render_snippet(customer_id=CUSTOMER, secret=None, endpoint=ENDPOINT)
    config = read_config(html)
    assert config["customerId"] == str(CUSTOMER) and config["signature"] is None
    assert hmac_sha256(CUSTOMER, "") not in html


def test_a_guest_with_a_guest_client_gets_its_id_and_the_default_guest_endpoint() -> None:
    html = render_snippet(
        customer_id=None, secret=SECRET, endpoint=ENDPOINT, guest_client="storefront-web"
    )
    config = read_config(html)
    assert config["customerId"] is None and config["signature"] is None
    assert config["guestClientId"] == "storefront-web"
    assert config["guestEndpoint"] == f"{ISSUER}/oauth/token"


def test_a_guest_endpoint_given_is_used_as_given() -> None:
    own = "https://auth.acme.example/oauth/token"
    config = read_config(
        render_snippet(
            customer_id=None,
            secret=SECRET,
            endpoint=ENDPOINT,
            guest_client="storefront-web",
            guest_endpoint=own,
        )
    )
    assert config["guestEndpoint"] == own


def test_an_app_proxy_guest_has_no_default_guest_endpoint() -> None:
    # The proxy path is on the storefront's origin; the OAuth endpoint is not.
    config = read_config(
        render_snippet(
            customer_id=None, secret=SECRET, mode="app-proxy", guest_client="storefront-web"
        )
    )
    assert config["guestClientId"] == "storefront-web" and config["guestEndpoint"] is None


def test_a_logged_in_customer_never_gets_the_guest_client() -> None:
    config = read_config(
        render_snippet(
            customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT, guest_client="storefront-web"
        )
    )
    assert config["guestClientId"] is None and config["guestEndpoint"] is None
    assert config["signature"] == hmac_sha256(CUSTOMER, SECRET)


def test_api_origins_are_rendered_as_a_list() -> None:
    config = read_config(
        render_snippet(
            customer_id=CUSTOMER,
            secret=SECRET,
            endpoint=ENDPOINT,
            api_origins="https://api.acme.example https://loyalty.acme.example",
        )
    )
    assert config["apiOrigins"] == ["https://api.acme.example", "https://loyalty.acme.example"]


@pytest.mark.parametrize("customer_id", [CUSTOMER, None])
@pytest.mark.parametrize("dpop", [False, "false"])
def test_dpop_false_is_rendered_as_false(customer_id: int | None, dpop: bool | str) -> None:
    config = read_config(
        render_snippet(customer_id=customer_id, secret=SECRET, endpoint=ENDPOINT, dpop=dpop)
    )
    assert config["dpop"] is False


@pytest.mark.parametrize("dpop", [None, True, "true", "", "off"])
def test_dpop_is_null_unless_false_so_the_script_uses_it_where_it_can(
    dpop: bool | str | None,
) -> None:
    config = read_config(
        render_snippet(customer_id=CUSTOMER, secret=SECRET, endpoint=ENDPOINT, dpop=dpop)
    )
    assert config["dpop"] is None


def test_a_render_line_with_a_literal_false_turns_dpop_off() -> None:
    line = f"{{% render 'shapes-token', endpoint: '{ENDPOINT}', dpop: false %}}"
    config = read_config(render_snippet(customer_id=CUSTOMER, secret=SECRET, source=line))
    assert config["dpop"] is False
    assert config["signature"] == hmac_sha256(CUSTOMER, SECRET)


def test_guest_and_api_settings_cannot_break_out_of_the_config_tag() -> None:
    html = render_snippet(
        customer_id=None,
        secret=SECRET,
        endpoint=ENDPOINT,
        guest_client=HOSTILE,
        guest_endpoint=HOSTILE,
        api_origins=HOSTILE,
    )
    placeholder, config = scripts(html)
    values = json.loads(config[1])
    assert values["guestClientId"] == HOSTILE and values["guestEndpoint"] == HOSTILE
    assert "<" not in config[1]


def test_the_readme_api_origins_example_renders_its_origins() -> None:
    config = read_config(
        render_snippet(customer_id=CUSTOMER, secret=SECRET, source=example("api-origins"))
    )
    assert config["apiOrigins"] == ["https://api.acme.example", "https://tokens.example.com"]
    assert config["signature"] == hmac_sha256(CUSTOMER, SECRET)
