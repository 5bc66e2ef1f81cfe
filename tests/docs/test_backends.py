"""The backends guide's OAuth examples, and the introspection example of the API guide,
run as pasted against a real server.

The ``clients create`` commands run first and their printed lines go into the
config, as a merchant would paste them; every ``curl`` then runs in one bash
session with only the issuer replaced by the test server's address. The Python
verifier runs against the token the JSON example got.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from tests.examples import (
    SERVICE,
    bash,
    blocks,
    example,
    json_documents,
    run_create,
    section,
    tool_env,
)
from tests.servers import Server, config_toml, free_port, start_server

pytestmark = pytest.mark.e2e


OAUTH = blocks(section("OAuth 2.0 clients", "guides/backends.md"))
INTROSPECTION = blocks(section("Ask the service: introspection", "guides/your-api.md"))
CREATE = [body for lang, body in OAUTH if lang == "sh" and body.startswith("shapestoken")]
CURLS = [body for lang, body in OAUTH + INTROSPECTION if lang == "sh" and "curl" in body]
TOML = [body for lang, body in OAUTH if lang == "toml"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("readme-oauth")
    assert len(CREATE) == 2 and len(TOML) == 1, "the backends guide's examples changed shape"
    (crm_secret, crm_lines), (gateway_secret, gateway_lines) = (
        run_create(command, directory) for command in CREATE
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = config_toml(url, extra_shop="\n".join([crm_lines, gateway_lines, TOML[0]]))
    server = start_server(directory, config, port=port)
    yield server, {"CRM_SECRET": crm_secret, "GATEWAY_SECRET": gateway_secret}
    log = server.stop()
    assert crm_secret not in log and gateway_secret not in log


@pytest.fixture(scope="module")
def outputs(setup: tuple[Server, dict[str, str]]) -> list[str]:
    """Each curl block's output, all run in one bash session as pasted."""
    server, secrets = setup
    script: list[str] = []
    for number, body in enumerate(CURLS):
        script += [f"printf '\\n::block {number}::\\n'", body.replace(SERVICE, server.url)]
    result = bash("\n".join(script), env=tool_env(**secrets))
    parts = re.split(r"\n::block \d+::\n", result.stdout)[1:]
    assert len(parts) == len(CURLS)
    return parts


def a_token(identifier: str) -> Callable[[str], None]:
    def check(output: str) -> None:
        (body,) = json_documents(output)
        assert "error" not in body, body
        assert body["identifier"] == identifier and body["token_type"] == "Bearer"

    return check


def active_client_token(output: str) -> None:
    (body,) = json_documents(output)
    # The fields the HTTP reference shows for a client's token.
    assert set(body) == set(json.loads(example("introspect-answer")))
    assert body["active"] is True and body["client_id"] == "crm-sync"
    assert body["token_use"] == "client_credentials"


def revoked(output: str) -> None:
    status, rest = output.split("\n", 1)
    assert status == "200"
    assert json_documents(rest) == [{"active": False}]


#: What each curl example must print, by a string that example contains: the first
#: marker found decides (the revocation example also gets a token and introspects it).
EXPECTED: dict[str, Callable[[str], None]] = {
    "/oauth/revoke": revoked,
    "/oauth/introspect": active_client_token,
    '--data-urlencode "client_secret=': a_token("client_credentials"),
    "/v1/oauth:token": a_token("client_credentials"),
    '-u "crm-sync:$CRM_SECRET" \\\n  -d grant_type=client_credentials\n': a_token(
        "client_credentials"
    ),
    "grant_type=implicit": a_token("implicit"),
}


def test_every_curl_example_works_as_pasted(outputs: list[str]) -> None:
    assert len(CURLS) == 6, "the examples changed shape"
    for body, output in zip(CURLS, outputs, strict=True):
        checks = [check for marker, check in EXPECTED.items() if marker in body]
        assert checks, f"no expectation for this example:\n{body}"
        checks[0](output)


def test_the_python_verifier_accepts_a_backend_token_and_refuses_others(
    setup: tuple[Server, dict[str, str]], outputs: list[str]
) -> None:
    server, _ = setup
    namespace: dict[str, Any] = {}
    exec(example("verify-backend", service=server.url), namespace)  # the docs' code, as written
    backend_from = namespace["backend_from"]
    json_example = next(i for i, body in enumerate(CURLS) if "/v1/oauth:token" in body)
    token = json_documents(outputs[json_example])[0]["access_token"]
    claims = backend_from(token)
    assert claims["client_id"] == "crm-sync" and claims["aud"] == "https://api.acme.example"
    implicit = next(i for i, body in enumerate(CURLS) if "grant_type=implicit" in body)
    with pytest.raises(jwt.InvalidTokenError):
        backend_from(json_documents(outputs[implicit])[0]["access_token"])
