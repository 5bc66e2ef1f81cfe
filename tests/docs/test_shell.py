"""The shell examples of the operations guide, the theme guide and the HTTP reference,
run as pasted: against one real server on a real Redis, or, for the Procfile's command,
the way the operations guide runs it on a merchant's machine.

The server's config holds the operations guide's ``state`` line (``REDIS_URL`` set to the
test's Redis), its keys are the ones the guide's ``keys`` commands make, and its shop is
the examples' ``acme.myshopify.com``. Commands run in a merchant's shell
(:func:`tool_env`) with the config and its variables exported; only the service's URL
(and the Procfile's port) is replaced.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SECRET
from tests.examples import ROOT, bash, example, json_documents, tool_env
from tests.redis_server import RedisServer
from tests.servers import (
    Server,
    call,
    config_toml,
    free_port,
    get,
    minted,
    process_tree,
    start_server,
    wait_ready,
)

pytestmark = pytest.mark.e2e

SHOP = "acme.myshopify.com"
CUSTOMER = "1234567890"
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass
class Setup:
    server: Server
    #: A merchant's shell: the config and the variables it names.
    shell: dict[str, str]
    #: What the operations guide's `keys` commands printed before the server started.
    keys_output: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("docs-shell")
    redis = RedisServer(directory / "redis").start()
    port = free_port()
    text = config_toml(
        f"http://127.0.0.1:{port}",
        extra=example("state-redis"),
        extra_shop="token_ttl = 3600\nsignature_max_age = 86400",
    )
    config = directory / "shapestoken.toml"
    config.write_text(text)
    shell = tool_env(SHAPESTOKEN_CONFIG=str(config), SHOP_ID_SECRET=SECRET, REDIS_URL=redis.url)
    keys = bash(example("keys-rotation"), cwd=directory, env=shell).stdout
    server = start_server(
        directory, text, env={"REDIS_URL": redis.url}, port=port, generate_key=False
    )
    try:
        minted(server)  # at least one request line in the log
        yield Setup(server, shell, keys)
    finally:
        log = server.stop()
        redis.stop()
    assert "Traceback" not in log and SECRET not in log


def run(setup: Setup, name: str, **variables: str) -> str:
    """The example ``name`` in the merchant's shell, against the test server."""
    env = {**setup.shell, **variables}
    return bash(example(name, service=setup.server.url), env=env).stdout


def without_the_venv_on_path() -> dict[str, str]:
    """A shell that has not activated the project's virtual environment."""
    venv_bins = {Path(sys.executable).parent.resolve(), (ROOT / ".venv" / "bin").resolve()}
    path = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() not in venv_bins
    ]
    env = tool_env()
    env["PATH"] = os.pathsep.join(path)
    env.pop("VIRTUAL_ENV", None)
    return env


def test_the_shapestoken_command_by_its_path_or_activated() -> None:
    env = without_the_venv_on_path()
    assert bash("command -v shapestoken || true", env=env).stdout == ""
    for name in ("shapestoken-by-path", "shapestoken-activated"):
        helped = bash(example(name), cwd=ROOT, env=env).stdout
        assert helped.startswith("usage: shapestoken"), name


def test_the_keys_commands_make_the_keys_the_server_publishes(setup: Setup) -> None:
    kids = re.findall(r"^created \S+\.pem \(ES256, kid (\S+)\)$", setup.keys_output, re.MULTILINE)
    assert len(kids) == 2, setup.keys_output
    first, second = kids
    listed = {
        line.split()[0]: line for line in setup.keys_output.splitlines() if "created " in line
    }
    assert listed[first].endswith("active (signs)") and "  published, signs from " in listed[second]
    status, _, jwks = get(setup.server, "/.well-known/jwks.json")
    assert status == 200 and {key["kid"] for key in jwks["keys"]} == {first, second}
    token = minted(setup.server)["access_token"]
    assert json.loads(_segment(token))["kid"] == first  # the next key only published


def _segment(token: str) -> bytes:
    head = token.split(".")[0]
    return base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))


def transcript(name: str) -> list[tuple[str, str]]:
    """A ``$ command`` transcript: each command, and the output shown under it."""
    steps: list[tuple[str, str]] = []
    for line in example(name).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], ""))
        else:
            command, output = steps[-1]
            steps[-1] = (command, output + line + "\n")
    return steps


