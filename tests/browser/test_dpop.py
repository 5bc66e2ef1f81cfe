"""DPoP end to end: the real snippet in Chromium, the real service, and a shop's own API.

The shop runs ``dpop = "optional"``: shapes-token.js binds its token to a key no
script can read out, ``authorizedFetch`` proves possession of it to ``/v1/me`` and
to a Starlette API that checks tokens with the verifier package
(``tests/dpop_api.py``, built as the API guide builds one), and the token copied
out of storage gets 401 wherever it is sent without a proof by that key.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from playwright.sync_api import BrowserContext, Page

from tests.conftest import SECRET, SHOP, sign
from tests.dpop import ProofKey
from tests.examples import example
from tests.servers import ROOT, Server, config_toml, free_port, start_server
from tests.storefront import CUSTOMER, KEY, Storefront, ready, storage, visit

pytestmark = pytest.mark.browser


@dataclass
class Deployment:
    service: Server
    api: Server  # the shop's own API (tests/dpop_api.py)
    storefront: Storefront

    @property
    def me(self) -> str:
        return f"{self.service.url}/v1/me"

    @property
    def profile(self) -> str:
        return f"{self.api.url}/v1/profile"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    storefront = Storefront(
        endpoint=f"{issuer}/v1/shops/{SHOP}/customer-token",
        script_src=f"{issuer}/static/js/shapes-token.js",
    )
    servers: list[Server] = []
    try:
        config = config_toml(issuer, origins=[storefront.origin], extra_shop='dpop = "optional"')
        servers.append(start_server(tmp_path_factory.mktemp("dpop"), config, port=port))
        # The shop's tokens carry the issuer as their audience (the config's default).
        env = {
            "API_ISSUER": issuer,
            "API_AUDIENCE": issuer,
            "API_ORIGINS": storefront.origin,
            "PYTHONPATH": str(ROOT),
        }
        servers.append(
            start_server(
                tmp_path_factory.mktemp("api"),
                "",
                env=env,
                generate_key=False,
                app="tests.dpop_api:from_environment",
                options=("--factory",),
            )
        )
        yield Deployment(servers[0], servers[1], storefront)
    finally:
        storefront.close()
        for server in servers:
            log = server.stop()
            assert "Traceback" not in log and SECRET not in log and "eyJ" not in log


def call(url: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """GET ``url`` from Python (a terminal, another machine): status, headers, JSON body."""
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def bound_page(deployment: Deployment, context: BrowserContext) -> tuple[Page, str]:
    page = visit(context, deployment.storefront.url(customer=CUSTOMER))
    outcome = ready(page)
    assert "token" in outcome, outcome
    return page, storage(page)[KEY]


FETCH = """async (url) => {
  const client = await window.ShapesToken.ready
  const response = await client.authorizedFetch(url)
  return { status: response.status, body: await response.json() }
}"""

KEYS_IN_INDEXEDDB = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('shapes-token')
  open.onerror = () => reject(open.error)
  open.onsuccess = () => {
    const all = open.result.transaction('dpop-keys').objectStore('dpop-keys').getAll()
    all.onerror = () => reject(all.error)
    all.onsuccess = () => resolve(all.result.map((pair) => ({
      type: pair.privateKey.type,
      algorithm: pair.privateKey.algorithm.namedCurve,
      extractable: pair.privateKey.extractable
    })))
  }
})"""


def test_the_snippet_binds_its_token_to_a_key_no_script_can_read(
    deployment: Deployment, context: BrowserContext
) -> None:
    page, token = bound_page(deployment, context)
    jkt = jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"]
    info = page.evaluate("() => window.ShapesToken.ready.then((client) => client.dpopInfo())")
    assert info == {"bound": True, "jkt": jkt, "extractable": False}
    assert page.evaluate(KEYS_IN_INDEXEDDB) == [
        {"type": "private", "algorithm": "P-256", "extractable": False}
    ]
    # The page's own calls prove possession: /v1/me answers.
    answer = page.evaluate(FETCH, deployment.me)
    assert answer["status"] == 200 and answer["body"]["cnf"] == {"jkt": jkt}


def test_the_theme_guides_dpop_info_example_says_the_token_is_bound(
    deployment: Deployment, context: BrowserContext
) -> None:
    page, token = bound_page(deployment, context)
    jkt = jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"]
    with page.expect_console_message(lambda message: message.type == "log") as logged:
        page.add_script_tag(content=example("dpop-info"))  # the guide's code, as written
    assert logged.value.text == f"bound to {jkt}"


def test_the_token_copied_out_of_storage_is_refused(
    deployment: Deployment, context: BrowserContext
) -> None:
    _, token = bound_page(deployment, context)
    status, headers, body = call(deployment.me, {"Authorization": f"Bearer {token}"})
    assert (status, body["error"]) == (401, "invalid_token")
    assert headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    # A proof by the thief's own key does not pass either.
    thief = ProofKey()
    proof = thief.proof("GET", deployment.me, now=time.time(), token=token)
    status, headers, body = call(deployment.me, {"Authorization": f"DPoP {token}", "DPoP": proof})
    assert (status, body["error"]) == (401, "invalid_token")
    # Nor at the shop's own API.
    status, headers, body = call(deployment.profile, {"Authorization": f"Bearer {token}"})
    assert (status, body["error"]) == (401, "invalid_token")
    assert headers["www-authenticate"].startswith("DPoP ")


def test_authorized_fetch_reaches_an_api_that_uses_the_verifier(
    deployment: Deployment, context: BrowserContext
) -> None:
    page, token = bound_page(deployment, context)
    answer = page.evaluate(FETCH, deployment.profile)
    assert answer == {
        "status": 200,
        "body": {"sub": CUSTOMER, "kind": "customer", "bound": True},
    }


def test_the_api_checks_proofs_as_rfc_9449_says(deployment: Deployment) -> None:
    # A token bound to a key held here, from the real service.
    key = ProofKey()
    endpoint = f"{deployment.service.url}/v1/shops/{SHOP}/customer-token"
    body = json.dumps({"id": "77", "signature": sign("77")}).encode()
    request = urllib.request.Request(
        endpoint,
        data=body,
        headers={
            "Content-Type": "application/json",
            "DPoP": key.proof(url=endpoint, now=time.time()),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["access_token"]

    def with_proof(proof: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {"Authorization": f"DPoP {token}"}
        if proof is not None:
            headers["DPoP"] = proof
        return call(deployment.profile, headers)

    proof = key.proof("GET", deployment.profile, now=time.time(), token=token)
    status, _, answer = with_proof(proof)
    assert (status, answer["bound"]) == (200, True)
    for refused in (
        None,  # no proof
        proof,  # replayed
        key.proof("GET", deployment.me, now=time.time(), token=token),  # another URL
    ):
        status, headers, answer = with_proof(refused)
        assert status == 401, answer
        assert headers["www-authenticate"].startswith("DPoP ")
        assert answer["error"] == "invalid_dpop_proof"
