"""The API guide's FastAPI and Node (``jose``) examples, run as pasted against a real
token service: the development server, whose demo shop mints customer tokens and binds
them to a DPoP key when the request carries a proof (``dpop = "optional"``).

Only the issuer and the audience are replaced (the demo shop's audience is the issuer).
The FastAPI app runs in Starlette's TestClient; the Node example is written to a module
next to a link to this checkout's ``node_modules`` and driven by ``node`` in one process,
so its replay memory lives across the requests as in an API.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from service.dev.settings import DEMO_CUSTOMER, DEMO_SHOP, STATE_DIR
from tests.conftest import sign
from tests.dpop import ProofKey, b64url
from tests.examples import ROOT, example
from tests.servers import Server, start_dev_server

pytestmark = pytest.mark.e2e

#: The audience the examples name; the demo shop's tokens are for the issuer itself.
AUDIENCE = "https://api.acme.example"
#: Where the Node example's API is addressed (it never listens: ``verify`` gets the URL).
API_URL = "https://api.acme.example/v1/profile"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_dev_server(tmp_path_factory.mktemp("your-api"))
    yield server
    server.stop()


def code(name: str, server: Server) -> str:
    """The example ``name`` with this service as its issuer and its audience."""
    return example(name, service=server.url).replace(AUDIENCE, server.url)


def mint(server: Server, key: ProofKey | None = None) -> str:
    """The demo customer's token; bound to ``key`` when it signs a proof (RFC 9449 §5)."""
    # The demo shop's id secret, made on the server's first start in its directory.
    state = server.config.parent / STATE_DIR
    secret = (state / "demo-id-secret").read_text(encoding="utf-8").strip()
    endpoint = f"{server.url}/v1/shops/{DEMO_SHOP}/customer-token"
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["DPoP"] = key.proof("POST", endpoint, now=time.time())
    body = json.dumps({"id": DEMO_CUSTOMER, "signature": sign(DEMO_CUSTOMER, secret)})
    request = urllib.request.Request(endpoint, data=body.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    token: str = answer["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert ("cnf" in claims) == (key is not None), claims
    return token


def tampered(token: str) -> str:
    """``token`` with another customer in its claims and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "1002"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def test_the_fastapi_example_answers_as_the_guide_says(service: Server) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(code("verifier-fastapi", service), "docs/guides/your-api.md", "exec"), namespace)
    url = "http://testserver/v1/profile"  # as TestClient addresses the app
    token, key = mint(service), ProofKey()
    bound = mint(service, key)
    with TestClient(namespace["app"]) as client:
        answer = client.get("/v1/profile", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert answer.json() == {"customer": DEMO_CUSTOMER, "bound": False}

        anonymous = client.get("/v1/profile")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.json()["error"] == "invalid_token"

        forged = client.get("/v1/profile", headers={"Authorization": f"Bearer {tampered(token)}"})
        assert forged.status_code == 401
        # The guide's body, not FastAPI's {"detail": ...}.
        assert set(forged.json()) == {"error", "error_description"}
        assert forged.json()["error"] == "invalid_token"
        assert forged.headers["www-authenticate"].startswith('Bearer error="invalid_token"')

        proof = key.proof("GET", url, now=time.time(), token=bound)
        answer = client.get(
            "/v1/profile", headers={"Authorization": f"DPoP {bound}", "DPoP": proof}
        )
        assert answer.status_code == 200, answer.json()
        assert answer.json() == {"customer": DEMO_CUSTOMER, "bound": True}

        # A bound token as Bearer: its binding is not to be dropped (RFC 9449 §7.1).
        stolen = client.get("/v1/profile", headers={"Authorization": f"Bearer {bound}"})
        assert stolen.status_code == 401
        assert stolen.json()["error"] == "invalid_token"
        assert stolen.headers["www-authenticate"].startswith("DPoP")
        assert client.portal is not None
        client.portal.call(namespace["verifier"].aclose)


#: Runs the example's ``verify`` on each request read from stdin, in order, in one
#: process; prints what each gave: the claims, or the message it threw.
HARNESS = """\
import { readFileSync } from 'node:fs'
import { verify } from './your-api.mjs'

const answers = []
for (const { method, url, headers } of JSON.parse(readFileSync(0, 'utf8'))) {
  try {
    answers.push({ claims: await verify(method, url, headers) })
  } catch (error) {
    answers.push({ error: error.message })
  }
}
process.stdout.write(JSON.stringify(answers))
"""


def run_node(module: str, requests: list[dict[str, Any]], directory: Path) -> list[dict[str, Any]]:
    node, modules = shutil.which("node"), ROOT / "node_modules"
    assert node, "node is not installed"
    assert (modules / "jose").is_dir(), "run npm ci: jose is a devDependency"
    (directory / "node_modules").symlink_to(modules)  # so `import ... from 'jose'` resolves
    (directory / "your-api.mjs").write_text(module, encoding="utf-8")
    (directory / "harness.mjs").write_text(HARNESS, encoding="utf-8")
    result = subprocess.run(
        [node, "harness.mjs"], cwd=directory, input=json.dumps(requests),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


def test_the_jose_example_takes_bearer_and_bound_tokens_and_refuses_the_rest(
    service: Server, tmp_path: Path
) -> None:
    token, key = mint(service), ProofKey()
    bound = mint(service, key)

    def get(authorization: str, proof: str | None = None) -> dict[str, Any]:
        headers = {"authorization": authorization}
        if proof is not None:
            headers["dpop"] = proof
        return {"method": "GET", "url": API_URL, "headers": headers}

    proof = key.proof("GET", API_URL, now=time.time(), token=bound)
    elsewhere = key.proof("GET", "https://api.acme.example/v1/orders", now=time.time(), token=bound)
    thief = ProofKey().proof("GET", API_URL, now=time.time(), token=bound)
    answers = run_node(
        code("verifier-jose", service),
        [
            get(f"Bearer {token}"),
            get(f"DPoP {bound}", proof),
            get(f"DPoP {bound}", proof),  # the same proof again
            get(f"Bearer {bound}"),
            get(f"DPoP {bound}", elsewhere),
            get(f"DPoP {bound}", thief),
            get(f"DPoP {token}", key.proof("GET", API_URL, now=time.time(), token=token)),
            get(f"Bearer {tampered(token)}"),
        ],
        tmp_path,
    )
    accepted, bound_accepted, *refused = answers
    assert accepted["claims"]["sub"] == DEMO_CUSTOMER
    assert accepted["claims"]["token_use"] == "customer" and "cnf" not in accepted["claims"]
    assert bound_accepted["claims"]["cnf"] == {"jkt": key.jkt}
    assert [answer.get("error") for answer in refused] == [
        "replayed proof",
        "DPoP scheme and one proof needed",
        "proof for another request",
        "proof of another token or key",
        "an unbound token needs the Bearer scheme",
        "signature verification failed",
    ]