def test_a_customer_is_blocked_and_unblocked_as_pasted(setup: Setup) -> None:
    # The HTTP reference's mint, with the signature `shapestoken sign` prints, and its
    # answer's fields; then /v1/me with that token.
    (answer,) = json_documents(run(setup, "customer-token-curl"))
    assert set(answer) == set(json.loads(example("customer-token-answer")))
    assert answer["identifier"] == "customer" and answer["token_type"] == "Bearer"
    token = answer["access_token"]
    (claims,) = json_documents(run(setup, "me-curl", TOKEN=token))
    assert claims["sub"] == CUSTOMER and claims["shop"] == SHOP

    # The operations guide's transcript, command by command, output as shown (times aside).
    (block, shown), (listing, listed), (unblock, unblocked) = transcript("block-customer")
    said = bash(block, env=setup.shell).stdout
    assert ISO_TIME.sub("<time>", said) == ISO_TIME.sub("<time>", shown)
    (refused,) = json_documents(run(setup, "customer-token-curl"))
    assert refused["error"] == "customer_blocked"
    (stale,) = json_documents(run(setup, "me-curl", TOKEN=token))
    assert stale["error"] == "invalid_token"
    said = bash(listing, env=setup.shell).stdout
    assert ISO_TIME.sub("<time>", said) == ISO_TIME.sub("<time>", listed)
    assert bash(unblock, env=setup.shell).stdout == unblocked
    (stale,) = json_documents(run(setup, "me-curl", TOKEN=token))
    assert stale["error"] == "invalid_token"  # issued before the block: still inactive
    (again,) = json_documents(run(setup, "customer-token-curl"))
    assert "access_token" in again, again


def test_a_timestamped_signature_from_the_cli_mints(setup: Setup) -> None:
    command, comment = example("sign-timestamped").splitlines()
    printed = bash(command, env=setup.shell).stdout
    # The comment's shape: `# ts=<seconds> signature=<hex>...`.
    shape = re.compile(r"ts=(\d+) signature=([0-9a-f]{64})\n")
    assert re.match(r"# ts=\d+ signature=[0-9a-f]+\.\.\.", comment)
    found = shape.fullmatch(printed)
    assert found, printed
    body = json.dumps({"id": CUSTOMER, "signature": found[2], "ts": int(found[1])}).encode()
    status, _, answer = call(
        setup.server,
        "POST",
        f"/v1/shops/{SHOP}/customer-token",
        body,
        {"Content-Type": "application/json"},
    )
    assert status == 200, answer
    # "--ts 1795491863 signs a given time"
    given = re.search(r"\((--ts (\d+)) signs a given time\)", comment)
    assert given
    printed = bash(command.replace("--ts", given[1]), env=setup.shell).stdout
    assert shape.fullmatch(printed) and printed.startswith(f"ts={given[2]} ")


def fields(line: str) -> list[str]:
    return re.findall(r" (\w+)=", line)


def test_the_documented_log_lines_have_the_servers_fields(setup: Setup) -> None:
    lines = setup.server.output().splitlines()
    (request,) = example("request-line").splitlines()
    real = next(line for line in lines if " request method=POST path=/v1/shops/" in line)
    assert fields(real) == fields(request)
    (startup,) = example("startup-line").splitlines()
    real = next(line for line in lines if " configuration loaded " in line)
    # This server has no database (`database=none`); with one, its host and whether
    # /admin is on follow, as the guide's line shows.
    assert fields(real) == [
        name for name in fields(startup) if name not in ("database_at", "admin")
    ]
    assert re.search(r" state=redis state_at=127\.0\.0\.1:\d+/0 ", real)


def test_the_procfiles_command_runs_on_your_machine(tmp_path: Path) -> None:
    # A checkout as the guide has it: the Procfile, and .venv/ made by ./scripts/serve.
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "Procfile").write_text((ROOT / "Procfile").read_text())
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = example("procfile-local-config").replace("127.0.0.1:8000", address)
    (tmp_path / "shapestoken.toml").write_text(config)
    steps = example("procfile-local-steps").replace("PORT=8000", f"PORT={port}")
    env = without_the_venv_on_path()
    log = tmp_path / "steps.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            ["bash", "-c", "set -euo pipefail\n" + steps],
            cwd=tmp_path,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the shell and the server it runs, stopped together
        )
    server = Server(f"http://{address}", process, tmp_path / "shapestoken.toml", env, log)
    try:
        wait_ready(server)
        tree = process_tree(process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in tree]
        assert any(b"granian" in command for command in commands)
        output = log.read_text()
        assert "no database configured: nothing to migrate" in output
        assert list((tmp_path / "var" / "keys").glob("*.pem"))

        # "`shapestoken sign --shop demo.myshopify.com 42` then prints a signature",
        # in the shell that exported DEMO_ID_SECRET.
        secret = _environ_value(tree[-1], "DEMO_ID_SECRET")
        signature = bash(
            "shapestoken sign --shop demo.myshopify.com 42",
            cwd=tmp_path,
            env=tool_env(DEMO_ID_SECRET=secret),
        ).stdout.strip()
        body = json.dumps({"id": "42", "signature": signature}).encode()
        status, _, answer = call(
            server,
            "POST",
            "/v1/shops/demo.myshopify.com/customer-token",
            body,
            {"Content-Type": "application/json"},
        )
        assert status == 200 and answer["identifier"] == "customer", answer
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    assert secret not in log.read_text()


def _environ_value(pid: int, name: str) -> str:
    """A variable of a running process's environment (Linux ``/proc``)."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        key, _, value = entry.decode().partition("=")
        if key == name:
            return value
    raise AssertionError(f"{name} is not in the environment of process {pid}")
