"""The README's "Backends and APIs" examples, run as pasted against a real server.

The ``clients create`` commands run first and their printed lines go into the
config, as a merchant would paste them; every ``curl`` then runs in one bash
session (so ``$TOKEN`` carries over) with only the issuer replaced by the test
server's address. The Python verifier runs against the token the JSON example got.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.servers import ROOT, Server, config_toml, free_port, start_server

pytestmark = pytest.mark.e2e

README_ISSUER = "https://tokens.example.com"


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced code block as (language, body)."""
    return re.findall(r"```(\w*)\n(.*?)```", text, re.DOTALL)


SECTION = blocks(section("Backends and APIs"))
CREATE = [body for lang, body in SECTION if lang == "sh" and body.startswith("shapestoken")]
CURLS = [body for lang, body in SECTION if lang == "sh" and "curl" in body]
TOML = [body for lang, body in SECTION if lang == "toml"]
PYTHON = [body for lang, body in SECTION if lang == "python"]


def tool_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHAPESTOKEN")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def run_create(command: str, cwd: Path) -> tuple[str, str]:
    """Run a README `clients create` line; return its secret and its config lines."""
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=tool_env(), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    head, _, lines = result.stdout.partition("\n\n")
    secret = head.split("client_secret:", 1)[1].strip()
    return secret, lines


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("readme-oauth")
    assert len(CREATE) == 2 and len(TOML) == 1, "the README's examples changed shape"
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


def json_documents(text: str) -> list[dict[str, Any]]:
    """The JSON objects curl printed back to back (it adds no newline)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (index := text.find("{", index)) != -1:
        value, index = decoder.raw_decode(text, index)
        found.append(value)
    return found


@pytest.fixture(scope="module")
def outputs(setup: tuple[Server, dict[str, str]]) -> list[str]:
    """Each curl block's output, all run in one bash session as pasted."""
    server, secrets = setup
    script = ["set -euo pipefail"]
    for number, body in enumerate(CURLS):
        script += [f"printf '\\n::block {number}::\\n'", body.replace(README_ISSUER, server.url)]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], env=tool_env(**secrets), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
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
    assert body["active"] is True and body["client_id"] == "crm-sync"
    assert body["token_use"] == "client_credentials"


def revoked(output: str) -> None:
    status, rest = output.split("\n", 1)
    assert status == "200"
    assert json_documents(rest) == [{"active": False}]


#: What each curl example must print, by a string only that example contains.
EXPECTED: dict[str, Callable[[str], None]] = {
    '--data-urlencode "client_secret=': a_token("client_credentials"),
    "/v1/oauth:token": a_token("client_credentials"),
    '-u "crm-sync:$CRM_SECRET" \\\n  -d grant_type=client_credentials\n': a_token(
        "client_credentials"
    ),
    "grant_type=implicit": a_token("implicit"),
    "TOKEN=$(": active_client_token,
    "/oauth/revoke": revoked,
}


def test_every_curl_example_works_as_pasted(outputs: list[str]) -> None:
    for body, output in zip(CURLS, outputs, strict=True):
        checks = [check for marker, check in EXPECTED.items() if marker in body]
        assert len(checks) == 1, f"no single expectation for this README example:\n{body}"
        checks[0](output)


def test_the_python_verifier_accepts_a_backend_token_and_refuses_others(
    setup: tuple[Server, dict[str, str]], outputs: list[str]
) -> None:
    server, _ = setup
    (code,) = PYTHON
    namespace: dict[str, Any] = {}
    exec(code.replace(README_ISSUER, server.url), namespace)  # the README's code, as written
    backend_from = namespace["backend_from"]
    json_example = next(i for i, body in enumerate(CURLS) if "/v1/oauth:token" in body)
    token = json_documents(outputs[json_example])[0]["access_token"]
    claims = backend_from(token)
    assert claims["client_id"] == "crm-sync" and claims["aud"] == "https://api.acme.example"
    implicit = next(i for i, body in enumerate(CURLS) if "grant_type=implicit" in body)
    with pytest.raises(jwt.InvalidTokenError):
        backend_from(json_documents(outputs[implicit])[0]["access_token"])
